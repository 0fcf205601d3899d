"""The organisation's policy overlay on the catalog: what is approved, for which tenants, and
what happens to everything else.

The catalog says what a service IS; the policy says what this hospital ALLOWS. A service's
status is, in order: `blocked` list -> unapproved; `approved` list -> approved (for any account,
or only for the listed tenants); otherwise the catalog's `default_status`. Hosts not in the
catalog are "unknown" and handled by `unknown_ai` (shadow-AI discovery).

Tenants: an approved entry with `tenants` approves only requests that name one of them (a
header such as `OpenAI-Organization`, a path segment, a host label or a credential
fingerprint, as the service's `tenant` rule says). Vendors check those identifiers against the
credential, so a personal account cannot borrow the hospital's org id. For vendor-enforced
restrictions (Microsoft Tenant Restrictions, Google allowed domains) the proxy injects the
headers from `restriction_headers` and the vendor refuses any other tenant at sign-in, so the
service is approved as a whole.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from agent.policy.catalog import Catalog, Category, HostPattern, Identifier, Service, TenantSource
from agent.policy.hosts import HostIndex, normalize_host
from agent.policy.zones import InternalZone, ZoneEntryError, internal_zone, validate_zone_entry

Action = Literal["allow", "audit", "block"]
ServiceStatus = Literal["approved", "unapproved", "unknown"]
UnknownAI = Literal["inspect", "block", "allow"]
InternalAction = Literal["audit", "allow"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApprovedService(_Model):
    service: Identifier
    tenants: tuple[str, ...] | None = Field(
        default=None, description="None: any account; otherwise only requests naming one of these tenants"
    )
    restriction_context: str | None = Field(
        default=None, description="value of {context} in restriction headers (e.g. the Entra directory id)"
    )
    note: str = ""

    @model_validator(mode="after")
    def _non_empty(self) -> ApprovedService:
        if self.tenants is not None and not self.tenants:
            raise ValueError(f"approved service {self.service}: `tenants` is empty (omit it to approve all accounts)")
        return self


class DeidentifiedPolicy(_Model):
    """What happens to de-identified copies made by `phiwall scrub` (derivative assets).

    A service's own entry wins, then its category's, then `default`; hosts that are not in the
    catalog get `default`. The source recording is never affected: it stays clinical media.
    """

    default: Action = Field(default="block", description="derivatives sent to unapproved or unknown AI destinations")
    services: dict[Identifier, Action] = Field(default_factory=dict, description="per catalog service id")
    categories: dict[Category, Action] = Field(default_factory=dict, description="per service category")

    def action(self, service: Service | None) -> Action:
        if service is None:
            return self.default
        return self.services.get(service.id, self.categories.get(service.category, self.default))


class OrgPolicy(_Model):
    organisation: str = ""
    approved: tuple[ApprovedService, ...] = ()
    blocked: tuple[Identifier, ...] = Field(default=(), description="unapproved whatever the catalog default")
    unknown_ai: UnknownAI = Field(
        default="inspect", description="hosts not in the catalog: inspect (classify + fingerprint), block, allow"
    )
    clinical_media_to_unknown: Action = "block"
    clinical_media_to_unapproved: Action = "block"
    default_media_action: Action = Field(
        default="audit", description="media that is not enrolled clinical media, sent to an unapproved service"
    )
    category_actions: dict[Category, Action] = Field(
        default_factory=dict, description="per category override of default_media_action"
    )
    encrypted_containers: Literal["block", "allow"] = Field(
        default="block",
        description="encrypted archives and PDFs cannot be inspected: block = fail closed for unapproved AI services",
    )
    passthrough_hosts: tuple[HostPattern, ...] = Field(
        default=(), description="never intercepted (banking, EHR, OS updates, pinned apps)"
    )
    internal_zone: tuple[str, ...] = Field(
        default=(),
        description="the hospital's own destinations (PACS, EHR, file shares): domains (suffix match), "
        "hosts and IP networks (CIDR); see agent.policy.zones",
    )
    internal_private_ranges: bool = Field(
        default=True, description="private, link-local and loopback address ranges are internal"
    )
    clinical_media_to_internal: InternalAction = Field(
        default="audit", description="clinical media sent to an internal destination: audit (recorded) or allow"
    )
    deidentified: DeidentifiedPolicy = Field(
        default_factory=DeidentifiedPolicy,
        description="de-identified copies (`phiwall scrub` derivatives): allow | audit | block per service, "
        "per category, default block; the source recording stays blocked",
    )

    _approved: dict[str, ApprovedService] = PrivateAttr()
    _passthrough: HostIndex[str] = PrivateAttr()
    _internal: InternalZone = PrivateAttr()

    @model_validator(mode="after")
    def _valid_zone(self) -> OrgPolicy:
        for entry in self.internal_zone:
            try:
                validate_zone_entry(entry)
            except ZoneEntryError as exc:
                raise ValueError(str(exc)) from None
        return self

    @model_validator(mode="after")
    def _no_duplicates(self) -> OrgPolicy:
        ids = [a.service for a in self.approved]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"services approved twice: {', '.join(duplicates)}")
        both = sorted(set(ids) & set(self.blocked))
        if both:
            raise ValueError(f"services both approved and blocked: {', '.join(both)}")
        return self

    def model_post_init(self, context: object, /) -> None:
        self._approved = {a.service: a for a in self.approved}
        self._passthrough = HostIndex.build((p, p) for p in self.passthrough_hosts)
        self._internal = internal_zone(self.internal_zone, self.internal_private_ranges)

    @property
    def internal(self) -> InternalZone:
        """The internal zone (agent.policy.zones): destinations where clinical media is only audited."""
        return self._internal

    def status(
        self, service: Service | None, headers: Mapping[str, str], *, path: str = "", host: str = ""
    ) -> ServiceStatus:
        """approved / unapproved for a catalog service, unknown for None.

        `path` and `host` are needed only for services whose tenant is in the path or host.
        """
        if service is None:
            return "unknown"
        if service.id in self.blocked:
            return "unapproved"
        entry = self._approved.get(service.id)
        if entry is None:
            return service.default_status
        if entry.tenants is None:
            return "approved"
        rule = service.tenant
        if rule is None:  # validate_against() rejects this combination in bundles
            return "unapproved"
        if rule.restriction is not None and not rule.sources:
            return "approved"  # the vendor enforces the tenant at sign-in (injected headers)
        seen = tenants_of(service, headers, path=path, host=host)
        return "approved" if any(t in entry.tenants for t in seen) else "unapproved"

    def is_passthrough(self, host: str) -> bool:
        return self._passthrough.lookup(host) is not None

    def media_action(self, service: Service | None) -> Action:
        """Action for media that did not match clinical media, sent to an unapproved service."""
        if service is None:
            return self.default_media_action
        return self.category_actions.get(service.category, self.default_media_action)

    def restriction_headers(self, catalog: Catalog, host: str) -> dict[str, str]:
        """Headers the proxy injects into requests to `host` (vendor-enforced tenant restrictions)."""
        host = normalize_host(host)
        injected: dict[str, str] = {}
        for entry in self.approved:
            service = catalog.service(entry.service)
            if service is None or service.tenant is None or service.tenant.restriction is None:
                continue
            if entry.tenants is None:
                continue
            restriction = service.tenant.restriction
            if HostIndex.build((p, p) for p in restriction.hosts).lookup(host) is None:
                continue
            values = {"tenants": ",".join(entry.tenants), "context": entry.restriction_context or ""}
            for name, template in restriction.headers.items():
                injected[name] = template.format_map(values)
        return injected

    def with_passthrough(self, extra: Iterable[str]) -> OrgPolicy:
        """This policy plus locally configured passthrough hosts (config `proxy.passthrough_hosts`)."""
        extra = tuple(p for p in extra if p not in self.passthrough_hosts)
        if not extra:
            return self
        return OrgPolicy.model_validate({**self.model_dump(), "passthrough_hosts": self.passthrough_hosts + extra})

    def with_internal(self, extra: Iterable[str]) -> OrgPolicy:
        """This policy plus locally configured internal-zone entries (config `zones.internal`)."""
        extra = tuple(e for e in extra if e not in self.internal_zone)
        if not extra:
            return self
        return OrgPolicy.model_validate({**self.model_dump(), "internal_zone": self.internal_zone + extra})

    def validate_against(self, catalog: Catalog) -> list[str]:
        """Problems that make this policy wrong for `catalog` (empty list: consistent)."""
        problems: list[str] = []
        for entry in self.approved:
            service = catalog.service(entry.service)
            if service is None:
                problems.append(f"approved service {entry.service!r} is not in the catalog")
            elif entry.tenants is not None and service.tenant is None:
                problems.append(f"approved service {entry.service!r} lists tenants but has no tenant rule")
            elif entry.restriction_context is not None and (
                service.tenant is None or service.tenant.restriction is None
            ):
                problems.append(f"approved service {entry.service!r} sets restriction_context but has no restriction")
        for service_id in self.blocked:
            if catalog.service(service_id) is None:
                problems.append(f"blocked service {service_id!r} is not in the catalog")
        for service_id in self.deidentified.services:
            if catalog.service(service_id) is None:
                problems.append(f"deidentified: service {service_id!r} is not in the catalog")
        return problems


def credential_fingerprint(secret: str) -> str:
    """The tenant id of a credential: 'sha256:' + 16 hex digits. The policy never holds the secret."""
    return "sha256:" + hashlib.sha256(secret.strip().encode()).hexdigest()[:16]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def _extract(source: TenantSource, headers: Mapping[str, str], path: str, host: str) -> str | None:
    if source.where == "header":
        assert source.header is not None
        value = _header(headers, source.header)
    elif source.where == "path":
        value = path
    else:
        value = normalize_host(host)
    if not value:
        return None
    if source.regex:
        match = re.search(source.regex, value)
        if match is None:
            return None
        value = match.group("tenant")
    value = value.strip()
    if source.strip_prefix and value.lower().startswith(source.strip_prefix.lower()):
        value = value[len(source.strip_prefix) :].strip()
    if not value:
        return None
    return credential_fingerprint(value) if source.fingerprint else value


def tenants_of(service: Service, headers: Mapping[str, str], *, path: str = "", host: str = "") -> list[str]:
    """Tenant ids a request names for `service` (credential values only as fingerprints)."""
    if service.tenant is None:
        return []
    found = []
    for source in service.tenant.sources:
        value = _extract(source, headers, path, host)
        if value is not None:
            found.append(value)
    return found
