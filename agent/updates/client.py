"""The agent's TUF client: fetch the newest bundle that a trusted chain of metadata vouches for.

python-tuf's ngclient does the verification (root chain with thresholds, timestamp ->
snapshot -> targets version and hash pinning, expiry, rollback checks against the metadata it
trusted before, target length and hash). This module chooses its inputs (trusted root, byte
limits, fetcher), keeps its state per trusted root, and turns its exceptions into
`UpdateRejected` codes that say which attack or fault was stopped.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tuf.api import exceptions
from tuf.api.metadata import Metadata
from tuf.api.serialization import DeserializationError
from tuf.ngclient import Updater, UpdaterConfig

from agent.updates.bundle import BUNDLE_TARGET, MAX_BUNDLE_BYTES, Bundle, parse_bundle
from agent.updates.errors import RejectCode, UpdateRejected
from agent.updates.fetch import FetchAbandoned, FetchLimits, base_urls

MAX_ROOT_BYTES = 512 << 10
MAX_TIMESTAMP_BYTES = 16 << 10
MAX_SNAPSHOT_BYTES = 256 << 10
MAX_TARGETS_BYTES = 1 << 20


@dataclass(frozen=True)
class FetchedBundle:
    data: bytes
    bundle: Bundle
    sha256: str
    expires_at: datetime  # expiry of the targets metadata that signs this bundle
    fresh_until: datetime  # expiry of the timestamp: until then the repository proved it is current


@dataclass(frozen=True)
class CurrentBundle:
    """The repository still vouches for the bundle already installed (nothing downloaded)."""

    sha256: str
    expires_at: datetime
    fresh_until: datetime


def updater_config() -> UpdaterConfig:
    return UpdaterConfig(
        max_root_rotations=64,
        max_delegations=1,
        root_max_length=MAX_ROOT_BYTES,
        timestamp_max_length=MAX_TIMESTAMP_BYTES,
        snapshot_max_length=MAX_SNAPSHOT_BYTES,
        targets_max_length=MAX_TARGETS_BYTES,
        app_user_agent="phiwall",
    )


def trust_dir(metadata_root: Path, trusted_root: bytes) -> Path:
    """TUF state per trusted root: installing another root starts from it, cleanly."""
    return metadata_root / hashlib.sha256(trusted_root).hexdigest()[:16]


_FILE = re.compile(r"(\d+\.)?(root|timestamp|snapshot|targets)\.json$")


def _which(url: str | None) -> str:
    if not url:
        return "repository file"
    name = url.rsplit("/", 1)[-1]
    return name if _FILE.search(name) else "the bundle"


def classify(exc: BaseException, url: str | None) -> UpdateRejected:
    """One code and one sentence per failure, naming the file being read."""
    what = _which(url)
    text = str(exc) or type(exc).__name__
    code: RejectCode
    if isinstance(exc, FetchAbandoned):
        code, text = "stalled", f"{text}; the bundle in force stays and the check is retried"
    elif isinstance(exc, exceptions.DownloadLengthMismatchError):
        code, text = "oversized", f"{what} exceeds its size limit ({text})"
    elif isinstance(exc, exceptions.DownloadHTTPError):
        code, text = "unreachable", f"{what}: HTTP {exc.status_code}"
    elif isinstance(exc, exceptions.DownloadError):
        code, text = "unreachable", f"{what}: {text}"
    elif isinstance(exc, exceptions.ExpiredMetadataError):
        code, text = "expired", f"{text} (a stale or frozen repository: the timestamp must be re-signed)"
    elif isinstance(exc, exceptions.UnsignedMetadataError):
        code, text = "bad-signature", f"{what} is not signed by a threshold of trusted keys ({text})"
    elif isinstance(exc, exceptions.LengthOrHashMismatchError):
        lengths = re.search(r"Observed length (\d+) does not match expected length (\d+)", text)
        if what != "the bundle":
            code, text = (
                "inconsistent",
                f"{what} is not the file newer metadata pinned: mix-and-match or tampering ({text})",
            )
        elif lengths and int(lengths.group(1)) < int(lengths.group(2)):
            code, text = "truncated", f"the bundle is truncated ({text})"
        else:
            code, text = "tampered", f"the bundle does not match its signed hash ({text})"
    elif isinstance(exc, exceptions.BadVersionNumberError):
        # ngclient's snapshot check words it backwards ("Expected targets.json version <new>, got
        # <trusted>"): say which version was offered and which one is already trusted.
        listed = re.search(r"Expected (\S+\.json) version (\d+), got (\d+)", text)
        if listed:
            role, offered, trusted = listed.groups()
            code, text = (
                "rollback",
                f"{what} is older than metadata already trusted: it lists {role} version {offered}, "
                f"but version {trusted} is already trusted",
            )
        elif "must be >=" in text or "root version" in text:
            code, text = "rollback", f"{what} is older than metadata already trusted ({text})"
        else:
            code, text = "inconsistent", f"{what} belongs to another repository state: mix-and-match ({text})"
    elif isinstance(exc, DeserializationError):
        code, text = "truncated", f"{what} is not parseable metadata (truncated or corrupt): {text}"
    elif isinstance(exc, exceptions.RepositoryError):
        code, text = "inconsistent", f"{what}: {text}"
    else:
        code, text = "unreachable", f"{what}: {type(exc).__name__}: {text}"
    return UpdateRejected(code, text)


class UpdateClient:
    """One repository, one trusted root, state kept under `metadata_root`."""

    def __init__(
        self,
        metadata_root: Path,
        repository: str,
        trusted_root: bytes,
        *,
        limits: FetchLimits | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.repository = repository
        self.trusted_root = trusted_root
        self.metadata_dir = trust_dir(metadata_root, trusted_root)
        try:
            self._metadata_url, self._targets_url, self._fetcher = base_urls(repository, limits, cancel)
        except ValueError as exc:
            raise UpdateRejected("config", str(exc)) from None

    def fetch(self, *, persist: bool = True, installed_sha256: str | None = None) -> FetchedBundle | CurrentBundle:
        """Refresh metadata and download the bundle it vouches for, or raise `UpdateRejected`.

        When the signed hash equals `installed_sha256` nothing is downloaded (`CurrentBundle`).
        `persist=False` verifies against a copy of the trusted state and leaves it untouched
        (`phiwall signatures verify`).
        """
        self.metadata_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if persist:
            return self._fetch_into(self.metadata_dir, installed_sha256)
        with tempfile.TemporaryDirectory(prefix="phiwall-verify-") as scratch:
            copy = Path(scratch) / "tuf"
            shutil.copytree(self.metadata_dir, copy, symlinks=True)
            return self._fetch_into(copy, installed_sha256)

    def _fetch_into(self, metadata_dir: Path, installed_sha256: str | None) -> FetchedBundle | CurrentBundle:
        fetcher = self._fetcher
        try:
            updater = Updater(
                metadata_dir=str(metadata_dir),
                metadata_base_url=self._metadata_url,
                target_base_url=self._targets_url,
                fetcher=fetcher,
                config=updater_config(),
                bootstrap=self.trusted_root,
            )
        except (exceptions.RepositoryError, ValueError) as exc:
            raise UpdateRejected("config", f"trusted root is not valid TUF root metadata: {exc}") from None
        try:
            updater.refresh()
            info = updater.get_targetinfo(BUNDLE_TARGET)
        except (exceptions.RepositoryError, exceptions.DownloadError) as exc:
            raise classify(exc, getattr(fetcher, "last_url", None)) from None
        if info is None:
            raise UpdateRejected("missing", f"the repository lists no {BUNDLE_TARGET}")
        if installed_sha256 is not None and info.hashes.get("sha256") == installed_sha256:
            return CurrentBundle(
                installed_sha256,
                expires_at=_expires(metadata_dir / "targets.json"),
                fresh_until=_expires(metadata_dir / "timestamp.json"),
            )
        if info.length > MAX_BUNDLE_BYTES:
            raise UpdateRejected("oversized", f"the bundle is {info.length} bytes, limit {MAX_BUNDLE_BYTES}")
        with tempfile.TemporaryDirectory(prefix="phiwall-dl-") as scratch:
            target = Path(scratch) / "bundle.json"
            try:
                updater.download_target(info, str(target))
            except (exceptions.RepositoryError, exceptions.DownloadError) as exc:
                raise classify(exc, getattr(fetcher, "last_url", None)) from None
            data = target.read_bytes()
        bundle = parse_bundle(data)
        signed_version = info.custom.get("version") if isinstance(info.custom, dict) else None
        if signed_version is not None and str(signed_version) != bundle.version:
            raise UpdateRejected(
                "inconsistent", f"targets metadata says version {signed_version}, the bundle says {bundle.version}"
            )
        return FetchedBundle(
            data,
            bundle,
            hashlib.sha256(data).hexdigest(),
            expires_at=_expires(metadata_dir / "targets.json"),
            fresh_until=_expires(metadata_dir / "timestamp.json"),
        )


def _expires(path: Path) -> datetime:
    """Expiry of metadata ngclient has just verified and persisted."""
    return Metadata.from_bytes(path.read_bytes()).signed.expires
