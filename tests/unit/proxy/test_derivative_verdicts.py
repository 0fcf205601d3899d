"""Derivatives in the decision (agent.policy.derived, agent.policy.verdict) and the block answer."""

from __future__ import annotations

import json

import pytest

from agent.policy.derived import AssetRole, DerivedMatch, derived_match
from agent.policy.verdict import ClinicalMatch, UploadFacts, decide_upload
from agent.proxy.answers import block_answer

SOURCE = "s" * 64
COPY = "c" * 64
ROLES = {SOURCE: AssetRole(None), COPY: AssetRole(7, SOURCE)}
DERIVED = DerivedMatch(COPY, 7, SOURCE, exact=True)


def test_exact_derivative_bytes_win_even_when_the_source_ranked_first() -> None:
    assert derived_match(SOURCE, COPY, ROLES) == DerivedMatch(COPY, 7, SOURCE, exact=True)


def test_exact_source_bytes_are_the_source_even_when_the_derivative_ranked_first() -> None:
    assert derived_match(COPY, SOURCE, ROLES) is None


def test_best_fingerprint_match_decides_for_other_bytes() -> None:
    other = "o" * 64
    assert derived_match(COPY, other, ROLES) == DerivedMatch(COPY, 7, SOURCE, exact=False)
    assert derived_match(SOURCE, other, ROLES) is None
    assert derived_match(COPY, None, {}) is None, "not enrolled (or forgotten): clinical, not derivative"


def _facts(**kw: object) -> UploadFacts:
    match = ClinicalMatch(COPY, "audio", 0.97, 0.0)
    base: dict[str, object] = {"status": "unapproved", "service_name": "Scribe", "match": match, "has_media": True}
    return UploadFacts(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(("policy", "action"), [("allow", "allow"), ("audit", "audit"), ("block", "block")])
def test_derivative_follows_deidentified(policy: str, action: str) -> None:
    verdict = decide_upload(_facts(derivative=DERIVED, deidentified=policy))
    assert verdict.action == action
    assert verdict.keep
    assert verdict.derivative == DERIVED
    assert "scrub lineage 7" in verdict.reason
    assert not verdict.sanctioned


def test_derivative_to_an_approved_service_is_audited_and_internal_rules_stay() -> None:
    assert decide_upload(_facts(status="approved", derivative=DERIVED)).action == "audit"
    internal = decide_upload(_facts(derivative=DERIVED, internal=True, clinical_to_internal="allow"))
    assert internal.action == "allow"


def test_source_stays_blocked_and_says_a_copy_is_accepted_only_where_it_is() -> None:
    allowed = decide_upload(_facts(deidentified="allow"))
    assert allowed.action == "block"
    assert allowed.sanctioned
    assert allowed.derivative is None
    assert not decide_upload(_facts()).sanctioned
    assert decide_upload(_facts(deidentified="audit")).sanctioned


def test_audit_mode_keeps_the_lineage() -> None:
    verdict = decide_upload(_facts(derivative=DERIVED, mode="audit"))
    assert verdict.action == "audit"
    assert verdict.derivative == DERIVED


def test_block_answers_name_the_sanctioned_path_only_when_accepted() -> None:
    plain = block_answer("enrolled clinical audio may not be sent to Scribe", "ev1", {})
    assert b"de-identified" not in plain.body
    assert b"phiwall scrub" not in plain.body
    api = json.loads(block_answer("r", "ev1", {}, accepts_copies="Scribe").body)["error"]
    assert api["message"].endswith(
        "This recording identifies a patient. Scribe accepts de-identified copies: "
        "run `phiwall scrub FILE -o COPY` (or ask IT) and upload the copy."
    )
    assert api["deidentified_copies_accepted"] is True
    page = block_answer("r", "ev1", {"accept": "text/html"}, accepts_copies="Scribe <AI>").body.decode()
    assert "Scribe &lt;AI&gt; accepts de-identified copies: run <code>phiwall scrub FILE -o COPY</code>" in page
    assert "<AI>" not in page
