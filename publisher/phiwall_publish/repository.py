"""The IT side of updates: a TUF repository of signature bundles, on disk, servable as is.

Layout (serve the directory over HTTPS, or copy it to a share for air-gapped sites):
    metadata/<N>.root.json      every root version (clients walk the chain to rotate keys)
    metadata/root.json          copy of the newest root (give this to agents as trusted root)
    metadata/<N>.targets.json   signs the bundle's length, SHA-256 and version
    metadata/<N>.snapshot.json  pins the targets version (stops mix-and-match)
    metadata/timestamp.json     pins the snapshot version; short-lived (stops freeze attacks)
    targets/<sha256>.phiwall-bundle.json   consistent snapshots: content-addressed bundles

Versioned files are written first and `timestamp.json` last, each atomically, so a client
that reads mid-publish sees the previous consistent state. Roles and what each defends:
root (offline, threshold) delegates trust; targets signs content (tampering); snapshot and
timestamp bind versions together and expire quickly (rollback, mix-and-match, freeze).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from securesystemslib.signer import Key, Signer
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Signed,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from agent.errors import SignatureError
from agent.updates.bundle import BUNDLE_TARGET, parse_bundle, version_key
from agent.updates.errors import UpdateRejected
from phiwall_publish.keys import ROLES, KeyFileError, KeyRing
from phiwall_publish.keys import Role as RoleName

_VERSIONED = re.compile(r"^(\d+)\.root\.json$")
_SERIALIZER = JSONSerializer(compact=False)


class RepositoryError(SignatureError):
    """The repository cannot be created, read or updated as asked."""


@dataclass(frozen=True)
class Lifetimes:
    """How long each role's signature stays valid. The timestamp must be re-signed before it
    expires (daily job); agents treat expired metadata as an attack, not as a glitch."""

    root: timedelta = timedelta(days=365)
    targets: timedelta = timedelta(days=90)
    snapshot: timedelta = timedelta(days=30)
    timestamp: timedelta = timedelta(days=1)

    def of(self, role: str) -> timedelta:
        value: timedelta = getattr(self, role)
        return value


@dataclass(frozen=True)
class Thresholds:
    root: int = 2
    targets: int = 1
    snapshot: int = 1
    timestamp: int = 1

    def of(self, role: str) -> int:
        value: int = getattr(self, role)
        return value


def _expiry(now: datetime, lifetime: timedelta) -> datetime:
    return (now + lifetime).replace(microsecond=0)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sign(md: Metadata[Any], signers: Iterable[Signer], allowed: Iterable[str], threshold: int, role: str) -> None:
    """Replace the signatures of `md` with those of every available authorised key."""
    allowed_ids = set(allowed)
    md.signatures.clear()
    for signer in signers:
        if signer.public_key.keyid in allowed_ids:
            md.sign(signer, append=True)
    if len(md.signatures) < threshold:
        raise KeyFileError(
            f"{role}: {len(md.signatures)} of the {threshold} required authorised keys available",
            hint=f"add the directory holding the {role} private keys with --keys",
        )


@dataclass
class Repository:
    path: Path
    lifetimes: Lifetimes = field(default_factory=Lifetimes)

    @property
    def metadata_dir(self) -> Path:
        return self.path / "metadata"

    @property
    def targets_dir(self) -> Path:
        return self.path / "targets"

    # --- reading -----------------------------------------------------------------------

    def _load(self, name: str) -> Metadata[Any]:
        path = self.metadata_dir / name
        try:
            return Metadata.from_bytes(path.read_bytes())
        except FileNotFoundError:
            raise RepositoryError(
                f"{path} does not exist", hint="create the repository with `phiwall-publish init`"
            ) from None
        except Exception as exc:  # tuf raises several types for bad files
            raise RepositoryError(f"{path} is not valid TUF metadata: {exc}") from None

    def root_versions(self) -> list[int]:
        if not self.metadata_dir.is_dir():
            return []
        found = (_VERSIONED.match(p.name) for p in self.metadata_dir.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def root(self) -> Metadata[Root]:
        versions = self.root_versions()
        if not versions:
            raise RepositoryError(f"{self.metadata_dir} has no root metadata", hint="run `phiwall-publish init` first")
        return self._load(f"{versions[-1]}.root.json")

    def timestamp(self) -> Metadata[Timestamp]:
        return self._load("timestamp.json")

    def snapshot(self) -> Metadata[Snapshot]:
        return self._load(f"{self.timestamp().signed.snapshot_meta.version}.snapshot.json")

    def targets(self) -> Metadata[Targets]:
        meta = self.snapshot().signed.meta["targets.json"]
        return self._load(f"{meta.version}.targets.json")

    def published_version(self) -> str | None:
        target = self.targets().signed.targets.get(BUNDLE_TARGET)
        if target is None:
            return None
        custom = target.custom if isinstance(target.custom, dict) else {}  # none on an unchecked publish
        version = custom.get("version")
        return str(version) if version is not None else None

    # --- writing -----------------------------------------------------------------------

    def _write_versioned(self, md: Metadata[Any], role: str) -> bytes:
        data = md.to_bytes(_SERIALIZER)
        _atomic_write(self.metadata_dir / f"{md.signed.version}.{role}.json", data)
        return data

    def _sign_role(self, md: Metadata[Any], role: RoleName, ring: KeyRing, root: Root) -> None:
        spec = root.roles[role]
        _sign(md, ring.signers[role], spec.keyids, spec.threshold, role)

    def init(self, ring: KeyRing, thresholds: Thresholds, *, now: datetime | None = None) -> Metadata[Root]:
        """Create root v1 and empty targets/snapshot/timestamp (fails if a root exists)."""
        if self.root_versions():
            raise RepositoryError(f"{self.metadata_dir} already has a root; use `rotate-root` to change keys")
        now = now or datetime.now(UTC)
        root = Root(expires=_expiry(now, self.lifetimes.root), consistent_snapshot=True)
        for role in ROLES:
            keys = ring.public[role]
            if len(keys) < thresholds.of(role):
                raise KeyFileError(
                    f"{role}: threshold {thresholds.of(role)} but {len(keys)} public key(s) found",
                    hint=f"generate them: phiwall-publish keygen --role {role}",
                )
            for key in keys:
                root.add_key(key, role)
            root.roles[role].threshold = thresholds.of(role)
        root_md = Metadata(root)
        self._sign_role(root_md, "root", ring, root)
        self._write_root(root_md)
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        targets_md = Metadata(Targets(expires=_expiry(now, self.lifetimes.targets)))
        self._publish_chain(ring, root, targets_md, now)
        return root_md

    def _write_root(self, root_md: Metadata[Root]) -> None:
        data = self._write_versioned(root_md, "root")
        _atomic_write(self.metadata_dir / "root.json", data)

    def _publish_chain(self, ring: KeyRing, root: Root, targets_md: Metadata[Targets], now: datetime) -> None:
        """Sign and write targets, then a snapshot pinning it, then the timestamp pinning that."""
        self._sign_role(targets_md, "targets", ring, root)
        targets_bytes = self._write_versioned(targets_md, "targets")
        try:
            previous_snapshot = self.snapshot().signed.version
        except RepositoryError:
            previous_snapshot = 0
        snapshot = Snapshot(version=previous_snapshot + 1, expires=_expiry(now, self.lifetimes.snapshot))
        snapshot.meta["targets.json"] = MetaFile.from_data(targets_md.signed.version, targets_bytes, ["sha256"])
        snapshot_md = Metadata(snapshot)
        self._sign_role(snapshot_md, "snapshot", ring, root)
        snapshot_bytes = self._write_versioned(snapshot_md, "snapshot")
        self._write_timestamp(ring, root, snapshot.version, snapshot_bytes, now)

    def _write_timestamp(
        self, ring: KeyRing, root: Root, snapshot_version: int, snapshot_bytes: bytes, now: datetime
    ) -> None:
        try:
            previous = self.timestamp().signed.version
        except RepositoryError:
            previous = 0
        timestamp = Timestamp(
            version=previous + 1,
            expires=_expiry(now, self.lifetimes.timestamp),
            snapshot_meta=MetaFile.from_data(snapshot_version, snapshot_bytes, ["sha256"]),
        )
        md = Metadata(timestamp)
        self._sign_role(md, "timestamp", ring, root)
        _atomic_write(self.metadata_dir / "timestamp.json", md.to_bytes(_SERIALIZER))

    def publish(self, data: bytes, ring: KeyRing, *, now: datetime | None = None, check: bool = True) -> str:
        """Add a built bundle as the new target and sign the chain; returns its version.

        `check=False` signs whatever bytes it is given: only for tests that play a signer
        who publishes a broken or older bundle (agents must still refuse it).
        """
        now = now or datetime.now(UTC)
        if check:
            try:
                bundle = parse_bundle(data)
            except UpdateRejected as exc:
                raise RepositoryError(f"refusing to publish an invalid bundle: {exc}") from None
            version = bundle.version
            custom = {"version": version, "created": bundle.created.isoformat()}
            previous = self.published_version()
            if previous is not None and version_key(version) <= version_key(previous):
                raise RepositoryError(
                    f"bundle version {version} is not newer than the published {previous}",
                    hint="agents never go back: to undo a bad update, build the good content with a higher --version",
                )
        else:
            version, custom = "unchecked", {}
        root = self.root().signed
        target = TargetFile.from_data(BUNDLE_TARGET, data, ["sha256"])
        if custom:
            target.unrecognized_fields["custom"] = custom
        digest = target.hashes["sha256"]
        _atomic_write(self.targets_dir / f"{digest}.{BUNDLE_TARGET}", data)
        targets_md = self.targets()
        targets_md.signed.targets[BUNDLE_TARGET] = target
        targets_md.signed.version += 1
        targets_md.signed.expires = _expiry(now, self.lifetimes.targets)
        self._publish_chain(ring, root, targets_md, now)
        return version

    def refresh(self, ring: KeyRing, *, roles: Iterable[str] = ("timestamp",), now: datetime | None = None) -> None:
        """Re-sign metadata before it expires: the timestamp daily, the rest when asked."""
        now = now or datetime.now(UTC)
        root = self.root().signed
        wanted = set(roles)
        if wanted & {"targets", "snapshot"}:
            targets_md = self.targets()
            if "targets" in wanted:
                targets_md.signed.version += 1
                targets_md.signed.expires = _expiry(now, self.lifetimes.targets)
                self._publish_chain(ring, root, targets_md, now)
                return
            snapshot_md = self.snapshot()
            snapshot_md.signed.version += 1
            snapshot_md.signed.expires = _expiry(now, self.lifetimes.snapshot)
            self._sign_role(snapshot_md, "snapshot", ring, root)
            data = self._write_versioned(snapshot_md, "snapshot")
            self._write_timestamp(ring, root, snapshot_md.signed.version, data, now)
            return
        snapshot_bytes = self.metadata_dir / f"{self.timestamp().signed.snapshot_meta.version}.snapshot.json"
        self._write_timestamp(ring, root, self.snapshot().signed.version, snapshot_bytes.read_bytes(), now)

    def rotate_root(
        self,
        ring: KeyRing,
        new_keys: dict[RoleName, list[Key]],
        thresholds: Thresholds,
        *,
        now: datetime | None = None,
    ) -> Metadata[Root]:
        """Write root N+1 with new keys, signed by a threshold of the old AND the new root keys.

        Agents walk root versions one by one, so each must be signed by its predecessor's root
        keys: a single stolen root key (below threshold) cannot produce a root agents accept.
        If the targets, snapshot or timestamp keys change, the chain is re-signed with them.
        """
        now = now or datetime.now(UTC)
        old_md = self.root()
        old = old_md.signed
        new = Root(
            version=old.version + 1,
            expires=_expiry(now, self.lifetimes.root),
            consistent_snapshot=True,
        )
        for role in ROLES:
            keys = new_keys.get(role) or [old.keys[k] for k in old.roles[role].keyids]
            if len(keys) < thresholds.of(role):
                raise KeyFileError(f"{role}: threshold {thresholds.of(role)} but only {len(keys)} key(s)")
            for key in keys:
                new.add_key(key, role)
            new.roles[role].threshold = thresholds.of(role)
        new_md = Metadata(new)
        signers = {s.public_key.keyid: s for s in ring.signers["root"]}
        new_md.signatures.clear()
        for keyid in set(old.roles["root"].keyids) | set(new.roles["root"].keyids):
            if keyid in signers:
                new_md.sign(signers[keyid], append=True)
        payload = new_md.signed_bytes
        try:
            old.verify_delegate("root", payload, new_md.signatures)
        except UnsignedMetadataError:
            raise KeyFileError(
                f"the new root needs {old.roles['root'].threshold} signatures from the CURRENT root keys"
            ) from None
        try:
            new.verify_delegate("root", payload, new_md.signatures)
        except UnsignedMetadataError:
            raise KeyFileError(f"the new root needs {thresholds.root} signatures from the NEW root keys") from None
        self._write_root(new_md)
        changed = any(
            set(old.roles[r].keyids) != set(new.roles[r].keyids) for r in ("targets", "snapshot", "timestamp")
        )
        if changed:
            targets_md = self.targets()
            targets_md.signed.version += 1
            self._publish_chain(ring, new, targets_md, now)
        return new_md

    def describe(self) -> dict[str, Any]:
        """Versions and expiry of every top-level role, for `phiwall signatures status --repo`."""
        report: dict[str, Any] = {}
        roles: list[tuple[str, Signed]] = [
            ("root", self.root().signed),
            ("targets", self.targets().signed),
            ("snapshot", self.snapshot().signed),
            ("timestamp", self.timestamp().signed),
        ]
        for name, signed in roles:
            report[name] = {"version": signed.version, "expires": signed.expires.isoformat()}
        report["bundle"] = self.published_version()
        root = self.root().signed
        report["thresholds"] = {r: root.roles[r].threshold for r in ROLES}
        report["keys"] = {r: len(root.roles[r].keyids) for r in ROLES}
        return report
