"""Where a system-wide install keeps its data, and who may read it.

Linux and macOS: a 0700 directory owned by the service user (`agent.permissions` enforces the
mode on every start). Windows has no useful mode bits: the data dir (CA key, store with paths
that can name patients) gets a protected DACL granting SYSTEM and Administrators full control
and nobody else, the equivalent of `icacls /inheritance:r /grant:r SYSTEM:F Administrators:F`.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Protocol

from agent.platform import OsName, current

# Well-known SIDs: LocalSystem and BUILTIN\Administrators.
SYSTEM_SID = "S-1-5-18"
ADMINISTRATORS_SID = "S-1-5-32-544"
ADMIN_ONLY_SIDS = (SYSTEM_SID, ADMINISTRATORS_SID)


def windows_temp_dir(environ: dict[str, str] | None = None) -> Path:
    """The machine's temp folder (`%SystemRoot%\\Temp`), where the uninstall clean-up logs.

    A Windows system variable, not a PhiWall setting (those are `agent.environment`'s)."""
    env = os.environ if environ is None else environ
    return Path(env.get("SYSTEMROOT", r"C:\Windows")) / "Temp"


def system_data_dir(os_name: OsName | None = None, environ: dict[str, str] | None = None) -> Path:
    """The data dir of a machine-wide install (the service's `PHIWALL_DATA_DIR`)."""
    os_name = os_name or current()
    env = os.environ if environ is None else environ
    if os_name == "windows":
        return Path(env.get("ProgramData", r"C:\ProgramData")) / "PhiWall"
    if os_name == "macos":
        return Path("/Library/Application Support/PhiWall")
    return Path("/var/lib/phiwall")


class AclApi(Protocol):
    """The two ACL operations PhiWall needs (pywin32 on Windows; a fake in tests)."""

    def set_protected_dacl(self, path: str, sids: tuple[str, ...]) -> None: ...
    def dacl_sids(self, path: str) -> set[str]: ...


class Win32AclApi:
    """Protected DACLs through pywin32's win32security (Windows only)."""

    def set_protected_dacl(self, path: str, sids: tuple[str, ...]) -> None:
        con: Any = importlib.import_module("ntsecuritycon")
        win32security: Any = importlib.import_module("win32security")

        dacl = win32security.ACL()
        inherit = con.OBJECT_INHERIT_ACE | con.CONTAINER_INHERIT_ACE
        for sid in sids:
            dacl.AddAccessAllowedAceEx(
                win32security.ACL_REVISION, inherit, con.FILE_ALL_ACCESS, win32security.ConvertStringSidToSid(sid)
            )
        win32security.SetNamedSecurityInfo(
            path,
            win32security.SE_FILE_OBJECT,
            win32security.DACL_SECURITY_INFORMATION | win32security.PROTECTED_DACL_SECURITY_INFORMATION,
            None,
            None,
            dacl,
            None,
        )

    def dacl_sids(self, path: str) -> set[str]:
        win32security: Any = importlib.import_module("win32security")

        info = win32security.GetNamedSecurityInfo(
            path, win32security.SE_FILE_OBJECT, win32security.DACL_SECURITY_INFORMATION
        )
        dacl = info.GetSecurityDescriptorDacl()
        if dacl is None:  # a NULL DACL lets everyone in
            return {"S-1-1-0"}
        return {win32security.ConvertSidToStringSid(dacl.GetAce(i)[2]) for i in range(dacl.GetAceCount())}


def restrict_to_admins(path: Path, os_name: OsName | None = None, acl: AclApi | None = None) -> None:
    """Make `path` readable by the service account and administrators only."""
    os_name = os_name or current()
    if os_name == "windows":
        (acl or Win32AclApi()).set_protected_dacl(str(path), ADMIN_ONLY_SIDS)
    else:
        os.chmod(path, 0o700)


def foreign_readers(path: Path, os_name: OsName | None = None, acl: AclApi | None = None) -> set[str]:
    """Who else can read `path`: SIDs beyond SYSTEM/Administrators on Windows, {"group/other"} on POSIX."""
    os_name = os_name or current()
    if os_name == "windows":
        return (acl or Win32AclApi()).dacl_sids(str(path)) - set(ADMIN_ONLY_SIDS)
    return {"group/other"} if path.stat().st_mode & 0o077 else set()
