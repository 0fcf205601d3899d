"""Policy: the AI-service catalog, the organisation's overlay on it, and (agent/policy/verdict.py)
the verdict for one flow. Pure data and functions: no mitmproxy, no Textual, no I/O."""

from agent.policy.catalog import Catalog, Endpoint, LocalApp, Service, StreamShape, TenantRule
from agent.policy.hosts import HostIndex, host_matches, normalize_host
from agent.policy.org import Action, OrgPolicy, ServiceStatus, credential_fingerprint, tenants_of
from agent.policy.paths import JsonPath

__all__ = [
    "Action",
    "Catalog",
    "Endpoint",
    "HostIndex",
    "JsonPath",
    "LocalApp",
    "OrgPolicy",
    "Service",
    "ServiceStatus",
    "StreamShape",
    "TenantRule",
    "credential_fingerprint",
    "host_matches",
    "normalize_host",
    "tenants_of",
]
