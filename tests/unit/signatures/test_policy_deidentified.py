"""Policy `deidentified`: per service, per category, default block; validated like other fields."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent.policy.catalog import Catalog, Service
from agent.policy.org import OrgPolicy
from agent.updates.source import shipped_bundle

CATALOG: Catalog = shipped_bundle().catalog


def svc(service_id: str) -> Service:
    service = CATALOG.service(service_id)
    assert service is not None
    return service


def test_default_blocks_derivatives_everywhere() -> None:
    policy = OrgPolicy()
    assert policy.deidentified.default == "block"
    assert policy.deidentified.action(svc("chatgpt")) == "block"
    assert policy.deidentified.action(None) == "block"


def test_service_entry_beats_category_beats_default() -> None:
    chat = svc("chatgpt").category
    policy = OrgPolicy.model_validate(
        {"deidentified": {"default": "audit", "services": {"chatgpt": "allow"}, "categories": {chat: "block"}}}
    )
    assert policy.deidentified.action(svc("chatgpt")) == "allow"
    others = [s for s in CATALOG.services if s.category == chat and s.id != "chatgpt"]
    assert others, "the catalog has another service in the category"
    assert policy.deidentified.action(others[0]) == "block"
    different = next(s for s in CATALOG.services if s.category != chat)
    assert policy.deidentified.action(different) == "audit"
    assert policy.deidentified.action(None) == "audit", "hosts not in the catalog get the default"


@pytest.mark.parametrize(
    "bad",
    [
        {"deidentified": "allow"},
        {"deidentified": {"default": "pass"}},
        {"deidentified": {"services": {"chatgpt": "yes"}}},
        {"deidentified": {"categories": {"not-a-category": "allow"}}},
        {"deidentified": {"services": {"Bad Id!": "allow"}}},
        {"deidentified": {"sevices": {"chatgpt": "allow"}}},
    ],
)
def test_bad_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        OrgPolicy.model_validate(bad)


def test_services_must_exist_in_the_catalog() -> None:
    policy = OrgPolicy.model_validate({"deidentified": {"services": {"no-such-service": "allow", "chatgpt": "allow"}}})
    problems = policy.validate_against(CATALOG)
    assert problems == ["deidentified: service 'no-such-service' is not in the catalog"]


def test_shipped_policy_and_schema_know_the_field() -> None:
    import json
    from pathlib import Path

    assert shipped_bundle().policy.deidentified.default == "block"
    schema = json.loads((Path(__file__).parents[3] / "signatures/schema/policy.schema.json").read_text())
    assert "deidentified" in schema["properties"]
