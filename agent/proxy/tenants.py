"""Vendor-enforced tenant restrictions: the headers the proxy adds to requests to sign-in hosts.

Microsoft Entra Tenant Restrictions (`Restrict-Access-To-Tenants`, `Restrict-Access-Context`),
Google's `X-GoogApps-Allowed-Domains` and Microsoft's `restrict-msa` make the vendor refuse
sign-in to any tenant but the listed ones. That is what lets the organisation policy approve
such a service "for our tenants" as a whole, so the headers must reach the vendor on every
request to those hosts, whatever the client sent (a client's own header of the same name is
replaced).

Which headers go to which host is the signatures' business (`SignatureSet.injected_headers`,
from the catalog's `tenant.restriction` and the policy's approved tenants). This module makes
asking cheap: a signature set whose policy restricts nothing costs one attribute test per
request; otherwise a per-host memo answers, and only hosts covered by a restriction pattern
ever reach the signatures' own lookup.
"""

from __future__ import annotations

from agent.policy.hosts import HostIndex
from agent.updates.active import SignatureSet

HeaderPairs = tuple[tuple[str, str], ...]
NONE: HeaderPairs = ()
MEMO_HOSTS = 8192


def restricted_host_patterns(signatures: SignatureSet) -> list[str]:
    """Host patterns that can receive restriction headers under this policy.

    The same condition as `OrgPolicy.restriction_headers`: an approved entry that lists
    tenants, for a service whose tenant rule has a restriction.
    """
    patterns: list[str] = []
    for entry in signatures.policy.approved:
        if entry.tenants is None:
            continue
        service = signatures.catalog.service(entry.service)
        if service is None or service.tenant is None or service.tenant.restriction is None:
            continue
        patterns.extend(p for p in service.tenant.restriction.hosts if p not in patterns)
    return patterns


class TenantRestrictions:
    """The restriction headers of one signature set, looked up per (normalised) host."""

    def __init__(self, signatures: SignatureSet) -> None:
        self.signatures = signatures
        patterns = restricted_host_patterns(signatures)
        self.active = bool(patterns)
        """False when this policy restricts no tenant: nothing to inject anywhere."""
        self._hosts: HostIndex[bool] = HostIndex.build((pattern, True) for pattern in patterns)
        self._memo: dict[str, HeaderPairs] = {}

    def applies(self, host: str) -> bool:
        """Whether requests to `host` get headers (so its TLS must be decrypted, not passed through)."""
        return self.active and bool(self.headers_for(host))

    def headers_for(self, host: str) -> HeaderPairs:
        """The (name, value) pairs to set on a request to `host` (normalised); () for most hosts."""
        if not self.active:
            return NONE
        found = self._memo.get(host)
        if found is None:
            found = NONE
            if self._hosts.lookup(host) is not None:
                found = tuple(self.signatures.injected_headers(host).items())
            if len(self._memo) >= MEMO_HOSTS:
                self._memo.clear()  # a browsing-heavy week: start over rather than grow
            self._memo[host] = found
        return found
