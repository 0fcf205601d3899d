"""Every attack on signature updates, against a real TUF repository on disk and over loopback HTTP.

Each test starts from an agent that installed bundle 1 from a genuine repository, then plays
the attacker (or a faulty publisher) and checks the agent's answer: rejected with the right
code and a clear reason, a `signature_install` row and a `signature` event recorded, and
bundle 1 still in force (pointer unchanged, `ActiveSignatures` still serving it).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from securesystemslib.signer import Signer
from sqlmodel import col, select
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot

from agent.config import Config
from agent.store import Event, SignatureInstall, Store
from agent.updates.active import load_active
from agent.updates.bundle import BUNDLE_TARGET, MAX_BUNDLE_BYTES
from agent.updates.install import StoreRecorder, UpdateOutcome, check_for_update
from agent.updates.installed import Layout, read_pointer
from phiwall_publish.keys import KeyFileError, KeyRing, generate_key
from phiwall_publish.repository import Lifetimes, Repository, Thresholds
from tests.integration.signatures.kit import (
    bundle_data,
    bundle_document,
    make_keys,
    make_repository,
    raw_bundle,
    serve,
    service,
)

V1, V2 = "2026.1.1", "2026.2.1"


@dataclass
class World:
    repo: Repository
    ring: KeyRing
    layout: Layout
    data_dir: Path
    trusted_root: bytes
    repository: str  # what the agent is configured with: a directory or an http URL
    store: Store
    recorder: StoreRecorder

    def update(self) -> UpdateOutcome:
        outcome, _ = check_for_update(self.layout, self.repository, self.trusted_root)
        self.recorder.record(outcome)
        return outcome


@pytest.fixture(params=["directory", "http"])
def world(request: pytest.FixtureRequest, tmp_path: Path, store: Store) -> Iterator[World]:
    repo, ring = make_repository(tmp_path / "it")
    repo.publish(bundle_data(V1), ring)
    data_dir = tmp_path / "agent"

    def build(repository: str) -> World:
        w = World(
            repo=repo,
            ring=ring,
            layout=Layout.for_data_dir(data_dir),
            data_dir=data_dir,
            trusted_root=(repo.metadata_dir / "1.root.json").read_bytes(),
            repository=repository,
            store=store,
            recorder=StoreRecorder(store, "agent-1"),
        )
        first = w.update()
        assert first.status == "installed", first.reason
        assert first.version == V1
        return w

    if request.param == "http":
        with serve(repo.path) as url:
            yield build(url)
    else:
        yield build(str(repo.path))


def assert_rejected(world: World, outcome: UpdateOutcome, code: str, *words: str) -> None:
    assert outcome.status == "rejected", f"accepted: {outcome}"
    assert outcome.code == code, outcome.reason
    for word in words:
        assert word in outcome.reason, outcome.reason
    assert outcome.in_force == V1
    with world.store.session() as session:
        rows = session.exec(select(SignatureInstall).order_by(col(SignatureInstall.id))).all()
        events = session.exec(select(Event).where(Event.kind == "signature").order_by(col(Event.time))).all()
    assert [r.status for r in rows] == ["active", "rejected"]
    assert rows[0].version == V1
    assert rows[1].reason.startswith(code)
    assert rows[1].reason == outcome.reason
    assert len(events) == 2
    assert "rejected" in events[-1].reason
    assert code in events[-1].reason
    assert f"still enforcing {V1}" in events[-1].reason
    assert json.loads(events[-1].details)["code"] == code
    pointer = read_pointer(world.layout)
    assert pointer is not None
    assert pointer.version == V1
    active = load_active(world.data_dir, Config())
    assert active.current().version == V1
    assert active.current().source == "bundle"
    assert active.last_error is None


def test_genuine_update_is_installed_and_recorded(world: World) -> None:
    world.repo.publish(bundle_data(V2), world.ring)
    outcome = world.update()
    assert outcome.status == "installed"
    assert outcome.version == V2
    assert world.update().status == "current"
    with world.store.session() as session:
        rows = session.exec(select(SignatureInstall).order_by(col(SignatureInstall.id))).all()
    assert [(r.version, r.status) for r in rows] == [(V1, "superseded"), (V2, "active")]
    assert load_active(world.data_dir, Config()).current().version == V2


def test_tampered_bundle(world: World) -> None:
    world.repo.publish(bundle_data(V2), world.ring)
    path = bundle_path_for(world.repo, V2)
    data = bytearray(path.read_bytes())
    index = data.index(b"api.scribe.example")
    data[index : index + 3] = b"evi"  # same length: only the hash can tell
    path.write_bytes(bytes(data))
    assert_rejected(world, world.update(), "tampered", "signed hash")


def test_truncated_bundle(world: World) -> None:
    world.repo.publish(bundle_data(V2), world.ring)
    path = bundle_path_for(world.repo, V2)
    path.write_bytes(path.read_bytes()[:100])
    assert_rejected(world, world.update(), "truncated")


def bundle_path_for(repo: Repository, version: str) -> Path:
    target = repo.targets().signed.targets[BUNDLE_TARGET]
    assert target.custom["version"] == version
    return repo.targets_dir / f"{target.hashes['sha256']}.{BUNDLE_TARGET}"


def test_truncated_metadata(world: World) -> None:
    world.repo.publish(bundle_data(V2), world.ring)
    path = world.repo.metadata_dir / "timestamp.json"
    path.write_bytes(path.read_bytes()[:200])
    assert_rejected(world, world.update(), "truncated", "timestamp.json")


def test_expired_timestamp(world: World) -> None:
    world.repo.publish(bundle_data(V2), world.ring, now=datetime.now(UTC) - timedelta(days=3))
    assert_rejected(world, world.update(), "expired", "timestamp.json is expired")


def test_rollback_to_older_metadata(world: World, tmp_path: Path) -> None:
    """The attacker kept a copy of the repository at bundle 1 and serves it after bundle 2."""
    snapshot_of_v1 = tmp_path / "copy-v1"
    shutil.copytree(world.repo.path, snapshot_of_v1)
    world.repo.publish(bundle_data(V2), world.ring)
    assert world.update().status == "installed"
    shutil.rmtree(world.repo.path)
    shutil.copytree(snapshot_of_v1, world.repo.path)
    outcome = world.update()
    assert outcome.status == "rejected", outcome.reason
    assert outcome.code == "rollback", outcome.reason
    assert "older than metadata already trusted" in outcome.reason
    assert read_pointer(world.layout).version == V2  # type: ignore[union-attr]


def test_replayed_older_bundle_signed_anew(world: World) -> None:
    """A signer (or stolen targets key) re-publishes an older bundle with fresh metadata."""
    world.repo.publish(bundle_data("2025.12.1"), world.ring, check=False)
    assert_rejected(world, world.update(), "rollback", "older than the installed")


def test_same_version_different_content(world: World) -> None:
    world.repo.publish(bundle_data(V1, services=[service("other", "api.other.example")]), world.ring, check=False)
    assert_rejected(world, world.update(), "rollback", "different content")


def test_metadata_signed_by_unknown_keys(world: World, tmp_path: Path) -> None:
    """Attacker keys re-sign the whole chain: the timestamp fails the trusted root's keys."""
    rogue = make_keys(tmp_path / "rogue")
    forged = Repository(world.repo.path)
    honest_root = world.repo.root()
    for role in ("targets", "snapshot", "timestamp"):
        md_root = honest_root.signed
        for keyid in list(md_root.roles[role].keyids):
            md_root.revoke_key(keyid, role)
        for key in rogue.public[role]:
            md_root.add_key(key, role)
    # Forge only the online roles against the rogue keys; the root stays the honest one on disk.
    targets_md = forged.targets()
    targets_md.signed.version += 1
    forged._publish_chain(rogue, md_root, targets_md, datetime.now(UTC))
    assert_rejected(world, world.update(), "bad-signature", "timestamp.json")


def test_stolen_online_keys_cannot_change_content(world: World, tmp_path: Path) -> None:
    """With the snapshot and timestamp keys (online) but not the targets key, the attacker
    signs new timestamp/snapshot around a forged targets: the targets signature fails."""
    rogue = make_keys(tmp_path / "rogue")
    forge_targets(world.repo, rogue.signers["targets"][0], world.ring)
    assert_rejected(world, world.update(), "bad-signature", "targets.json")


def forge_targets(repo: Repository, targets_signer: Signer, online: KeyRing) -> None:
    """A new targets signed by `targets_signer` (whether or not the root trusts it), wrapped in
    snapshot and timestamp signed with the genuine online keys from `online`."""
    root = repo.root().signed
    targets_md = repo.targets()
    targets_md.signed.version += 1
    targets_md.sign(targets_signer)
    data = repo._write_versioned(targets_md, "targets")
    snapshot = Snapshot(version=repo.snapshot().signed.version + 1, expires=datetime.now(UTC) + timedelta(days=1))
    snapshot.meta["targets.json"] = MetaFile.from_data(targets_md.signed.version, data, ["sha256"])
    snapshot_md = Metadata(snapshot)
    repo._sign_role(snapshot_md, "snapshot", online, root)
    snapshot_bytes = repo._write_versioned(snapshot_md, "snapshot")
    repo._write_timestamp(online, root, snapshot.version, snapshot_bytes, datetime.now(UTC))


def test_snapshot_listing_older_targets_says_which_is_which(world: World) -> None:
    """With the online keys, a mirror re-signs a snapshot that lists the targets of bundle 1
    after bundle 2's targets were trusted. The message must name the offered (older) version
    and the trusted (newer) one the right way round."""
    old_targets = world.repo.targets().signed.version
    world.repo.publish(bundle_data(V2), world.ring)
    assert world.update().status == "installed"
    trusted_targets = world.repo.targets().signed.version
    root = world.repo.root().signed
    data = (world.repo.metadata_dir / f"{old_targets}.targets.json").read_bytes()
    snapshot = Snapshot(version=world.repo.snapshot().signed.version + 1, expires=datetime.now(UTC) + timedelta(days=1))
    snapshot.meta["targets.json"] = MetaFile.from_data(old_targets, data, ["sha256"])
    snapshot_md = Metadata(snapshot)
    world.repo._sign_role(snapshot_md, "snapshot", world.ring, root)
    snapshot_bytes = world.repo._write_versioned(snapshot_md, "snapshot")
    world.repo._write_timestamp(world.ring, root, snapshot.version, snapshot_bytes, datetime.now(UTC))
    outcome = world.update()
    assert outcome.code == "rollback", outcome.reason
    assert (
        f"lists targets.json version {old_targets}, but version {trusted_targets} is already trusted" in outcome.reason
    ), outcome.reason
    assert read_pointer(world.layout).version == V2  # type: ignore[union-attr]


def test_single_compromised_root_key_under_threshold_two(world: World, tmp_path: Path) -> None:
    """One stolen root key (threshold 2) signs a new root handing every role to the attacker."""
    rogue = make_keys(tmp_path / "rogue")
    stolen = world.ring.signers["root"][0]
    old = world.repo.root().signed
    evil = Root(version=old.version + 1, expires=datetime.now(UTC) + timedelta(days=30), consistent_snapshot=True)
    for role in ("root", "targets", "snapshot", "timestamp"):
        for key in rogue.public[role]:
            evil.add_key(key, role)
        evil.roles[role].threshold = 1
    evil_md = Metadata(evil)
    evil_md.sign(stolen, append=True)
    evil_md.sign(rogue.signers["root"][0], append=True)
    (world.repo.metadata_dir / "2.root.json").write_bytes(evil_md.to_bytes())
    assert_rejected(world, world.update(), "bad-signature", "2.root.json")

    # The repository tool refuses to produce such a root at all.
    partial = KeyRing(public=world.ring.public, signers={**world.ring.signers, "root": [stolen]})
    (world.repo.metadata_dir / "2.root.json").unlink()
    with pytest.raises(KeyFileError, match="CURRENT root keys"):
        world.repo.rotate_root(partial, {"root": rogue.public["root"]}, Thresholds(root=1))


def test_mix_and_match_targets_from_another_version(world: World) -> None:
    before = world.repo.targets().signed.version
    world.repo.publish(bundle_data(V2), world.ring)
    current = world.repo.targets().signed.version
    older = (world.repo.metadata_dir / f"{before}.targets.json").read_bytes()
    (world.repo.metadata_dir / f"{current}.targets.json").write_bytes(older)
    assert_rejected(world, world.update(), "inconsistent", f"{current}.targets.json")


def test_mix_and_match_snapshot_from_another_version(world: World) -> None:
    before = world.repo.snapshot().signed.version
    world.repo.publish(bundle_data(V2), world.ring)
    current = world.repo.snapshot().signed.version
    older = (world.repo.metadata_dir / f"{before}.snapshot.json").read_bytes()
    (world.repo.metadata_dir / f"{current}.snapshot.json").write_bytes(older)
    assert_rejected(world, world.update(), "inconsistent", "snapshot.json")


def test_oversized_bundle_is_not_downloaded(world: World) -> None:
    document = bundle_document(V2)
    document["padding"] = "x" * (MAX_BUNDLE_BYTES + 1)
    world.repo.publish(raw_bundle(document), world.ring, check=False)
    assert_rejected(world, world.update(), "oversized", f"limit {MAX_BUNDLE_BYTES}")


def test_oversized_metadata(world: World) -> None:
    world.repo.publish(bundle_data(V2), world.ring)
    path = world.repo.metadata_dir / "timestamp.json"
    path.write_bytes(path.read_bytes() + b" " * (20 << 10))
    assert_rejected(world, world.update(), "oversized", "timestamp.json")


def test_oversized_model_inside_a_signed_bundle(world: World) -> None:
    document = bundle_document(V2)
    document["models"] = {"shadow_classifier": {"weights": [0.125] * 400_000}}
    world.repo.publish(raw_bundle(document), world.ring, check=False)
    assert_rejected(world, world.update(), "schema", "shadow_classifier", "limit")


def test_schema_invalid_bundle(world: World) -> None:
    document = bundle_document(V2)
    document["catalog"]["services"][0]["category"] = "mind-reading"
    world.repo.publish(raw_bundle(document), world.ring, check=False)
    assert_rejected(world, world.update(), "schema", "service 'scribe'", "category")


def test_catalog_entry_with_invalid_host_pattern(world: World) -> None:
    document = bundle_document(V2, services=[service("scribe", "api.scribe.example", hosts=["api.*.*"])])
    world.repo.publish(raw_bundle(document), world.ring, check=False)
    assert_rejected(world, world.update(), "schema", "service 'scribe'", "invalid host pattern 'api.*.*'")


def test_bundle_that_is_not_json(world: World) -> None:
    world.repo.publish(b"\x1f\x8b\x08 not a bundle", world.ring, check=False)
    assert_rejected(world, world.update(), "schema", "not valid JSON")


def test_repository_gone(world: World) -> None:
    shutil.rmtree(world.repo.metadata_dir)
    assert_rejected(world, world.update(), "unreachable", "timestamp.json")


def test_freeze_attack_old_timestamp_served_forever(tmp_path: Path, store: Store) -> None:
    """A mirror keeps serving the state the agent already has; once the (short) timestamp
    expires the agent reports it instead of trusting a repository that stopped moving."""
    repo, ring = make_repository(tmp_path / "it", lifetimes=Lifetimes(timestamp=timedelta(seconds=3)))
    repo.publish(bundle_data(V1), ring)
    root = (repo.metadata_dir / "1.root.json").read_bytes()
    with serve(repo.path) as url:
        agents = {
            name: (Layout.for_data_dir(tmp_path / name), repository)
            for name, repository in (("dir-agent", str(repo.path)), ("http-agent", url))
        }
        for layout, repository in agents.values():
            assert check_for_update(layout, repository, root)[0].status == "installed"
        # The genuine publisher moves on elsewhere; the frozen mirror never changes.
        expires = repo.timestamp().signed.expires
        time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.2)
        for layout, repository in agents.values():
            outcome, _ = check_for_update(layout, repository, root)
            assert outcome.status == "rejected", outcome.reason
            assert outcome.code == "expired", outcome.reason
            assert read_pointer(layout).version == V1  # type: ignore[union-attr]


def test_root_rotation_is_followed_and_old_keys_revoked(tmp_path: Path, store: Store) -> None:
    repo, ring = make_repository(tmp_path / "it")
    repo.publish(bundle_data(V1), ring)
    root_v1 = (repo.metadata_dir / "1.root.json").read_bytes()
    layout = Layout.for_data_dir(tmp_path / "agent")
    assert check_for_update(layout, str(repo.path), root_v1)[0].status == "installed"
    new_dir = tmp_path / "new-keys"
    for index in (1, 2, 3):
        generate_key(new_dir, "root", f"root-{index}")
    generate_key(new_dir, "targets", "targets-1")
    new_ring = KeyRing.load([new_dir])
    both = KeyRing.load([tmp_path / "it" / "keys", new_dir])
    repo.rotate_root(both, {"root": new_ring.public["root"], "targets": new_ring.public["targets"]}, Thresholds(root=2))
    merged = KeyRing.load([new_dir, tmp_path / "it" / "keys"])
    repo.publish(bundle_data(V2), merged)
    outcome, _ = check_for_update(layout, str(repo.path), root_v1)
    assert outcome.status == "installed", outcome.reason
    assert outcome.version == V2, outcome.reason
    # The old targets key is revoked: content it signs is refused from now on.
    old_only = KeyRing.load([tmp_path / "it" / "keys"])
    forge_targets(repo, old_only.signers["targets"][0], old_only)
    outcome, _ = check_for_update(layout, str(repo.path), root_v1)
    assert outcome.status == "rejected", outcome.reason
    assert outcome.code == "bad-signature", outcome.reason
