"""Notices for the clinician: plain words, no PHI, one per burst."""

from __future__ import annotations

from agent.notify.hub import normalise_user
from agent.notify.notices import BurstGate, Notice, notice_for


def test_notice_says_what_why_and_instead_without_phi() -> None:
    notice = notice_for(
        incident="01J0ABC",
        kind="upload",
        service_id="openai-api",
        host="api.openai.com",
        asset_id="f" * 64,
        reason="clinical media matched /home/dr/Recordings/jane-doe.wav at 0.93",
    )
    assert "upload to openai api was stopped" in notice.body
    assert "registered as patient media" in notice.body
    assert "approved" in notice.body
    assert "Incident 01J0ABC." in notice.body
    assert "jane" not in notice.body.lower()
    assert "/" not in notice.body
    assert Notice.from_line(notice.to_line()) == notice


def test_why_follows_the_kind_of_block() -> None:
    def why(**fields: object) -> str:
        base: dict[str, object] = {"incident": "i", "kind": "upload", "service_id": None, "host": "h.example"}
        return notice_for(**{**base, "asset_id": None, "reason": "", **fields}).body  # type: ignore[arg-type]

    assert "not approved" in why(kind="discovery")
    assert "could not check" in why(reason="upload of 2048 MB exceeds the 512 MB inspection limit")
    assert "policy does not allow" in why(reason="blocked service")
    assert "h.example" in why()


def test_one_notice_per_burst() -> None:
    gate = BurstGate(quiet=60)
    assert gate.admit(now=0.0)
    assert not gate.admit(now=10.0)
    assert not gate.admit(now=65.0)  # still the same burst: 55 s after the previous block
    assert gate.admit(now=130.0)


def test_user_names_from_events_match_session_accounts() -> None:
    assert normalise_user("HOSPITAL\\Alice") == "alice"
    assert normalise_user("alice@HOSPITAL.EXAMPLE") == "alice"
    assert normalise_user(None) == ""
