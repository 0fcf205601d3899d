"""The local policy overlay: console decisions on top of the signatures, live without a restart."""

from __future__ import annotations

import stat
from pathlib import Path

from agent.config import Config
from agent.policy.local import overlay_path, read_audit, set_service
from agent.updates.active import ActiveSignatures, load_active


def status(active: ActiveSignatures, service_id: str) -> str:
    current = active.current()
    service = current.catalog.service(service_id)
    assert service is not None
    return current.policy.status(service, {})


def test_approve_then_block_takes_effect_on_the_next_check(tmp_path: Path) -> None:
    active = load_active(tmp_path, Config(), check_interval=0.0)
    assert status(active, "perplexity") == "unapproved"
    set_service(tmp_path, "perplexity", "approved", analyst="alice", reason="hospital contract signed")
    assert active.reload_if_changed() is True  # one stat noticed the overlay: no restart
    assert status(active, "perplexity") == "approved"
    assert active.current().source == "shipped"
    set_service(tmp_path, "perplexity", "blocked", analyst="bob")
    assert active.reload_if_changed() is True
    assert status(active, "perplexity") == "unapproved"
    assert active.reload_if_changed() is False  # nothing changed since
    trail = read_audit(tmp_path)
    assert [(e["analyst"], e["service"], e["decision"]) for e in trail] == [
        ("alice", "perplexity", "approved"),
        ("bob", "perplexity", "blocked"),
    ]
    assert trail[0]["reason"] == "hospital contract signed"
    for path in (overlay_path(tmp_path), overlay_path(tmp_path).with_name("local-audit.jsonl")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # A new agent process starts with the overlay in force.
    assert status(load_active(tmp_path, Config()), "perplexity") == "unapproved"


def test_a_locally_blocked_service_leaves_the_approved_list(tmp_path: Path) -> None:
    active = load_active(tmp_path, Config(), check_interval=0.0)
    set_service(tmp_path, "perplexity", "approved", analyst="alice")
    active.reload_if_changed()
    assert [a.service for a in active.current().policy.approved].count("perplexity") == 1
    set_service(tmp_path, "perplexity", "blocked", analyst="alice")
    active.reload_if_changed()
    policy = active.current().policy
    assert "perplexity" not in [a.service for a in policy.approved]
    assert "perplexity" in policy.blocked


def test_a_broken_overlay_keeps_the_policy_in_force_and_says_why(tmp_path: Path) -> None:
    active = load_active(tmp_path, Config(), check_interval=0.0)
    set_service(tmp_path, "perplexity", "approved", analyst="alice")
    active.reload_if_changed()
    overlay_path(tmp_path).write_text("approved: [Not An Id!]\n")
    assert active.reload_if_changed() is False
    assert status(active, "perplexity") == "approved"
    assert active.last_error is not None
    assert "local.yaml" in active.last_error


def test_a_broken_overlay_at_start_is_reported_not_fatal(tmp_path: Path) -> None:
    overlay_path(tmp_path).parent.mkdir(parents=True)
    overlay_path(tmp_path).write_text("blocked: {not: a list}\n")
    active = load_active(tmp_path, Config())
    assert active.current().source == "shipped"
    assert active.last_error is not None
    assert "local policy overlay ignored" in active.last_error
    assert "local.yaml" in active.last_error
