"""Per-flow state and the small mitmproxy-facing helpers the guards share."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from enum import Enum

from mitmproxy import http

from agent.payload import ExtractLimits
from agent.payload.encoding import decode_prefix
from agent.policy.derived import DerivedMatch
from agent.policy.verdict import ClinicalMatch, UploadFacts, Verdict
from agent.proxy.answers import block_answer
from agent.proxy.attribution import ClientRef
from agent.proxy.inspect import PartsResult
from agent.proxy.pieces import StreamKey
from agent.proxy.prepare import BODY_PREFIX_BYTES, Prepared
from agent.proxy.realtime import RealtimeAudio
from agent.proxy.recorder import EventDraft
from agent.proxy.resumable import ChunkRequest
from agent.proxy.routing import Destination
from agent.proxy.services import GuardServices

METADATA_KEY = "phiwall"


class Phase(Enum):
    """Where a flow stands; every addon reads it instead of a set of flags.

    HEADERS: the request-headers addons are still deciding (the only phase they act in).
    PENDING: decided at the headers; the request hook may still have work (inspect after).
    HOLD: the body must be inspected before the request may leave (blockable destination).
    PASS: nothing is left to do for the request (no body, streamed through, a WebSocket).
    BLOCKED: refused; `block_reason` and `incident` say why (answered by the answer addon).
    """

    HEADERS = "headers"
    PENDING = "pending"
    HOLD = "hold"
    PASS = "pass"  # noqa: S105 (a phase, not a password)
    BLOCKED = "blocked"


@dataclass
class Target:
    host: str
    port: int
    scheme: bytes


class FlowState:
    """What the addon knows and decided about one flow (kept in `flow.metadata`).

    Created for every request, so construction sets only what every flow has; the rest are
    class-level defaults until a flow that needs them sets its own.
    """

    dest: Destination
    headers: dict[str, str]
    """Request headers, lower-cased names, read once (mitmproxy's `Headers.get` costs ~10 us)."""
    method: str
    path: str
    """Method and request target (query included) as received, decoded once (mitmproxy decodes per access)."""
    started: float
    phase: Phase = Phase.HEADERS
    has_body: bool = False
    original: Target | None = None
    """The real destination while the request is pointed at the drain sink."""
    block_reason: str | None = None
    incident: str | None = None
    sanctioned: bool = False
    """Blocked as clinical media where de-identified copies are accepted: the answer says how."""
    audited: bool = False
    """An audit event was already recorded for this flow (discovery or a realtime stream)."""
    prepared: Prepared | None = None
    """The body's extraction when it was already done on the fast path."""
    chunk_known: bool = False
    chunk: ChunkRequest | None = None
    """The resumable-upload chunk this request carries (agent.proxy.resumable), once `chunk_known`."""
    piece_key: StreamKey | None = None
    """The split-upload stream this request's file piece joined (agent.proxy.pieces), if any."""
    joined_whole: bool = False
    """This request's piece completed an archive whose join opened and was read without error."""
    body_prefix: bytes | None = None
    """The start of the decoded body (at most `BODY_PREFIX_BYTES`), once something needed it."""
    realtime: RealtimeAudio | None = None
    cut: bool = False
    """WebSocket: a match ended this stream; every later client message is dropped."""
    ws_error_recorded: bool = False
    audit_check: asyncio.Task[None] | None = None
    """WebSocket that is never cut: the latest background check (each waits for the one before)."""
    audit_backlog: int = 0

    def __init__(self, dest: Destination, headers: dict[str, str], method: str = "", path: str = "") -> None:
        self.dest = dest
        self.headers = headers
        self.method = method
        self.path = path
        self.started = time.perf_counter()


def lowered(headers: http.Headers) -> dict[str, str]:
    """Headers as a plain dict with lower-case names (the last of repeated headers wins)."""
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in headers.fields}


def state_of(flow: http.HTTPFlow) -> FlowState | None:
    state = flow.metadata.get(METADATA_KEY)
    return state if isinstance(state, FlowState) else None


def body_prefix_of(flow: http.HTTPFlow, state: FlowState, limits: ExtractLimits) -> bytes:
    """The start of the decoded request body, as the shadow classifier reads it (decoded once).

    gzip/br/zstd bodies are decoded with the bounded decoders, stopped after the prefix.
    """
    if state.body_prefix is None:
        if state.prepared is not None:
            state.body_prefix = state.prepared.body_prefix
        else:
            raw = flow.request.raw_content or b""
            state.body_prefix = decode_prefix(raw, state.headers.get("content-encoding"), limits, BODY_PREFIX_BYTES)
    return state.body_prefix


def client_ref(flow: http.HTTPFlow) -> ClientRef:
    peer = flow.client_conn.peername
    sock = flow.client_conn.sockname
    return ClientRef(
        connection_id=flow.client_conn.id,
        client_port=peer[1] if peer else None,
        proxy_port=sock[1] if sock else None,
    )


def path_without_query(flow: http.HTTPFlow) -> str:
    state = state_of(flow)
    path = state.path if state is not None and state.path else flow.request.path
    return path.split("?", 1)[0][:2000]


def redirect_to_sink(flow: http.HTTPFlow, state: FlowState, sink: tuple[str, int]) -> None:
    """Point the request at the drain sink until a verdict allows it (see agent.proxy.sink)."""
    if state.original is None:
        data = flow.request.data
        state.original = Target(data.host, data.port, data.scheme)
        data.host, data.port, data.scheme = sink[0], sink[1], b"http"


def restore_target(flow: http.HTTPFlow, state: FlowState) -> None:
    if state.original is not None:
        data = flow.request.data
        data.host, data.port, data.scheme = state.original.host, state.original.port, state.original.scheme
        state.original = None


def block_response(flow: http.HTTPFlow, reason: str, incident: str) -> http.Response:
    state = state_of(flow)
    headers = state.headers if state is not None else lowered(flow.request.headers)
    accepts_copies = None
    if state is not None and state.sanctioned:
        accepts_copies = state.dest.service.name if state.dest.service is not None else state.dest.host
    answer = block_answer(reason, incident, headers, flow.request.method, accepts_copies=accepts_copies)
    return http.Response.make(answer.status, answer.body, answer.headers)


def facts_for(
    services: GuardServices,
    dest: Destination,
    *,
    result: PartsResult | None = None,
    error: str | None = None,
    ai_likely: bool = False,
    derivative: DerivedMatch | None = None,
) -> UploadFacts:
    policy = dest.signatures.policy
    match = None
    if result is not None and result.match is not None:
        found = result.match
        match = ClinicalMatch(found.asset_id, found.kind, found.score, found.offset_s)
    return UploadFacts(
        status=dest.status,
        service_name=dest.service.name if dest.service else None,
        media_action=policy.media_action(dest.service),
        clinical_to_unapproved=policy.clinical_media_to_unapproved,
        clinical_to_unknown=policy.clinical_media_to_unknown,
        mode=services.settings.mode,
        match=match,
        has_media=bool(result and result.has_media),
        inspection_error=error,
        ai_likely=ai_likely,
        internal=dest.internal,
        clinical_to_internal=policy.clinical_media_to_internal,
        host=dest.host,
        derivative=derivative,
        deidentified=policy.deidentified.action(dest.service),
    )


def draft_for(
    flow: http.HTTPFlow,
    state: FlowState,
    verdict: Verdict,
    *,
    kind: str = "upload",
    result: PartsResult | None = None,
    payload_size: int | None = None,
    details: dict[str, object] | None = None,
) -> EventDraft:
    dest = state.dest
    draft = EventDraft(
        kind=kind,
        verdict=verdict.action,
        reason=verdict.reason,
        host=dest.host,
        path=path_without_query(flow),
        method=flow.request.method[:16],
        service_id=dest.service_id,
        service_category=dest.category,
        payload_size=payload_size,
        details={"status": dest.status, "zone": dest.zone, **(details or {})},
    )
    if state.incident is not None and verdict.blocks:
        draft.id = state.incident
    if result is not None:
        draft.sniffed_types = list(result.sniffed)
        draft.details["media_parts"] = result.media_parts
        draft.details["inspect_ms"] = round(result.ms, 1)
        if result.match is not None:
            draft.asset_id = result.match.asset_id
            draft.match_score = result.match.score
            draft.match_kind = result.match.kind
            draft.match_offset_s = result.match.offset_s
            if result.match.alternatives:
                # The pictures fit these enrolled assets as well: which one it is cannot be told.
                # One comma-separated string: SIEM outputs forward scalar details only.
                draft.details["also_matches"] = ",".join(result.match.alternatives)
            draft.details["matched_part"] = result.matched_where
            if result.matched_sha256:
                draft.details["payload_sha256"] = result.matched_sha256
    if verdict.derivative is not None:
        draft.asset_id = verdict.derivative.asset_id
        draft.details["derivative"] = verdict.derivative.details()
    if verdict.sanctioned:
        draft.details["deidentified_accepted"] = True
    if dest.endpoint is not None:
        draft.details["endpoint"] = dest.endpoint.path
    draft.details["verdict_ms"] = round((time.perf_counter() - state.started) * 1000, 1)
    return draft
