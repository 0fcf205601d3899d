"""Pointing the machine's traffic at the proxy: a PAC URL in the system proxy settings.

- Windows: machine-wide WinINet settings (`ProxySettingsPerUser=0` under the Internet
  Settings policy key makes HKLM's settings apply to every user; `AutoConfigURL` is the PAC)
  and WinHTTP's default proxy (the `WinHttpSettings` blob that `netsh winhttp set proxy`
  writes; WinHTTP cannot take a PAC there, so it gets the proxy address and a loopback bypass).
  Hospitals that manage proxies by GPO or Intune set the same values by policy
  (docs/operations.md "Windows"); this module is what the service applies when no policy does.
- macOS: `networksetup -setautoproxyurl` on every network service (written, untested here).
- Linux: `installer/install.sh` (dconf, environment.d, profile.d): unchanged.
"""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Callable, Sequence

from agent.platform import OsName, current
from agent.platform.registry import HKLM, Registry, WinRegistry

INTERNET_SETTINGS = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings"
INTERNET_SETTINGS_POLICY = r"SOFTWARE\Policies\Microsoft\Windows\CurrentVersion\Internet Settings"
WINHTTP_KEY = INTERNET_SETTINGS + r"\Connections"
WINHTTP_VALUE = "WinHttpSettings"
WINHTTP_BYPASS = "<local>;127.0.0.1;localhost"

# WinHTTP settings blob: version, counter, flags (1 direct, 3 = direct + proxy), then
# length-prefixed proxy and bypass strings (what `netsh winhttp set proxy` writes).
_WINHTTP_VERSION = 0x18
_FLAG_DIRECT = 0x1
_FLAG_PROXY = 0x2


def winhttp_blob(proxy: str | None, bypass: str = WINHTTP_BYPASS) -> bytes:
    """Encode WinHTTP's default-proxy setting; `None` means direct (what `netsh winhttp reset proxy` writes)."""
    if proxy is None:
        return struct.pack("<IIIII", _WINHTTP_VERSION, 0, _FLAG_DIRECT, 0, 0)
    p, b = proxy.encode("ascii"), bypass.encode("ascii")
    return (
        struct.pack("<III", _WINHTTP_VERSION, 0, _FLAG_DIRECT | _FLAG_PROXY)
        + struct.pack("<I", len(p))
        + p
        + struct.pack("<I", len(b))
        + b
    )


def parse_winhttp_blob(blob: bytes) -> tuple[str | None, str]:
    """Decode `winhttp_blob`: (proxy or None when direct, bypass list)."""
    _version, _counter, flags, plen = struct.unpack_from("<IIII", blob)
    proxy = blob[16 : 16 + plen].decode("ascii")
    (blen,) = struct.unpack_from("<I", blob, 16 + plen)
    bypass = blob[20 + plen : 20 + plen + blen].decode("ascii")
    return (proxy if flags & _FLAG_PROXY else None), bypass


Runner = Callable[[Sequence[str]], str]


def _run(argv: Sequence[str]) -> str:
    return subprocess.run(list(argv), check=True, capture_output=True, text=True).stdout


def _macos_services(run: Runner) -> list[str]:
    lines = run(["networksetup", "-listallnetworkservices"]).splitlines()[1:]
    return [line.lstrip("*").strip() for line in lines if line.strip()]


def apply_proxy_settings(
    pac_url: str,
    proxy_address: str,
    os_name: OsName | None = None,
    *,
    registry: Registry | None = None,
    run: Runner = _run,
) -> bool:
    """Set the machine's PAC URL (and WinHTTP's proxy); False where the installer does it (Linux)."""
    os_name = os_name or current()
    if os_name == "windows":
        reg = registry or WinRegistry()
        reg.set_dword(HKLM, INTERNET_SETTINGS_POLICY, "ProxySettingsPerUser", 0)
        reg.set_string(HKLM, INTERNET_SETTINGS, "AutoConfigURL", pac_url)
        reg.set_binary(HKLM, WINHTTP_KEY, WINHTTP_VALUE, winhttp_blob(proxy_address))
        return True
    if os_name == "macos":
        for service in _macos_services(run):
            run(["networksetup", "-setautoproxyurl", service, pac_url])
        return True
    return False


def clear_proxy_settings(
    os_name: OsName | None = None, *, registry: Registry | None = None, run: Runner = _run
) -> bool:
    """Undo `apply_proxy_settings` (uninstall)."""
    os_name = os_name or current()
    if os_name == "windows":
        reg = registry or WinRegistry()
        reg.delete_value(HKLM, INTERNET_SETTINGS_POLICY, "ProxySettingsPerUser")
        reg.delete_value(HKLM, INTERNET_SETTINGS, "AutoConfigURL")
        reg.set_binary(HKLM, WINHTTP_KEY, WINHTTP_VALUE, winhttp_blob(None))
        return True
    if os_name == "macos":
        for service in _macos_services(run):
            run(["networksetup", "-setautoproxystate", service, "off"])
        return True
    return False
