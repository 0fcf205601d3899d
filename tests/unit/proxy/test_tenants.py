"""Tenant restrictions and tenant extraction as the proxy routes requests: which hosts get
which headers (and only those), decryption forced where headers must be added, the full
request path (query string included) reaching tenant extraction."""

from __future__ import annotations

from typing import Any

from agent.policy.org import OrgPolicy
from agent.proxy.routing import Router
from agent.proxy.tenants import TenantRestrictions
from agent.updates.active import ActiveSignatures, SignatureSet
from agent.updates.source import shipped_bundle

ENTRA_TENANTS = ("hospital.example", "hospital.onmicrosoft.com")
ENTRA_CONTEXT = "11111111-2222-3333-4444-555555555555"
AWS_KEY = "AKIAHOSPITAL0000EXAMPLE"


def signatures(**policy: Any) -> SignatureSet:
    shipped = shipped_bundle()
    return SignatureSet(
        version="test", catalog=shipped.catalog, policy=OrgPolicy.model_validate(policy), models=shipped.models
    )


RESTRICTING = {
    "approved": [
        {"service": "m365-copilot", "tenants": list(ENTRA_TENANTS), "restriction_context": ENTRA_CONTEXT},
        {"service": "gemini", "tenants": ["hospital.example"]},
    ]
}


def test_a_policy_without_restrictions_costs_nothing() -> None:
    restrictions = TenantRestrictions(signatures())
    assert restrictions.active is False
    assert restrictions.headers_for("login.microsoftonline.com") == ()
    assert restrictions.applies("accounts.google.com") is False


def test_restriction_headers_per_host() -> None:
    restrictions = TenantRestrictions(signatures(**RESTRICTING))
    assert restrictions.active
    entra = dict(restrictions.headers_for("login.microsoftonline.com"))
    assert entra == {"Restrict-Access-To-Tenants": ",".join(ENTRA_TENANTS), "Restrict-Access-Context": ENTRA_CONTEXT}
    assert dict(restrictions.headers_for("login.windows.net")) == entra
    assert dict(restrictions.headers_for("accounts.google.com")) == {"X-GoogApps-Allowed-Domains": "hospital.example"}
    assert dict(restrictions.headers_for("gemini.google.com")) == {"X-GoogApps-Allowed-Domains": "hospital.example"}
    for host in ("example.org", "login.microsoftonline.com.evil.example", "api.openai.com", "notebooklm.google.com"):
        assert restrictions.headers_for(host) == (), host
    first = restrictions.headers_for("login.microsoftonline.com")
    assert restrictions.headers_for("login.microsoftonline.com") is first, "memoised"


def test_router_follows_the_signatures_in_force() -> None:
    active = ActiveSignatures(signatures())
    router = Router(active)
    assert router.destination("login.microsoftonline.com", "GET", "/", {}).tenant_headers == ()
    active.replace(signatures(**RESTRICTING))
    entra = router.destination("LOGIN.microsoftonline.com:443", "POST", "/common/login", {})
    assert dict(entra.tenant_headers)["Restrict-Access-Context"] == ENTRA_CONTEXT
    gemini = router.destination("gemini.google.com", "POST", "/app", {})
    assert gemini.service_id == "gemini", "a catalogued host that is also a restriction host"
    assert dict(gemini.tenant_headers) == {"X-GoogApps-Allowed-Domains": "hospital.example"}
    assert router.destination("example.org", "GET", "/", {}).tenant_headers == ()


def test_hosts_that_need_headers_are_always_decrypted() -> None:
    router = Router(
        ActiveSignatures(
            signatures(
                **RESTRICTING,
                unknown_ai="allow",
                passthrough_hosts=["login.microsoftonline.com", "bank.example"],
            )
        )
    )
    assert router.passthrough("login.microsoftonline.com") is False, "in the passthrough list, but restricted"
    assert router.passthrough("LOGIN.MICROSOFTONLINE.COM.") is False
    assert router.passthrough("accounts.google.com") is False, "uncatalogued with unknown_ai=allow, but restricted"
    assert router.passthrough("bank.example") is True
    assert router.passthrough("unlisted.example") is True, "unknown_ai=allow"
    assert router.passthrough("api.openai.com") is False


def test_tenant_in_the_query_string_reaches_the_policy() -> None:
    """AWS presigned WebSocket URLs name the credential (the tenant) only in the query string."""
    router = Router(ActiveSignatures(signatures(approved=[{"service": "aws-transcribe", "tenants": [AWS_KEY]}])))
    host = "transcribestreaming.us-east-1.amazonaws.com:8443"
    path = "/stream-transcription-websocket?language-code=en-US&media-encoding=pcm&X-Amz-Algorithm=AWS4-HMAC-SHA256"

    def status(credential: str | None) -> str:
        scope = "%2F20250101%2Fus-east-1%2Ftranscribe%2Faws4_request"
        query = f"&X-Amz-Credential={credential}{scope}" if credential else ""
        dest = router.destination(host, "GET", path + query + "&X-Amz-Signature=abc", {"upgrade": "websocket"})
        assert dest.service_id == "aws-transcribe"
        assert dest.endpoint is not None
        assert dest.endpoint.transport == "websocket"
        return dest.status

    assert status(AWS_KEY) == "approved"
    assert status("AKIAPERSONAL0000EXAMPLE") == "unapproved"
    assert status(None) == "unapproved"
