"""Where a flow is going, in policy terms: catalog service, approval status, upload endpoint.

Two decisions use it. Per connection, at the TLS ClientHello: pass through (never decrypt)
hosts on the passthrough list, and uncatalogued hosts when the policy allows unknown AI
outright; decrypt everything else. Per request: which service (if any), whether approved for
this request's tenant, and how much inspection the request gets:

- `inline`: the body is fingerprinted before it may leave (unapproved services, uncatalogued
  hosts when `unknown_ai = inspect`);
- `after`: the request goes on at once and is fingerprinted in the background for the audit
  trail (approved services);
- `none`: not an upload worth looking at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from agent.policy.catalog import Endpoint, Service
from agent.policy.hosts import normalize_host
from agent.policy.org import ServiceStatus
from agent.updates.active import ActiveSignatures, SignatureSet

InspectMode = Literal["inline", "after", "none"]


@dataclass(frozen=True)
class Destination:
    host: str
    service: Service | None
    status: ServiceStatus
    endpoint: Endpoint | None
    signatures: SignatureSet

    @property
    def service_id(self) -> str | None:
        return self.service.id if self.service else None

    @property
    def category(self) -> str | None:
        return self.service.category if self.service else None

    @property
    def is_catalogued(self) -> bool:
        return self.service is not None

    @property
    def inspect_mode(self) -> InspectMode:
        if self.status == "approved":
            return "after"
        if self.status == "unapproved":
            return "inline"
        return "inline" if self.signatures.policy.unknown_ai != "allow" else "none"

    @property
    def can_block(self) -> bool:
        """Whether a verdict may block this destination (so undecided uploads must not leave)."""
        return self.inspect_mode == "inline"


class Router:
    def __init__(self, signatures: ActiveSignatures) -> None:
        self.signatures = signatures

    def current(self) -> SignatureSet:
        return self.signatures.current()

    def passthrough(self, host: str) -> bool:
        """Decide at the ClientHello: True to forward the TLS connection without decrypting it."""
        sigs = self.current()
        host = normalize_host(host)
        if sigs.policy.is_passthrough(host):
            return True
        return sigs.policy.unknown_ai == "allow" and sigs.catalog.service_for_host(host) is None

    def service_for_host(self, host: str) -> Service | None:
        return self.current().catalog.service_for_host(normalize_host(host))

    def destination(self, host: str, method: str, path: str, headers: Mapping[str, str]) -> Destination:
        sigs = self.current()
        host = normalize_host(host)
        service = sigs.catalog.service_for_host(host)
        status = sigs.policy.status(service, headers, path=path, host=host)
        endpoint = service.endpoint_for(method, path, host) if service is not None else None
        return Destination(host, service, status, endpoint, sigs)
