"""Trusting the proxy CA machine-wide: the OS trust store, and Firefox's enterprise policy.

- Windows: the LocalMachine ROOT store through crypt32 (what Chrome, Edge and WinHTTP use);
  Firefox reads it when its `Certificates/ImportEnterpriseRoots` policy is set (registry).
- macOS: the System keychain through `security add-trusted-cert` (written, untested here).
- Linux: `installer/install.sh` (update-ca-certificates and NSS databases): unchanged.

The certificate is made on the machine at first start (`agent.proxy.ca.ensure_ca`); it is
never shipped in an installer. Only the certificate is added; the key stays in the data dir.
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from agent.platform import OsName, current
from agent.platform.registry import HKLM, Registry, WinRegistry

FIREFOX_POLICY_KEY = r"SOFTWARE\Policies\Mozilla\Firefox\Certificates"
MACOS_KEYCHAIN = "/Library/Keychains/System.keychain"

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)


def pem_to_der(pem: bytes) -> bytes:
    match = _PEM.search(pem)
    if match is None:
        raise ValueError("no PEM certificate found")
    return base64.b64decode(b"".join(match.group(1).split()))


def _last_error() -> int:
    ctypes_any: Any = ctypes
    return int(ctypes_any.get_last_error())


class RootStore(Protocol):
    """The machine ROOT store, as far as PhiWall uses it (crypt32 on Windows; a fake in tests)."""

    def add(self, der: bytes) -> None: ...
    def remove(self, der: bytes) -> bool: ...
    def contains(self, der: bytes) -> bool: ...


class Crypt32RootStore:
    """LocalMachine\\ROOT through crypt32 (ctypes; no certutil, which Wine stubs).

    The store is opened as the *registry* store (`CERT_STORE_PROV_SYSTEM_REGISTRY_W`,
    HKLM\\SOFTWARE\\Microsoft\\SystemCertificates\\ROOT), the physical store that an add to
    the LocalMachine ROOT system store writes to anyway, not as the system store
    (`CERT_STORE_PROV_SYSTEM_W`), which wraps it in a collection. A registry store writes
    deletions to the registry when it is closed, and Wine 8's collection keeps a reference
    after `CertDeleteCertificateFromStore` (its `CertCloseStore` leaves it at ref=1): through
    the system store the delete returned TRUE and the certificate stayed in the registry,
    which left PhiWall's CA trusted after `msiexec /x` under Wine. `remove` checks in a fresh
    store that the certificate is gone.
    """

    CERT_STORE_PROV_SYSTEM_REGISTRY_W = 13
    CERT_SYSTEM_STORE_LOCAL_MACHINE = 0x00020000
    X509_ASN_ENCODING = 0x1
    PKCS_7_ASN_ENCODING = 0x10000
    CERT_STORE_ADD_REPLACE_EXISTING = 3
    CERT_FIND_SHA1_HASH = 0x10000

    def __init__(self) -> None:
        ctypes_any: Any = ctypes
        self._crypt32: Any = ctypes_any.WinDLL("crypt32", use_last_error=True)
        c = self._crypt32
        c.CertOpenStore.restype = ctypes.c_void_p
        c.CertOpenStore.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_uint, ctypes.c_wchar_p]
        c.CertFindCertificateInStore.restype = ctypes.c_void_p
        c.CertFindCertificateInStore.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        c.CertAddEncodedCertificateToStore.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint,
            ctypes.c_char_p,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
        ]
        c.CertDeleteCertificateFromStore.argtypes = [ctypes.c_void_p]
        c.CertCloseStore.argtypes = [ctypes.c_void_p, ctypes.c_uint]

    def _open(self) -> int:
        flags = self.CERT_SYSTEM_STORE_LOCAL_MACHINE
        store = self._crypt32.CertOpenStore(self.CERT_STORE_PROV_SYSTEM_REGISTRY_W, 0, None, flags, "ROOT")
        if not store:
            raise OSError(_last_error(), "CertOpenStore(LocalMachine\\ROOT) failed")
        return int(store)

    def _find(self, store: int, der: bytes) -> int | None:
        digest = hashlib.sha1(der).digest()  # noqa: S324 - the store's own lookup key
        buf = ctypes.create_string_buffer(digest)

        class Blob(ctypes.Structure):
            _fields_ = [("cbData", ctypes.c_uint), ("pbData", ctypes.c_void_p)]

        blob = Blob(len(digest), ctypes.cast(buf, ctypes.c_void_p))
        enc = self.X509_ASN_ENCODING | self.PKCS_7_ASN_ENCODING
        found = self._crypt32.CertFindCertificateInStore(
            store, enc, 0, self.CERT_FIND_SHA1_HASH, ctypes.byref(blob), None
        )
        return int(found) if found else None

    def add(self, der: bytes) -> None:
        store = self._open()
        try:
            ok = self._crypt32.CertAddEncodedCertificateToStore(
                store, self.X509_ASN_ENCODING, der, len(der), self.CERT_STORE_ADD_REPLACE_EXISTING, None
            )
            if not ok:
                raise OSError(_last_error(), "CertAddEncodedCertificateToStore failed")
        finally:
            self._crypt32.CertCloseStore(store, 0)

    def remove(self, der: bytes) -> bool:
        """True if the certificate was there and is gone; OSError if it stays (checked after close)."""
        store = self._open()
        try:
            context = self._find(store, der)
            if context is None:
                return False
            if not self._crypt32.CertDeleteCertificateFromStore(context):  # frees the context
                raise OSError(_last_error(), "CertDeleteCertificateFromStore failed")
        finally:
            self._crypt32.CertCloseStore(store, 0)  # the registry store writes the deletion here
        if self.contains(der):
            raise OSError(0, "the certificate is still in LocalMachine\\ROOT after its deletion")
        return True

    def contains(self, der: bytes) -> bool:
        store = self._open()
        try:
            context = self._find(store, der)
            if context is not None:
                self._crypt32.CertFreeCertificateContext(ctypes.c_void_p(context))
            return context is not None
        finally:
            self._crypt32.CertCloseStore(store, 0)


Runner = Callable[[Sequence[str]], object]


def _run(argv: Sequence[str]) -> object:
    return subprocess.run(list(argv), check=True, capture_output=True)


def trust_ca(
    cert_file: Path,
    os_name: OsName | None = None,
    *,
    store: RootStore | None = None,
    registry: Registry | None = None,
    run: Runner = _run,
) -> bool:
    """Add the CA certificate to the machine trust store; False where the installer does it (Linux)."""
    os_name = os_name or current()
    if os_name == "windows":
        (store or Crypt32RootStore()).add(pem_to_der(cert_file.read_bytes()))
        (registry or WinRegistry()).set_dword(HKLM, FIREFOX_POLICY_KEY, "ImportEnterpriseRoots", 1)
        return True
    if os_name == "macos":
        run(["security", "add-trusted-cert", "-d", "-r", "trustRoot", "-k", MACOS_KEYCHAIN, str(cert_file)])
        return True
    return False


def untrust_ca(
    cert_file: Path,
    os_name: OsName | None = None,
    *,
    store: RootStore | None = None,
    registry: Registry | None = None,
    run: Runner = _run,
) -> bool:
    """Remove what `trust_ca` added (uninstall). True if something was removed."""
    os_name = os_name or current()
    if os_name == "windows":
        removed = (store or Crypt32RootStore()).remove(pem_to_der(cert_file.read_bytes()))
        (registry or WinRegistry()).delete_value(HKLM, FIREFOX_POLICY_KEY, "ImportEnterpriseRoots")
        return removed
    if os_name == "macos":
        run(["security", "remove-trusted-cert", "-d", str(cert_file)])
        return True
    return False
