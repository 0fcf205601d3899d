"""The update component of `phiwall run`, and hot reload in another process (the proxy)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from agent.components import AgentContext
from agent.config import Config
from agent.store import Event, EventWriter, SignatureInstall, Store
from agent.updates.component import SignatureUpdates, build
from agent.updates.installed import Layout
from tests.integration.signatures.kit import bundle_data, make_repository

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def context(tmp_path: Path, store: Store) -> Iterator[tuple[AgentContext, object, object]]:
    repo, ring = make_repository(tmp_path / "it")
    repo.publish(bundle_data("2026.1.1"), ring)
    config = Config.model_validate(
        {
            "agent": {"data_dir": str(tmp_path / "agent")},
            "signatures": {"repository": str(repo.path), "trusted_root": str(repo.metadata_dir / "1.root.json")},
        }
    )
    (tmp_path / "agent").mkdir()
    events = EventWriter(store)
    events.start()
    ctx = AgentContext(
        config=config, store=store, agent_id="agent-7", data_dir=tmp_path / "agent", listen="127.0.0.1:0", events=events
    )
    yield ctx, repo, ring
    events.stop()


def rows(store: Store) -> list[tuple[str, str]]:
    with store.session() as session:
        found = session.exec(select(SignatureInstall).order_by(col(SignatureInstall.id))).all()
        return [(r.version, r.status) for r in found]


def test_component_installs_reloads_and_reports(context: tuple[AgentContext, object, object]) -> None:
    ctx, repo, ring = context
    component = build(ctx)
    assert component.catalog_version.endswith("(shipped)")
    component.check_now()
    assert component.catalog_version == "2026.1.1"
    assert component.health().status == "ok"
    repo.publish(bundle_data("2026.1.2"), ring)  # type: ignore[attr-defined]
    component.check_now()
    assert component.catalog_version == "2026.1.2"
    assert rows(ctx.store) == [("2026.1.1", "superseded"), ("2026.1.2", "active")]

    # A bad update: recorded once however often it is polled; 2026.1.2 stays in force.
    repo.publish(b'{"not": "a bundle"}', ring, check=False)  # type: ignore[attr-defined]
    for _ in range(3):
        outcome = component.check_now()
        assert outcome is not None
        assert outcome.status == "rejected"
    ctx.events.flush()
    assert rows(ctx.store)[-1] == ("?", "rejected")
    assert len(rows(ctx.store)) == 3
    health = component.health()
    assert health.status == "degraded"
    assert "schema" in health.message
    assert "2026.1.2" in health.message
    assert component.catalog_version == "2026.1.2"
    with ctx.store.session() as session:
        events = session.exec(select(Event).where(Event.kind == "signature")).all()
    assert [json.loads(e.details)["status"] for e in events] == ["installed", "installed", "rejected"]
    assert all(e.agent_id == "agent-7" for e in events)


def test_component_thread_polls_until_stopped(
    context: tuple[AgentContext, object, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, _, _ = context
    component = SignatureUpdates(ctx, build(ctx).active, interval=0.05)
    component.start()
    try:
        deadline = time.monotonic() + 10
        while component.catalog_version != "2026.1.1" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert component.catalog_version == "2026.1.1"
    finally:
        component.stop()
    assert component._thread is not None
    assert not component._thread.is_alive()


def test_without_a_repository_the_component_reports_the_shipped_catalog(tmp_path: Path, store: Store) -> None:
    ctx = AgentContext(
        config=Config(), store=store, agent_id="a", data_dir=tmp_path, listen="127.0.0.1:0", events=EventWriter(store)
    )
    component = build(ctx)
    component.start()
    assert component.check_now() is None
    health = component.health()
    assert health.status == "ok"
    assert "no repository configured" in health.message
    component.stop()


READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from agent.config import Config
    from agent.updates.active import load_active
    active = load_active(Path(sys.argv[1]), Config())
    seen, errors = [active.current().version], []
    print("ready", flush=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if active.reload_if_changed(force=True):
            seen.append(active.current().version)
        if active.last_error:
            errors.append(active.last_error)
        if active.current().catalog.service_for_host("api.scribe.example") is None:
            errors.append("catalog lost its service")
        if active.current().version == sys.argv[2]:
            break
    print(json.dumps({"seen": seen, "errors": errors}), flush=True)
    """
)


def test_another_process_follows_installs_without_restart(context: tuple[AgentContext, object, object]) -> None:
    """The proxy runs as a child process: it must see each new bundle, never a broken one."""
    ctx, repo, ring = context
    component = build(ctx)
    component.check_now()
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(ctx.data_dir), "2026.1.9"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None
        assert reader.stdout.readline().strip() == "ready"
        for minor in range(2, 10):
            repo.publish(bundle_data(f"2026.1.{minor}"), ring)  # type: ignore[attr-defined]
            assert component.check_now().status == "installed"  # type: ignore[union-attr]
        out, err = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
    result = json.loads(out.strip().splitlines()[-1])
    assert result["errors"] == [], err
    assert result["seen"][0] == "2026.1.1"
    assert result["seen"][-1] == "2026.1.9"
    assert result["seen"] == sorted(result["seen"], key=lambda v: [int(p) for p in v.split(".")])
    assert Layout.for_data_dir(ctx.data_dir).pointer.exists()
