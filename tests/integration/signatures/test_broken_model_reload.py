"""A broken model never reaches the running proxy.

The proxy runs in its own process and follows installs through `ActiveSignatures.
reload_if_changed()`, building its shadow classifier with `ClassifierSource`. Here a real
second process does exactly that while the agent is offered a validly signed bundle with NaN
weights (refused by the updater), and while a broken bundle is planted on disk behind the
updater's back (refused by the reload gate). The reader must keep classifying with the last
good model throughout, and follow the next good bundle.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.checkup import DoctorContext
from agent.components import AgentContext
from agent.config import Config
from agent.store import EventWriter, Store
from agent.updates.bundle import Bundle, bundle_bytes
from agent.updates.component import SignatureUpdates, build
from agent.updates.doctor import check_catalog
from agent.updates.installed import Layout, install
from phiwall_publish.keys import KeyRing
from phiwall_publish.repository import Repository
from tests.integration.signatures.kit import (
    bundle_document,
    make_repository,
    raw_bundle,
    tiny_shadow_model,
)

ROOT = Path(__file__).resolve().parents[3]

READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from agent.config import Config
    from agent.shadow.hooks import ClassifierSource
    from agent.shadow.model_check import SMOKE_AI
    from agent.updates.active import load_active
    active = load_active(Path(sys.argv[1]), Config(), check_interval=0.0)
    source = ClassifierSource(active.current)
    seen, errors = [], []
    def look():
        classifier = source.get()
        label = classifier.classify(SMOKE_AI).label if classifier else None
        entry = [active.current().version, classifier.version if classifier else None, label]
        if not seen or seen[-1] != entry:
            seen.append(entry)
        if active.last_error and active.last_error not in errors:
            errors.append(active.last_error)
    look()
    print("ready", flush=True)
    stop = Path(sys.argv[2])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not stop.exists():
        active.reload_if_changed()
        look()
        time.sleep(0.01)
    active.reload_if_changed(force=True)
    look()
    print(json.dumps({"seen": seen, "errors": errors}), flush=True)
    """
)


def model_bundle(version: str, model: dict[str, object]) -> bytes:
    document = bundle_document(version)
    document["models"] = {"shadow_classifier": model}
    return raw_bundle(document)


@pytest.fixture
def running(tmp_path: Path, store: Store) -> Iterator[tuple[SignatureUpdates, Repository, KeyRing, AgentContext]]:
    repo, ring = make_repository(tmp_path / "it")
    repo.publish(model_bundle("2026.1.1", tiny_shadow_model(version="m1")), ring)
    data_dir = tmp_path / "agent"
    data_dir.mkdir()
    config = Config.model_validate(
        {
            "agent": {"data_dir": str(data_dir)},
            "signatures": {"repository": str(repo.path), "trusted_root": str(repo.metadata_dir / "1.root.json")},
        }
    )
    events = EventWriter(store)
    events.start()
    ctx = AgentContext(
        config=config, store=store, agent_id="a1", data_dir=data_dir, listen="127.0.0.1:0", events=events
    )
    component = SignatureUpdates(ctx, build(ctx).active)
    assert component.check_now().status == "installed"  # type: ignore[union-attr]
    yield component, repo, ring, ctx
    events.stop()


def test_running_proxy_keeps_the_last_good_classifier(
    running: tuple[SignatureUpdates, Repository, KeyRing, AgentContext], tmp_path: Path
) -> None:
    component, repo, ring, ctx = running
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(ctx.data_dir), str(stop)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    try:
        assert reader.stdout is not None
        assert reader.stdout.readline().strip() == "ready"

        # 1. The update server offers a validly signed bundle with NaN weights: refused.
        nan = tiny_shadow_model(version="nan", coef=[math.nan] * len(tiny_shadow_model()["coef"]))
        repo.publish(model_bundle("2026.2.1", nan), ring, check=False)
        outcome = component.check_now()
        assert outcome is not None
        assert outcome.code == "model", outcome
        assert component.catalog_version == "2026.1.1"

        # 2. A broken bundle lands on disk behind the updater's back (an older agent, a hand
        #    copy): the pointer moves, but the reload gate refuses it.
        document = json.loads(model_bundle("2026.3.1", tiny_shadow_model(version="short", coef=[0.5, -0.5])))
        planted = Bundle.model_validate(document)  # schema only: what an unchecked writer would accept
        install(Layout.for_data_dir(ctx.data_dir), bundle_bytes(planted), planted, source="hand", expires_at=None)
        finding = check_catalog(DoctorContext(config=ctx.config, store_url=""))
        assert finding.level == "warn"
        assert "model 'shadow_classifier'" in finding.detail
        assert "signatures install" not in finding.fix  # reinstalling cannot fix a broken published model
        assert "higher --version" in finding.fix

        # 3. IT publishes a good bundle: the agent installs it over the unusable one.
        repo.publish(model_bundle("2026.4.1", tiny_shadow_model(version="m4")), ring)
        assert component.check_now().status == "installed"  # type: ignore[union-attr]
        stop.touch()
        out, err = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
    result = json.loads(out.strip().splitlines()[-1])
    seen = result["seen"]
    assert seen[0] == ["2026.1.1", "m1", "ai"], err
    assert seen[-1] == ["2026.4.1", "m4", "ai"], err
    assert {tuple(entry) for entry in seen} <= {("2026.1.1", "m1", "ai"), ("2026.4.1", "m4", "ai")}, seen
    assert any("model 'shadow_classifier'" in error for error in result["errors"]), result["errors"]
