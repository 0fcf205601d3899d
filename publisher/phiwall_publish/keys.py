"""Signing keys for the signature repository: Ed25519, one directory per TUF role.

Layout of a key directory (keep root keys offline, on separate media per key holder):
    <dir>/<role>/<name>.pem        private key, PKCS#8 PEM, mode 0600, optionally encrypted
    <dir>/<role>/<name>.pub.json   public key (securesystemslib format, with its keyid)

Several directories can be combined (`KeyRing.load([usb1, usb2, server])`) so that root key
holders bring their own media and the online server holds only the timestamp key.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from securesystemslib.signer import CryptoSigner, Key, SSlibKey

from agent.errors import SignatureError
from agent.paths import write_private_file

Role = Literal["root", "targets", "snapshot", "timestamp"]
ROLES: tuple[Role, ...] = ("root", "targets", "snapshot", "timestamp")
PASSPHRASE_ENV = "PHIWALL_KEY_PASSPHRASE"  # noqa: S105 - the name of a variable, not a secret


class KeyFileError(SignatureError):
    """A key file is missing, unreadable, has unsafe permissions or the wrong passphrase."""


def generate_key(key_dir: Path, role: Role, name: str, *, passphrase: bytes | None = None) -> SSlibKey:
    """Create one Ed25519 key pair for `role`; the private half is written 0600 and never printed."""
    role_dir = key_dir / role
    private_path = role_dir / f"{name}.pem"
    if private_path.exists():
        raise KeyFileError(f"{private_path} already exists; refusing to overwrite a key")
    private = Ed25519PrivateKey.generate()
    encryption = BestAvailableEncryption(passphrase) if passphrase else NoEncryption()
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)
    write_private_file(private_path, pem)
    public = SSlibKey.from_crypto(private.public_key())
    (role_dir / f"{name}.pub.json").write_text(json.dumps(public_key_document(public), indent=2) + "\n")
    return public


def public_key_document(key: Key) -> dict[str, object]:
    return {"keyid": key.keyid, **key.to_dict()}


def read_public_key(path: Path) -> SSlibKey:
    try:
        document = json.loads(path.read_text())
        keyid = document.pop("keyid")
        key = Key.from_dict(keyid, document)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a public key file ({exc})") from None
    if not isinstance(key, SSlibKey):
        raise KeyFileError(f"{path}: unsupported key type {key.keytype}")
    return key


def _check_private_mode(path: Path) -> None:
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise KeyFileError(
            f"{path} is readable by other users (mode {path.stat().st_mode & 0o777:o})", hint=f"chmod 600 {path}"
        )


def load_signer(private_path: Path, *, passphrase: bytes | None = None) -> CryptoSigner:
    _check_private_mode(private_path)
    public_path = private_path.with_name(private_path.name.removesuffix(".pem") + ".pub.json")
    try:
        pem = private_path.read_bytes()
        encrypted = b"ENCRYPTED" in pem.split(b"\n", 1)[0]
        if encrypted and passphrase is None and sys.stdin.isatty():
            # Each key holder types their own passphrase at the ceremony.
            passphrase = getpass.getpass(f"passphrase for {private_path}: ").encode()
        private = load_pem_private_key(pem, password=passphrase if encrypted else None)
    except TypeError:
        raise KeyFileError(
            f"{private_path} is encrypted", hint=f"set {PASSPHRASE_ENV} or pass --passphrase-env"
        ) from None
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot load {private_path}: {exc}") from None
    public = read_public_key(public_path) if public_path.exists() else None
    try:
        return CryptoSigner(private, public)
    except ValueError as exc:
        raise KeyFileError(f"{private_path}: {exc}") from None


@dataclass
class KeyRing:
    """Public keys and whatever private keys are at hand, per role."""

    public: dict[Role, list[SSlibKey]] = field(default_factory=lambda: {r: [] for r in ROLES})
    signers: dict[Role, list[CryptoSigner]] = field(default_factory=lambda: {r: [] for r in ROLES})

    @classmethod
    def load(cls, key_dirs: Iterable[Path], *, passphrase: bytes | None = None) -> KeyRing:
        ring = cls()
        seen: set[tuple[str, str]] = set()
        for key_dir in key_dirs:
            if not key_dir.is_dir():
                raise KeyFileError(f"key directory {key_dir} does not exist")
            for role in ROLES:
                role_dir = key_dir / role
                if not role_dir.is_dir():
                    continue
                for pub in sorted(role_dir.glob("*.pub.json")):
                    key = read_public_key(pub)
                    if (role, key.keyid) not in seen:
                        seen.add((role, key.keyid))
                        ring.public[role].append(key)
                for pem in sorted(role_dir.glob("*.pem")):
                    signer = load_signer(pem, passphrase=passphrase)
                    keyid = signer.public_key.keyid
                    if all(s.public_key.keyid != keyid for s in ring.signers[role]):
                        ring.signers[role].append(signer)
                    if (role, keyid) not in seen:
                        seen.add((role, keyid))
                        ring.public[role].append(signer.public_key)
        return ring
