"""Updates from a real loopback HTTP server that drips, stalls, stays silent and lies.

Each test starts from an agent that installed bundle 1, then the server misbehaves while it
offers bundle 2. Expected: a slow or stalled download is abandoned within its limits and
reported as `stalled` (health, doctor), a validly signed broken bundle is refused as `model`
or `schema` naming the part, and bundle 1 stays in force. Times are printed (`-s` shows
them); the only time assertions are generous upper bounds.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.checkup import DoctorContext
from agent.components import AgentContext
from agent.config import Config
from agent.store import EventWriter, Store
from agent.updates.component import SignatureUpdates, build
from agent.updates.doctor import check_signature_updates
from agent.updates.fetch import FetchLimits
from agent.updates.install import UpdateOutcome, check_for_update, read_state
from agent.updates.installed import Layout, read_pointer
from phiwall_publish.keys import KeyRing
from phiwall_publish.repository import Repository
from tests.integration.signatures.hostile import Behaviour, hostile_server
from tests.integration.signatures.kit import (
    bundle_data,
    bundle_document,
    make_repository,
    raw_bundle,
    tiny_shadow_model,
)

V1, V2 = "2026.1.1", "2026.2.1"
QUICK = FetchLimits(deadline=20.0, stall_timeout=1.0, min_rate=256, rate_grace=2.0, connect_timeout=2.0)


@dataclass
class Site:
    repo: Repository
    ring: KeyRing
    layout: Layout
    url: str
    trusted_root: bytes
    behaviour: Behaviour

    def update(self, limits: FetchLimits = QUICK, cancel: threading.Event | None = None) -> UpdateOutcome:
        outcome, _ = check_for_update(self.layout, self.url, self.trusted_root, limits=limits, cancel=cancel)
        return outcome

    def in_force(self) -> str | None:
        pointer = read_pointer(self.layout)
        return pointer.version if pointer else None


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    repo, ring = make_repository(tmp_path / "it")
    repo.publish(bundle_data(V1), ring)
    behaviour = Behaviour()
    with hostile_server(repo.path, behaviour) as url:
        s = Site(
            repo,
            ring,
            Layout.for_data_dir(tmp_path / "agent"),
            url,
            (repo.metadata_dir / "1.root.json").read_bytes(),
            behaviour,
        )
        assert s.update().status == "installed"
        repo.publish(bundle_data(V2), ring)
        yield s


def timed(site: Site, **limits: float) -> tuple[UpdateOutcome, float, float]:
    """Run one check; return the outcome, seconds from the server holding back to the report, total."""
    began = time.monotonic()
    outcome = site.update(FetchLimits(**{**QUICK.__dict__, **limits}))
    reported = time.monotonic()
    assert site.behaviour.stalled_at, "the server never held back"
    return outcome, reported - site.behaviour.stalled_at[0], reported - began


def assert_stalled(site: Site, outcome: UpdateOutcome, *words: str) -> None:
    assert outcome.status == "rejected", outcome
    assert outcome.code == "stalled", outcome.reason
    for word in words:
        assert word in outcome.reason, outcome.reason
    assert site.in_force() == V1
    state = read_state(site.layout)
    assert state.last_code == "stalled"


def test_one_byte_per_second_drip_is_abandoned_for_its_rate(site: Site) -> None:
    site.behaviour.mode, site.behaviour.drip_every = "drip", 1.0
    outcome, to_report, total = timed(site, stall_timeout=5.0)  # bytes keep coming: the rate must catch it
    print(f"\n1 byte/s drip of the bundle: reported {to_report:.2f} s after the drip began (check {total:.2f} s)")
    assert_stalled(site, outcome, "too slow", "phiwall-bundle.json", "minimum 256 bytes/s")
    assert to_report < 15  # grace 2 s + one byte; generous bound


def test_body_that_stops_is_abandoned_after_the_stall_timeout(site: Site) -> None:
    site.behaviour.mode = "stall"
    outcome, to_report, _ = timed(site)
    print(f"\nbundle body stalled after 10 bytes: reported {to_report:.2f} s later (stall timeout 1 s)")
    assert_stalled(site, outcome, "stalled, no data for 1 s")
    assert to_report < 10


def test_server_that_never_answers_is_abandoned(site: Site) -> None:
    site.behaviour.mode, site.behaviour.target = "silent", "timestamp.json"
    outcome, to_report, _ = timed(site)
    print(f"\ntimestamp request never answered: reported {to_report:.2f} s later (stall timeout 1 s)")
    assert_stalled(site, outcome, "timestamp.json")
    assert to_report < 10


def test_drip_fast_enough_for_the_rate_still_ends_at_the_deadline(site: Site) -> None:
    """Bytes keep coming (no stall, rate check off), but the check as a whole has a deadline."""
    site.behaviour.mode, site.behaviour.drip_every, site.behaviour.drip_bytes = "drip", 0.1, 1
    outcome, _to_report, total = timed(site, deadline=2.0, min_rate=0)
    print(f"\n10 bytes/s drip, 2 s deadline: check abandoned after {total:.2f} s")
    assert_stalled(site, outcome, "2 s deadline")
    assert total < 10


def test_cancel_abandons_a_check_in_flight(site: Site) -> None:
    site.behaviour.mode = "stall"
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    began = time.monotonic()
    outcome = site.update(FetchLimits(deadline=60, stall_timeout=30, min_rate=0), cancel=cancel)
    took = time.monotonic() - began
    assert outcome.code == "stalled", outcome.reason
    assert "stopping" in outcome.reason
    assert took < 10  # a 30 s stall timeout did not hold the caller
    assert site.in_force() == V1


@pytest.mark.parametrize(
    ("model", "words"),
    [
        (tiny_shadow_model(coef=[math.nan] * len(tiny_shadow_model()["coef"])), ["not finite"]),
        (tiny_shadow_model(coef=tiny_shadow_model()["coef"][:-3]), ["shapes do not match"]),
        (tiny_shadow_model(coef=[[c] for c in tiny_shadow_model()["coef"]]), ["flat list"]),
        (tiny_shadow_model(intercept=math.inf), ["intercept must be finite"]),
        (tiny_shadow_model(feature_version=4), ["feature version 4"]),
        (tiny_shadow_model(coef=[-c for c in tiny_shadow_model()["coef"]]), ["smoke prediction"]),
    ],
    ids=["nan-weights", "short-coef", "nested-coef", "inf-intercept", "old-features", "inverted"],
)
def test_validly_signed_broken_model_is_refused(site: Site, model: dict[str, object], words: list[str]) -> None:
    document = bundle_document("2026.3.1")
    document["models"] = {"shadow_classifier": model}
    site.repo.publish(raw_bundle(document), site.ring, check=False)  # the signer lies: signed, but broken
    outcome = site.update()
    assert outcome.status == "rejected", outcome
    assert outcome.code == "model", outcome.reason
    assert "model 'shadow_classifier'" in outcome.reason
    for word in words:
        assert word in outcome.reason, outcome.reason
    assert f"still enforcing {V1}" in outcome.summary
    assert site.in_force() == V1


def test_validly_signed_catalog_that_misroutes_is_refused(site: Site) -> None:
    document = bundle_document("2026.3.1")
    services = document["catalog"]["services"]
    services.append(
        {
            **services[0],
            "id": "shadowing",
            "hosts": ["*.scribe.example"],
            "examples": ["https://x.scribe.example/v1/upload", "https://api.scribe.example/v1/upload"],
        }
    )
    site.repo.publish(json.dumps(document).encode(), site.ring, check=False)
    outcome = site.update()
    assert outcome.code == "schema", outcome.reason
    assert "catalog: service 'shadowing'" in outcome.reason
    assert "is routed to 'scribe'" in outcome.reason
    assert site.in_force() == V1


@pytest.fixture
def agent(site: Site, store: Store, request: pytest.FixtureRequest) -> Iterator[tuple[SignatureUpdates, AgentContext]]:
    """A running update component; the config's `[signatures]` section is the fixture's param."""
    limits = getattr(request, "param", {})
    config = Config.model_validate(
        {
            "agent": {"data_dir": str(site.layout.root.parent)},
            "signatures": {
                "repository": site.url,
                "trusted_root": str(site.repo.metadata_dir / "1.root.json"),
                "fetch_stall_timeout": 1.0,
                "fetch_min_rate": 256,
                "fetch_rate_grace": 1.0,
                "retry_initial": 0.3,
                **limits,
            },
        }
    )
    events = EventWriter(store)
    events.start()
    ctx = AgentContext(
        config=config, store=store, agent_id="a1", data_dir=site.layout.root.parent, listen="127.0.0.1:0", events=events
    )
    component = SignatureUpdates(ctx, build(ctx).active, interval=60.0)
    yield component, ctx
    component.stop()
    events.stop()


def test_stall_is_reported_by_health_and_doctor_then_retried_with_backoff(
    site: Site, agent: tuple[SignatureUpdates, AgentContext]
) -> None:
    component, ctx = agent
    site.behaviour.mode, site.behaviour.times = "stall", 2  # two stalled attempts, then the server recovers
    component.start()
    began = time.monotonic()
    reported = None
    while time.monotonic() - began < 30 and component.catalog_version != V2:
        health = component.health()
        if reported is None and "stalled" in health.message:
            reported = time.monotonic() - site.behaviour.stalled_at[0]
            assert health.status == "degraded"
            assert "retrying" in health.message
            assert f"enforcing {V1}" in health.message
            finding = check_signature_updates(DoctorContext(config=ctx.config, store_url=""))
            assert finding.level == "warn"
            assert "stalled" in finding.detail
            assert "fetch_deadline" in finding.fix
            assert "signatures install" not in finding.fix
        time.sleep(0.02)
    print(f"\nstall to health report: {reported:.2f} s; V2 in force {time.monotonic() - began:.2f} s after start")
    assert reported is not None, "health never said stalled"
    assert component.catalog_version == V2
    assert len(site.behaviour.stalled_at) == 2
    assert read_state(site.layout).failures == 0


@pytest.mark.parametrize("agent", [{"fetch_stall_timeout": 30.0, "fetch_min_rate": 0}], indirect=True)
def test_stop_does_not_wait_for_a_dripping_server(site: Site, agent: tuple[SignatureUpdates, AgentContext]) -> None:
    component, _ = agent
    site.behaviour.mode = "drip"
    component.start()
    deadline = time.monotonic() + 10
    while not site.behaviour.stalled_at and time.monotonic() < deadline:
        time.sleep(0.02)
    assert site.behaviour.stalled_at
    assert component.health().status in ("ok", "degraded")  # answers while a check is in flight
    began = time.monotonic()
    component.stop()
    took = time.monotonic() - began
    print(f"\nstop() during a drip: {took:.2f} s")
    assert component._thread is not None
    assert not component._thread.is_alive()
    assert took < 5
