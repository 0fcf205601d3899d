"""Doctor checks for signatures: what an operator sees in `phiwall doctor`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.checkup import DoctorContext, load_checks
from agent.config import Config
from agent.updates.doctor import check_catalog, check_signature_updates
from agent.updates.install import check_for_update
from agent.updates.installed import Layout
from tests.integration.signatures.kit import bundle_data, make_repository


def context(tmp_path: Path, **signatures: object) -> DoctorContext:
    config = Config.model_validate({"agent": {"data_dir": str(tmp_path / "agent")}, "signatures": signatures})
    return DoctorContext(config=config, store_url=f"sqlite:///{tmp_path / 'x.db'}")


def test_checks_are_registered() -> None:
    assert check_catalog in load_checks()
    assert check_signature_updates in load_checks()


def test_defaults_are_healthy(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    catalog = check_catalog(ctx)
    assert catalog.level == "ok"
    assert "(shipped)" in catalog.detail
    updates = check_signature_updates(ctx)
    assert updates.level == "ok"
    assert "trusted root root.json v1 present" in updates.detail


def test_broken_pinned_catalog_fails(tmp_path: Path) -> None:
    pinned = tmp_path / "broken.yaml"
    pinned.write_text("services: [{id: x, hosts: ['*.*']}]\n")
    finding = check_catalog(context(tmp_path, catalog=str(pinned)))
    assert finding.level == "fail"
    assert "pinned catalog does not load" in finding.detail


def test_repository_states(tmp_path: Path) -> None:
    repo, ring = make_repository(tmp_path / "it")
    repo.publish(bundle_data("2026.1.1"), ring)
    root = repo.metadata_dir / "1.root.json"
    ctx = context(tmp_path, repository=str(repo.path), trusted_root=str(root))
    missing = check_signature_updates(ctx)
    assert missing.level == "warn"
    assert "no bundle installed" in missing.detail
    layout = Layout.for_data_dir(tmp_path / "agent")
    assert check_for_update(layout, str(repo.path), root.read_bytes())[0].status == "installed"
    healthy = check_signature_updates(ctx)
    assert healthy.level == "ok", healthy.detail
    assert "bundle 2026.1.1" in healthy.detail
    repo.publish(bundle_data("2026.1.2"), ring, now=datetime.now(UTC) - timedelta(days=3))
    assert check_for_update(layout, str(repo.path), root.read_bytes())[0].code == "expired"
    stale = check_signature_updates(ctx)
    assert stale.level == "warn"
    assert "expired" in stale.detail
    broken = context(tmp_path, repository=str(repo.path), trusted_root=str(tmp_path / "nope.json"))
    finding = check_signature_updates(broken)
    assert finding.level == "fail"
    assert "unreadable" in finding.detail
