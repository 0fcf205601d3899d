"""The decision table (agent.policy.verdict) and the block answer contract."""

from __future__ import annotations

import json

import pytest

from agent.policy.verdict import ClinicalMatch, UploadFacts, decide_uninspectable_channel, decide_upload
from agent.proxy.answers import block_answer, wants_html

MATCH = ClinicalMatch(asset_id="a" * 64, kind="audio", score=0.93, offset_s=12.0)


@pytest.mark.parametrize(
    ("facts", "action", "keep"),
    [
        (UploadFacts(status="unapproved", service_name="X", match=MATCH, has_media=True), "block", True),
        (UploadFacts(status="approved", service_name="X", match=MATCH, has_media=True), "audit", True),
        (UploadFacts(status="unknown", match=MATCH, has_media=True), "block", True),
        (UploadFacts(status="unknown", match=MATCH, clinical_to_unknown="audit"), "audit", True),
        (UploadFacts(status="unapproved", match=MATCH, clinical_to_unapproved="audit"), "audit", True),
        (UploadFacts(status="unapproved", service_name="X", inspection_error="corrupt"), "block", True),
        (UploadFacts(status="unknown", inspection_error="corrupt", ai_likely=True), "block", True),
        (UploadFacts(status="unknown", inspection_error="corrupt"), "allow", False),
        (UploadFacts(status="unknown", inspection_error="corrupt", has_media=True), "allow", True),
        (UploadFacts(status="approved", inspection_error="corrupt"), "allow", True),
        (UploadFacts(status="unapproved", has_media=True), "audit", True),
        (UploadFacts(status="unapproved", has_media=True, media_action="block"), "block", True),
        (UploadFacts(status="unapproved", has_media=True, media_action="allow"), "allow", True),
        (UploadFacts(status="unapproved", has_media=False), "allow", False),
        (UploadFacts(status="approved", has_media=True), "allow", False),
        (UploadFacts(status="unknown", has_media=True), "allow", False),
        (UploadFacts(status="unknown", has_media=True, ai_likely=True), "audit", True),
    ],
)
def test_decision_table(facts: UploadFacts, action: str, keep: bool) -> None:
    verdict = decide_upload(facts)
    assert verdict.action == action
    assert verdict.keep == keep
    assert verdict.reason


def test_modes() -> None:
    blocked = UploadFacts(status="unapproved", service_name="X", match=MATCH)
    audit = decide_upload(UploadFacts(**{**blocked.__dict__, "mode": "audit"}))
    assert audit.action == "audit"
    assert "audit mode" in audit.reason
    assert decide_upload(UploadFacts(**{**blocked.__dict__, "mode": "off"})).action == "allow"


def test_reasons_never_name_paths_and_say_why() -> None:
    verdict = decide_upload(UploadFacts(status="unapproved", service_name="Whisper API", match=MATCH))
    assert "Whisper API" in verdict.reason
    assert "clinical audio" in verdict.reason
    assert "/" not in verdict.reason.replace("(unapproved)", "")


def test_uninspectable_channels() -> None:
    assert decide_uninspectable_channel("unapproved", "WebRTC").action == "block"
    assert decide_uninspectable_channel("approved", "WebRTC").action == "allow"
    assert decide_uninspectable_channel("unapproved", "WebRTC", mode="audit").action == "audit"


def test_json_answer_shape_for_api_clients() -> None:
    answer = block_answer("enrolled clinical audio may not be sent to X", "inc123", {"accept": "application/json"})
    assert answer.status == 403
    assert answer.headers["X-PhiWall-Verdict"] == "block"
    assert answer.headers["X-PhiWall-Incident"] == "inc123"
    body = json.loads(answer.body)
    assert body["error"]["type"] == "phiwall_blocked"
    assert body["error"]["incident"] == "inc123"
    assert "inc123" in body["error"]["message"]


def test_html_answer_for_browser_navigation_is_escaped() -> None:
    headers = {"accept": "text/html,application/xhtml+xml", "sec-fetch-dest": "document"}
    answer = block_answer("reason <script>", "inc<1>", headers)
    assert answer.headers["Content-Type"].startswith("text/html")
    assert b"<script>" not in answer.body
    assert b"inc&lt;1&gt;" in answer.body


@pytest.mark.parametrize(
    ("headers", "html"),
    [
        ({"accept": "*/*"}, False),
        ({"accept": "text/html"}, True),
        ({"accept": "text/html", "sec-fetch-dest": "empty"}, False),  # fetch() from a page
        ({"sec-fetch-dest": "iframe"}, True),
        ({}, False),
    ],
)
def test_wants_html(headers: dict[str, str], html: bool) -> None:
    assert wants_html(headers) is html


def test_block_answer_cors_echoes_only_a_well_formed_origin() -> None:
    answer = block_answer("r", "inc-1", {"origin": "https://chatgpt.com"})
    assert answer.headers["Access-Control-Allow-Origin"] == "https://chatgpt.com"
    assert answer.headers["Access-Control-Expose-Headers"] == "X-PhiWall-Incident, X-PhiWall-Verdict"
    assert answer.headers["Vary"] == "Origin"
    for bad in ("https://a.example/path", "https://a.example\r\nSet-Cookie: x=1", "*", "x" * 400):
        headers = block_answer("r", "inc-1", {"origin": bad}).headers
        assert "Access-Control-Allow-Origin" not in headers, bad


def test_preflight_is_answered_204_with_what_it_asked_for() -> None:
    asked = {
        "origin": "https://gemini.google.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, x-goog-api-key",
    }
    answer = block_answer("r", "inc-2", asked, "OPTIONS")
    assert answer.status == 204
    assert answer.body == b""
    assert answer.headers["Access-Control-Allow-Methods"] == "POST"
    assert answer.headers["Access-Control-Allow-Headers"] == "content-type, x-goog-api-key"
    assert (
        block_answer("r", "inc-2", {**asked, "access-control-request-headers": "a\nb"}, "OPTIONS").headers.get(
            "Access-Control-Allow-Headers"
        )
        is None
    )
    assert block_answer("r", "inc-2", {"origin": "https://a.example"}, "OPTIONS").status == 403  # not a preflight
