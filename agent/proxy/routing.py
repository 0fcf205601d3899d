"""Where a flow is going, in policy terms: catalog service, approval status, upload endpoint.

Two decisions use it. Per connection, at the TLS ClientHello: pass through (never decrypt)
hosts on the passthrough list, and uncatalogued hosts when the policy allows unknown AI
outright; decrypt everything else, and always the hosts that must receive tenant-restriction
headers (agent.proxy.tenants). Per request: which service (if any), whether approved for
this request's tenant, and how much inspection the request gets:

- `inline`: the body is fingerprinted before it may leave (unapproved services, uncatalogued
  hosts when `unknown_ai = inspect`);
- `after`: the request goes on at once and is fingerprinted in the background for the audit
  trail (approved services);
- `none`: not an upload worth looking at.

Zones (agent.policy.zones): a destination in the internal zone (the hospital's own PACS, EHR,
file shares, private address ranges) is never blocked. Clinical media sent there is audited
(`after`) or, with `clinical_media_to_internal = allow`, not looked at (`none`). The zone is
decided by name first (configured internal domains), then the catalog, then a literal IP in an
internal network, then the address mitmproxy connected to when it already knows it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from agent.policy.catalog import Endpoint, Service
from agent.policy.hosts import normalize_host
from agent.policy.org import ServiceStatus
from agent.proxy.tenants import HeaderPairs, TenantRestrictions
from agent.updates.active import ActiveSignatures, SignatureSet

log = logging.getLogger(__name__)

InspectMode = Literal["inline", "after", "none"]


def _inspect_mode(status: ServiceStatus, signatures: SignatureSet, internal: bool) -> InspectMode:
    if internal:
        return "after" if signatures.policy.clinical_media_to_internal == "audit" else "none"
    if status == "approved":
        return "after"
    if status == "unapproved":
        return "inline"
    return "inline" if signatures.policy.unknown_ai != "allow" else "none"


@dataclass(frozen=True, slots=True)
class Destination:
    host: str
    service: Service | None
    status: ServiceStatus
    endpoint: Endpoint | None
    signatures: SignatureSet = field(repr=False)
    tenant_headers: HeaderPairs = ()
    """Vendor tenant-restriction headers requests to this host get (agent.proxy.tenants); mostly ()."""
    internal: bool = False
    """In the internal zone: the hospital's own destination, never blocked (agent.policy.zones)."""
    inspect_mode: InspectMode = field(init=False)
    """How much inspection requests get (see the module docstring); fixed at creation."""
    is_catalogued: bool = field(init=False)

    def __post_init__(self) -> None:
        # Computed once: the hooks ask on every request (and uncatalogued hosts share one instance).
        object.__setattr__(self, "inspect_mode", _inspect_mode(self.status, self.signatures, self.internal))
        object.__setattr__(self, "is_catalogued", self.service is not None)

    @property
    def service_id(self) -> str | None:
        return self.service.id if self.service else None

    @property
    def category(self) -> str | None:
        return self.service.category if self.service else None

    @property
    def zone(self) -> str:
        """`internal`, `ai` (a catalog service) or `public` (any other host): what events record."""
        if self.internal:
            return "internal"
        return "ai" if self.service is not None else "public"

    @property
    def can_block(self) -> bool:
        """Whether a verdict may block this destination (so undecided uploads must not leave)."""
        return self.inspect_mode == "inline"


MEMO_HOSTS = 8192


class Router:
    def __init__(self, signatures: ActiveSignatures) -> None:
        self.signatures = signatures
        self._restrictions = TenantRestrictions(signatures.current())
        self._passthrough_warned: set[str] = set()
        self._hosts_of: SignatureSet = signatures.current()
        self._hosts: dict[str, tuple[str, Service | None, Destination | None]] = {}

    def current(self) -> SignatureSet:
        return self.signatures.current()

    def restrictions(self, sigs: SignatureSet) -> TenantRestrictions:
        """The tenant restrictions of `sigs` (rebuilt only when the signatures in force change)."""
        restrictions = self._restrictions
        if restrictions.signatures is not sigs:
            restrictions = self._restrictions = TenantRestrictions(sigs)
        return restrictions

    def _host_entry(self, sigs: SignatureSet, host: str) -> tuple[str, Service | None, Destination | None]:
        """(normalised host, catalog service, the shared Destination if uncatalogued), memoised per host.

        Hosts outside the catalog (most of the web) get one immutable Destination each, so a
        request to them costs a dict lookup.
        """
        if self._hosts_of is not sigs:
            self._hosts_of, self._hosts = sigs, {}
        entry = self._hosts.get(host)
        if entry is None:
            normalized = normalize_host(host)
            zone = sigs.policy.internal
            named_internal = zone.name_is_internal(normalized)
            service = None if named_internal else sigs.catalog.service_for_host(normalized)
            unknown = None
            if service is None:
                restriction = self.restrictions(sigs).headers_for(normalized)
                internal = named_internal or zone.address_is_internal(normalized)
                unknown = Destination(normalized, None, "unknown", None, sigs, restriction, internal)
            if len(self._hosts) >= MEMO_HOSTS:
                self._hosts = {}  # a browsing-heavy week: start over rather than grow
            entry = self._hosts[host] = (normalized, service, unknown)
        return entry

    def tenant_headers(self, sigs: SignatureSet, host: str) -> HeaderPairs:
        """Headers to set on a request to `host` (normalised): vendor-enforced tenant restrictions."""
        return self.restrictions(sigs).headers_for(host)

    def passthrough(self, host: str) -> bool:
        """Decide at the ClientHello: True to forward the TLS connection without decrypting it."""
        sigs = self.current()
        host = normalize_host(host)
        restrictions = self.restrictions(sigs)
        if restrictions.active and restrictions.applies(host):
            # The policy approves a service on the condition that its sign-in carries these
            # headers: such a host is decrypted even when a passthrough list names it.
            if sigs.policy.is_passthrough(host) and host not in self._passthrough_warned:
                self._passthrough_warned.add(host)
                log.warning("%s is a passthrough host but needs tenant-restriction headers: decrypting it", host)
            return False
        if sigs.policy.is_passthrough(host):
            return True
        if sigs.policy.clinical_media_to_internal == "allow" and self.is_internal_name(sigs, host):
            return True  # nothing to look at there: do not decrypt the hospital's own systems
        return sigs.policy.unknown_ai == "allow" and sigs.catalog.service_for_host(host) is None

    @staticmethod
    def is_internal_name(sigs: SignatureSet, host: str) -> bool:
        """Internal by name or literal address (the catalog wins over a literal address)."""
        zone = sigs.policy.internal
        if zone.name_is_internal(host):
            return True
        return zone.address_is_internal(host) and sigs.catalog.service_for_host(host) is None

    def service_for_host(self, host: str) -> Service | None:
        return self.current().catalog.service_for_host(normalize_host(host))

    def destination(
        self, host: str, method: str, path: str, headers: Mapping[str, str], peer_address: str | None = None
    ) -> Destination:
        """Where a request goes. `path` is the full request target path, query string included:
        some tenants are only named there (AWS presigned WebSocket URLs, `X-Amz-Credential`).
        `peer_address`: the IP the proxy is connected to for this request, when it knows it."""
        sigs = self.current()
        host, service, unknown = self._host_entry(sigs, host)
        if service is None:
            assert unknown is not None
            if not unknown.internal and peer_address and sigs.policy.internal.address_is_internal(peer_address):
                return self._resolved_internal(sigs, unknown)
            return unknown
        status = sigs.policy.status(service, headers, path=path, host=host)  # catalog hosts: the name decides
        endpoint = service.endpoint_for(method, path, host)
        return Destination(host, service, status, endpoint, sigs, self.restrictions(sigs).headers_for(host))

    def _resolved_internal(self, sigs: SignatureSet, public: Destination) -> Destination:
        """An uncatalogued name whose connection goes to an internal address (memoised per host)."""
        key = "\0internal:" + public.host
        entry = self._hosts.get(key)
        if entry is None or entry[2] is None:
            internal = Destination(public.host, None, "unknown", None, sigs, public.tenant_headers, True)
            entry = self._hosts[key] = (public.host, None, internal)
        assert entry[2] is not None
        return entry[2]
