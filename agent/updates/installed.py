"""Installed bundles on disk, and the pointer that says which one is in force.

Layout under `<data_dir>/signatures/`:
    tuf/                  trusted TUF metadata (the updater's state: versions seen, root history)
    bundles/<version>-<sha12>/bundle.json   each verified bundle, written once, never modified
    current.json          the pointer: which bundle is in force (+ sha256, expiry, source)

Atomicity: a bundle is written into a temporary directory, fsynced, renamed into place, then
the pointer is replaced with `os.replace` (atomic on POSIX and Windows). A reader therefore
sees the old pointer (old bundle, still on disk) or the new one (complete bundle), never a
half-written bundle and never nothing. Readers re-check the SHA-256 the pointer records.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from agent.store import utcnow
from agent.updates.bundle import MAX_BUNDLE_BYTES, Bundle, parse_bundle
from agent.updates.errors import UpdateRejected

log = logging.getLogger(__name__)

KEEP_BUNDLES = 3
MAX_POINTER_BYTES = 64 << 10


@dataclass(frozen=True)
class Layout:
    root: Path

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> Layout:
        return cls(data_dir / "signatures")

    @property
    def metadata_dir(self) -> Path:
        return self.root / "tuf"

    @property
    def bundles_dir(self) -> Path:
        return self.root / "bundles"

    @property
    def pointer(self) -> Path:
        return self.root / "current.json"

    @property
    def work_dir(self) -> Path:
        return self.root / "tmp"


class Pointer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bundle: str  # directory name under bundles/
    version: str
    sha256: str
    source: str = ""
    installed_at: datetime
    expires_at: datetime | None = None


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":  # pragma: no cover - directories cannot be fsynced on Windows
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def read_pointer(layout: Layout) -> Pointer | None:
    try:
        raw = layout.pointer.read_bytes()[:MAX_POINTER_BYTES]
    except FileNotFoundError:
        return None
    try:
        return Pointer.model_validate_json(raw)
    except ValidationError as exc:
        raise UpdateRejected("truncated", f"{layout.pointer} is unreadable: {exc.error_count()} problem(s)") from None


def pointer_stamp(layout: Layout) -> tuple[int, int, int] | None:
    """A cheap change detector (one stat): inode, mtime and size of the pointer file."""
    try:
        st = os.stat(layout.pointer)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def load_installed(layout: Layout, pointer: Pointer | None = None) -> tuple[Pointer, Bundle] | None:
    """The bundle in force, re-verified against the hash the pointer recorded; None if none."""
    pointer = pointer or read_pointer(layout)
    if pointer is None:
        return None
    path = layout.bundles_dir / pointer.bundle / "bundle.json"
    if Path(pointer.bundle).name != pointer.bundle:
        raise UpdateRejected("tampered", f"pointer names {pointer.bundle!r}, not a bundle directory")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BUNDLE_BYTES + 1)
    except OSError as exc:
        raise UpdateRejected("missing", f"installed bundle {path} is unreadable: {exc.strerror}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != pointer.sha256:
        raise UpdateRejected("tampered", f"installed bundle {path} changed on disk (sha256 {digest[:12]})")
    return pointer, parse_bundle(data)


def _holds(path: Path, digest: str) -> bool:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == digest
    except OSError:
        return False


def install(layout: Layout, data: bytes, bundle: Bundle, *, source: str, expires_at: datetime | None) -> Pointer:
    """Write `data` (already verified and parsed as `bundle`) and make it the bundle in force."""
    layout.bundles_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest = hashlib.sha256(data).hexdigest()
    name = f"{bundle.version}-{digest[:12]}"
    final = layout.bundles_dir / name
    if not _holds(final / "bundle.json", digest):  # absent, or damaged on disk: write it afresh
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=layout.bundles_dir))
        try:
            _write_synced(staging / "bundle.json", data)
            _fsync_dir(staging)
            if final.exists():  # a half-removed earlier attempt: replace it
                shutil.rmtree(final)
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _fsync_dir(layout.bundles_dir)
    pointer = Pointer(
        bundle=name,
        version=bundle.version,
        sha256=digest,
        source=source,
        installed_at=utcnow(),
        expires_at=expires_at,
    )
    tmp = layout.root / f".current.{os.getpid()}.tmp"
    _write_synced(tmp, pointer.model_dump_json(indent=2).encode())
    os.replace(tmp, layout.pointer)
    _fsync_dir(layout.root)
    collect_garbage(layout, keep=pointer.bundle)
    return pointer


def collect_garbage(layout: Layout, *, keep: str, retain: int = KEEP_BUNDLES) -> None:
    """Remove old bundle directories, never the one in force; keep a few for forensics."""
    if not layout.bundles_dir.is_dir():
        return
    entries = [p for p in layout.bundles_dir.iterdir() if p.is_dir()]
    for stale in [p for p in entries if p.name.startswith(".staging-")]:
        shutil.rmtree(stale, ignore_errors=True)
    bundles = sorted(
        (p for p in entries if not p.name.startswith(".")), key=lambda p: p.stat().st_mtime_ns, reverse=True
    )
    for old in bundles[retain:]:
        if old.name != keep:
            with contextlib.suppress(OSError):
                shutil.rmtree(old)


def describe(pointer: Pointer) -> dict[str, str | None]:
    return json.loads(pointer.model_dump_json())  # type: ignore[no-any-return]
