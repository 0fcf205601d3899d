"""Organisation policy: approved services and tenants, personal accounts on the same domain,
vendor-enforced restrictions, passthrough, and consistency with the catalog."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent.policy.catalog import Catalog, Service
from agent.policy.org import OrgPolicy, credential_fingerprint, tenants_of
from agent.updates.source import shipped_bundle

CATALOG: Catalog = shipped_bundle().catalog
CLAUDE_ORG = "0b9c6c3e-5c4f-4d0a-9d7e-2f1e6a7b8c9d"
OTHER_ORG = "1b9c6c3e-5c4f-4d0a-9d7e-2f1e6a7b8c9d"


def svc(service_id: str) -> Service:
    service = CATALOG.service(service_id)
    assert service is not None
    return service


POLICY = OrgPolicy.model_validate(
    {
        "organisation": "St Example Hospital",
        "approved": [
            {"service": "openai-api", "tenants": ["org-hospital"]},
            {"service": "chatgpt", "tenants": ["ws-hospital"]},
            {"service": "claude", "tenants": [CLAUDE_ORG]},
            {"service": "anthropic-api", "tenants": [credential_fingerprint("sk-ant-hospital")]},
            {"service": "azure-openai", "tenants": ["hospital-prod"]},
            {"service": "m365-copilot", "tenants": ["hospital.example", "hospital.onmicrosoft.com"],
             "restriction_context": "11111111-2222-3333-4444-555555555555"},
            {"service": "nuance-dax"},
        ],
        "blocked": ["deepgram"],
        "category_actions": {"transcription": "block"},
        "passthrough_hosts": ["*.bank.example", "ehr.hospital.local"],
    }
)  # fmt: skip


def test_the_approved_tenant_passes_and_personal_accounts_on_the_same_domain_do_not() -> None:
    openai = svc("openai-api")
    assert POLICY.status(openai, {"OpenAI-Organization": "org-hospital"}) == "approved"
    assert POLICY.status(openai, {"openai-organization": "org-hospital"}) == "approved"  # any header case
    assert POLICY.status(openai, {"OpenAI-Organization": "org-personal"}) == "unapproved"
    assert POLICY.status(openai, {"Authorization": "Bearer sk-personal"}) == "unapproved"
    assert POLICY.status(openai, {}) == "unapproved"
    chatgpt = svc("chatgpt")
    assert POLICY.status(chatgpt, {"ChatGPT-Account-Id": "ws-hospital"}) == "approved"
    assert POLICY.status(chatgpt, {"ChatGPT-Account-Id": "personal-123"}) == "unapproved"


def test_tenant_in_path_host_and_credential() -> None:
    claude = svc("claude")
    assert POLICY.status(claude, {}, path=f"/api/organizations/{CLAUDE_ORG}/upload") == "approved"
    assert POLICY.status(claude, {}, path=f"/api/{CLAUDE_ORG}/upload") == "approved"
    assert POLICY.status(claude, {}, path=f"/api/organizations/{OTHER_ORG}/upload") == "unapproved"
    anthropic = svc("anthropic-api")
    assert POLICY.status(anthropic, {"x-api-key": "sk-ant-hospital"}) == "approved"
    assert POLICY.status(anthropic, {"x-api-key": "sk-ant-mine"}) == "unapproved"
    azure = svc("azure-openai")
    assert POLICY.status(azure, {}, host="hospital-prod.openai.azure.com") == "approved"
    assert POLICY.status(azure, {}, host="someone-else.openai.azure.com") == "unapproved"


def test_tenants_of_never_returns_a_credential_in_clear() -> None:
    found = tenants_of(svc("openai-api"), {"Authorization": "Bearer sk-secret-value", "OpenAI-Project": "proj_1"})
    assert "proj_1" in found
    assert all("sk-secret" not in t for t in found)
    assert credential_fingerprint("sk-secret-value") in found


def test_vendor_enforced_restriction_headers() -> None:
    m365 = svc("m365-copilot")
    assert POLICY.status(m365, {}) == "approved"
    headers = POLICY.restriction_headers(CATALOG, "login.microsoftonline.com")
    assert headers == {
        "Restrict-Access-To-Tenants": "hospital.example,hospital.onmicrosoft.com",
        "Restrict-Access-Context": "11111111-2222-3333-4444-555555555555",
    }
    assert POLICY.restriction_headers(CATALOG, "www.example.com") == {}


def test_blocked_default_and_unknown() -> None:
    assert POLICY.status(svc("nuance-dax"), {}) == "approved"
    assert POLICY.status(svc("deepgram"), {}) == "unapproved"
    assert POLICY.status(svc("otter"), {}) == "unapproved"  # catalog default
    assert POLICY.status(None, {}) == "unknown"
    assert POLICY.media_action(svc("assemblyai")) == "block"
    assert POLICY.media_action(svc("midjourney")) == "audit"


def test_passthrough_patterns_and_local_additions() -> None:
    assert POLICY.is_passthrough("www.bank.example")
    assert POLICY.is_passthrough("EHR.hospital.local:443")
    assert not POLICY.is_passthrough("api.openai.com")
    extended = POLICY.with_passthrough(["*.windowsupdate.com"])
    assert extended.is_passthrough("fe2.update.windowsupdate.com")
    assert not POLICY.is_passthrough("fe2.update.windowsupdate.com")


def test_policy_consistency_with_the_catalog() -> None:
    bad = OrgPolicy.model_validate(
        {
            "approved": [{"service": "no-such-service"}, {"service": "otter", "tenants": ["x"]}],
            "blocked": ["also-missing"],
        }
    )
    problems = bad.validate_against(CATALOG)
    assert any("no-such-service" in p for p in problems)
    assert any("otter" in p and "no tenant rule" in p for p in problems)
    assert any("also-missing" in p for p in problems)
    assert POLICY.validate_against(CATALOG) == []


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"approved": [{"service": "a"}, {"service": "a"}]}, "approved twice"),
        ({"approved": [{"service": "a"}], "blocked": ["a"]}, "both approved and blocked"),
        ({"approved": [{"service": "a", "tenants": []}]}, "tenants` is empty"),
        ({"unknown_ai": "maybe"}, "unknown_ai"),
        ({"passthrough_hosts": ["bank"]}, "at least two labels"),
        ({"category_actions": {"astrology": "block"}}, "category_actions"),
        ({"aproved": []}, "aproved"),
    ],
)
def test_invalid_policies_say_what_is_wrong(document: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OrgPolicy.model_validate(document)
