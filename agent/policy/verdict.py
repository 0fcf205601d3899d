"""The decision: catalog status + what inspection found + organisation policy -> allow/audit/block.

Pure and small on purpose: no I/O, no mitmproxy, no media decoding. The proxy gathers the
facts (`UploadFacts`, filled from `agent.policy.org.OrgPolicy` and the inspection), this module
applies the rules, and every outcome carries the reason an analyst reads and the client is
shown. The rules, in order:

1. `policy.mode = off` passes everything; `audit` turns every block into an audit.
2. Enrolled clinical media: to the internal zone (the hospital's own systems, agent.policy.zones)
   -> `clinical_media_to_internal` (audit by default, never block); to an approved service ->
   audit; to an unapproved service -> `clinical_media_to_unapproved`; to a public host not in the
   catalog -> `clinical_media_to_unknown` (both block by default).
3. Inspection failed (corrupt media, over the size limit, timeout, saturation): an upload to an
   unapproved AI service (or an uncatalogued public host the shadow classifier calls AI) fails
   closed; elsewhere (internal zone, ordinary public hosts) it is allowed and recorded.
2b. A de-identified derivative of enrolled media (a `phiwall scrub` output, recognised by
   agent.policy.derived): to an approved service -> audit; to any other AI or public destination
   -> the policy's `deidentified` action for the service (block by default). Every such upload
   is recorded with its lineage. A block of the *source* to a destination that accepts
   derivatives says so (`Verdict.sanctioned`), so the answer can point at `phiwall scrub`.
4. Media that is not enrolled: to an unapproved AI service -> the policy's media action for
   the service's category (`default_media_action`, audit by default); to an approved service
   or an ordinary web host it passes and nothing is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from agent.policy.derived import DerivedMatch

Action = Literal["allow", "audit", "block"]
ServiceStatus = Literal["approved", "unapproved", "unknown"]
Mode = Literal["enforce", "audit", "off"]


@dataclass(frozen=True)
class ClinicalMatch:
    """The enrolled asset an upload matched (a projection of agent.media.MediaMatch)."""

    asset_id: str
    kind: str
    score: float
    offset_s: float


@dataclass(frozen=True)
class UploadFacts:
    """Everything the decision depends on, gathered by the proxy for one upload (or one message)."""

    status: ServiceStatus
    service_name: str | None = None
    """Display name of the catalog service, for reasons; None for hosts not in the catalog."""
    media_action: Action = "audit"
    """Policy for media that is not enrolled, sent to this (unapproved) destination."""
    clinical_to_unapproved: Action = "block"
    clinical_to_unknown: Action = "block"
    mode: Mode = "enforce"
    match: ClinicalMatch | None = None
    has_media: bool = False
    inspection_error: str | None = None
    """Why the upload could not be fully inspected; None when inspection completed."""
    ai_likely: bool = False
    """For hosts not in the catalog: the shadow-AI classifier thinks this is an AI service."""
    internal: bool = False
    """The destination is in the internal zone (never blocked)."""
    clinical_to_internal: Literal["audit", "allow"] = "audit"
    host: str = ""
    """The destination host, named in reasons for internal destinations."""
    derivative: DerivedMatch | None = None
    """The match is a de-identified derivative (agent.policy.derived), not its clinical source."""
    deidentified: Action = "block"
    """Policy for derivatives sent to this destination (OrgPolicy.deidentified)."""

    @property
    def ai_destination(self) -> bool:
        """A catalog AI service, or an uncatalogued public host that looks like one."""
        if self.internal:
            return False
        return self.status != "unknown" or self.ai_likely


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: str
    keep: bool
    """Whether this decision is worth an event row."""
    sanctioned: bool = False
    """A clinical source was blocked where de-identified copies are accepted (the answer says so)."""
    derivative: DerivedMatch | None = None
    """The upload was judged as this de-identified derivative (its lineage goes into the event)."""

    @property
    def blocks(self) -> bool:
        return self.action == "block"


def _destination(facts: UploadFacts) -> str:
    if facts.service_name:
        return f"{facts.service_name} ({facts.status})"
    return "an AI service not in the catalog" if facts.ai_likely else "a destination not in the catalog"


def _decide_internal(facts: UploadFacts) -> Verdict:
    """The hospital's own destinations: never blocked; clinical media audited when asked."""
    where = f"internal destination {facts.host}".strip()
    if facts.match is not None:
        matched = f"enrolled clinical {facts.match.kind} (score {facts.match.score:.2f})"
        return Verdict(facts.clinical_to_internal, f"{matched} sent to {where}", facts.clinical_to_internal == "audit")
    if facts.inspection_error is not None:
        return Verdict("allow", f"upload to {where} could not be inspected: {facts.inspection_error}", False)
    return Verdict("allow", "no enrolled clinical media", False)


def _decide_derivative(facts: UploadFacts, derivative: DerivedMatch) -> Verdict:
    """A de-identified copy: the destination's `deidentified` action (approved services: audit)."""
    assert facts.match is not None
    how = "exact copy" if derivative.exact else f"score {facts.match.score:.2f}"
    copy = f"de-identified copy of enrolled clinical {facts.match.kind} (scrub lineage {derivative.lineage_id}, {how})"
    if facts.status == "approved":
        reason = f"{copy} sent to approved service {facts.service_name or ''}".strip()
        return Verdict("audit", reason, True, derivative=derivative)
    where = _destination(facts)
    action = facts.deidentified
    if action == "block":
        reason = f"{copy} may not be sent to {where} (policy deidentified: block)"
        return Verdict("block", reason, True, derivative=derivative)
    return Verdict(action, f"{copy} sent to {where} (policy deidentified: {action})", True, derivative=derivative)


def _decide(facts: UploadFacts) -> Verdict:
    if facts.internal:
        return _decide_internal(facts)
    where = _destination(facts)
    if facts.match is not None:
        if facts.derivative is not None:
            return _decide_derivative(facts, facts.derivative)
        matched = f"enrolled clinical {facts.match.kind} (score {facts.match.score:.2f})"
        if facts.status == "approved":
            return Verdict("audit", f"{matched} sent to approved service {facts.service_name or ''}".strip(), True)
        action = facts.clinical_to_unapproved if facts.status == "unapproved" else facts.clinical_to_unknown
        if action == "block":
            sanctioned = facts.deidentified != "block" and facts.ai_destination
            return Verdict("block", f"{matched} may not be sent to {where}", True, sanctioned=sanctioned)
        return Verdict(action, f"{matched} sent to {where}", True)
    if facts.inspection_error is not None:
        if facts.status == "unapproved" or (facts.status == "unknown" and facts.ai_likely):
            return Verdict("block", f"upload to {where} could not be inspected: {facts.inspection_error}", True)
        # Worth keeping for AI services and for media; a malformed body to an ordinary web host is noise.
        keep = facts.has_media or facts.status != "unknown"
        return Verdict("allow", f"upload to {where} could not be inspected: {facts.inspection_error}", keep)
    if facts.has_media and facts.status != "approved" and facts.ai_destination:
        action = facts.media_action
        if action == "block":
            return Verdict("block", f"media uploads to {where} are blocked by policy", True)
        return Verdict(action, f"media sent to {where} is not enrolled clinical media", True)
    return Verdict("allow", "no enrolled clinical media", False)


def decide_upload(facts: UploadFacts) -> Verdict:
    """The verdict for one upload, after the organisation's enforcement mode is applied."""
    if facts.mode == "off":
        return Verdict("allow", "policy mode is off", False)
    verdict = _decide(facts)
    if facts.mode == "audit" and verdict.blocks:
        return Verdict("audit", f"{verdict.reason} (audit mode: not blocked)", True, derivative=verdict.derivative)
    return verdict


def decide_uninspectable_channel(status: ServiceStatus, what: str, *, mode: Mode = "enforce") -> Verdict:
    """Channels we cannot look into (WebRTC media, a pinned client's TLS): closed unless approved."""
    if mode == "off" or status == "approved":
        return Verdict("allow", f"{what} to an approved service", status == "approved" and mode != "off")
    verdict = Verdict("block", f"{what} cannot be inspected and the destination is not approved", True)
    if mode == "audit":
        return Verdict("audit", f"{verdict.reason} (audit mode: not blocked)", True)
    return verdict
