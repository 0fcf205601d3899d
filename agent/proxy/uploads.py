"""HTTP uploads: decide at the request headers what a flow needs, inspect the body, enforce.

Per request, from the cheapest to the most expensive path:

- not an upload, or a destination policy does not inspect: stream the body through
  (no buffering, no added latency);
- an approved service: forward at once, fingerprint in the background, audit clinical media;
- a blockable destination (unapproved service, uncatalogued host): point the request at the
  drain sink while undecided, let mitmproxy buffer the body (at most `max_inspect_mb`),
  extract and fingerprint it off the loop, then either answer 403 or point it back at the
  real server. A body announced larger than the limit is decided at the headers (fail
  closed) and drained into the sink without being buffered; a chunked body that outgrows
  the limit ends up in the sink the same way.

Chunked/resumable uploads are reassembled per session (agent.proxy.resumable); WebRTC
signalling to unapproved AI services is refused (its media channel cannot be inspected).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from functools import partial
from urllib.parse import parse_qsl

from mitmproxy import http
from mitmproxy.proxy.mode_specs import UpstreamMode

from agent.payload import Extraction, PayloadPart
from agent.payload.encoding import decode_prefix
from agent.payload.walker import nothing_to_extract
from agent.policy.verdict import Verdict, decide_uninspectable_channel, decide_upload
from agent.proxy.derived import derivative_for
from agent.proxy.flows import (
    FlowState,
    Phase,
    block_response,
    client_ref,
    draft_for,
    facts_for,
    lowered,
    redirect_to_sink,
    restore_target,
    state_of,
)
from agent.proxy.inspect import InspectionBusy, InspectionTimeout, PartsResult
from agent.proxy.pieces import StreamKey, piece_of
from agent.proxy.prepare import BODY_PREFIX_BYTES, INLINE_EXTRACT_BYTES, Prepared, prepare_upload
from agent.proxy.probing import ProbePolicy, unread_leaves
from agent.proxy.response_tap import ResponseTap, worth_tapping
from agent.proxy.resumable import ChunkRequest, SessionFlag, UploadSession, identify_chunk
from agent.proxy.services import GuardServices
from agent.proxy.sink import SINK_MARK_HEADER
from agent.proxy.tenants import HeaderPairs
from agent.shadow.shape import MAX_RESPONSE_PREFIX

log = logging.getLogger(__name__)

BODY_METHODS = {"POST", "PUT", "PATCH"}
SDP_TYPES = ("application/sdp",)
MAX_ERROR_TEXT = 300
MAX_CONTAINERS_SHOWN = 8
STREAM_RESPONSES_OVER = 1 << 20


def connected_address(flow: http.HTTPFlow) -> str | None:
    """The server address this request goes to, when mitmproxy already connected (else None).

    With the lazy connection strategy only a request on a connection that is already open has
    one. Behind an upstream proxy the peer is that proxy, not the destination: not used then.
    """
    peer = flow.server_conn.peername
    if not peer or isinstance(flow.client_conn.proxy_mode, UpstreamMode):
        return None
    return str(peer[0])


def may_have_body(request: http.Request, headers: Mapping[str, str]) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    if "transfer-encoding" in headers:
        return True
    # HTTP/2 and HTTP/3 bodies need no length header.
    return bool(request.is_http2 or request.is_http3) and request.method.upper() in BODY_METHODS


def _answer_has_body(method: str, response: http.Response) -> bool:
    """A response whose body can tell discovery something (mitmproxy calls a stream function
    only for responses that have a body: a HEAD answer, 204, 304 or an explicit empty body
    never would, so those are classified at their headers)."""
    if method == "HEAD" or response.status_code in (204, 304) or response.status_code < 200:
        return False
    if response.headers.get("content-length", "").strip() == "0":
        return False
    return worth_tapping(response.headers.get("content-type", ""))


def worth_streaming(fields: tuple[tuple[bytes, bytes], ...]) -> bool:
    """Server-sent events, and bodies without a length or over `STREAM_RESPONSES_OVER`.

    One pass over the raw header fields (mitmproxy's `Headers.get` lower-cases every name on
    every call); names are compared only when their length fits.
    """
    length = None
    for name, value in fields:
        size = len(name)
        if size == 14:
            if name.lower() == b"content-length":
                length = value
        elif size == 12 and name.lower() == b"content-type" and value.lstrip().startswith(b"text/event-stream"):
            return True
    if length is None:
        return True
    length = length.strip()
    return not length.isdigit() or int(length) > STREAM_RESPONSES_OVER


class _ReplacedBody:
    """A `Response.stream` function that drops what the server sends and ends with `body`."""

    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body

    def __call__(self, chunk: bytes) -> bytes:
        if chunk or self._body is None:
            return b""  # the sink's body
        body, self._body = self._body, None
        return body  # mitmproxy calls with b"" once the server's body ended


def framed_within(request: http.Request, headers: Mapping[str, str], limit: int) -> bool:
    """An HTTP/1 body whose Content-Length (at most `limit`) frames it: mitmproxy buffers it whole.

    mitmproxy streams a request body only when it is announced or grows beyond
    `stream_large_bodies` (= the limit); HTTP/1 framing stops a body at its Content-Length.
    """
    if request.is_http2 or request.is_http3 or "transfer-encoding" in headers:
        return False
    length = declared_length(headers)
    return length is not None and length <= limit


def declared_length(headers: Mapping[str, str]) -> int | None:
    text = headers.get("content-length", "").strip()
    return int(text) if text.isdigit() else None


def query_of(path: str) -> dict[str, str]:
    _, _, query = path.partition("?")
    return dict(parse_qsl(query, keep_blank_values=True)) if query else {}


def encrypted_errors(extraction: Extraction, policy_action: str) -> list[str]:
    """Encrypted archives and PDFs cannot be inspected: with the policy's `block` (the default)
    they count as an inspection failure, which fails closed for unapproved AI services."""
    if policy_action != "block" or not extraction.encrypted:
        return []
    return [f"encrypted container ({path})" for path in extraction.encrypted]


def _error_text(errors: list[str]) -> str | None:
    if not errors:
        return None
    text = "; ".join(dict.fromkeys(errors))
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 3] + "..."


class UploadGuard:
    def __init__(self, services: GuardServices) -> None:
        self.services = services
        self._background: set[asyncio.Task[None]] = set()

    # --- request headers: route and decide early ---------------------------------------------

    def on_requestheaders(self, flow: http.HTTPFlow) -> None:
        services = self.services
        services.counters.flows += 1
        request = flow.request
        headers = lowered(request.headers)
        method, path = request.method, request.path
        dest = services.router.destination(request.host, method, path, headers, connected_address(flow))
        state = FlowState(dest, headers, method, path)
        flow.metadata["phiwall"] = state
        if dest.tenant_headers:
            self._restrict_tenants(request, dest.tenant_headers)
        if "upgrade" in headers and headers["upgrade"].lower() == "websocket":
            state.phase = Phase.PASS
            return
        has_body = may_have_body(request, headers)
        if has_body and dest.is_catalogued and self._is_webrtc_signalling(flow, state):
            return
        if (
            not dest.is_catalogued
            and not dest.internal
            and dest.signatures.policy.unknown_ai == "block"
            and self._shadow_block(flow, state)
        ):
            return
        mode = dest.inspect_mode
        if not has_body or mode == "none":
            if has_body:
                request.stream = True
            state.phase = Phase.PASS  # the request hook has nothing to do for this flow
            return
        chunk = self._chunk_of(flow, state)
        if chunk is not None and mode == "inline":
            session = services.sessions.get(chunk.key)
            if session is not None and session.flagged is not None:
                self._refuse_flagged_session(flow, state, session.flagged, chunk)
                return
        if request.stream:
            # mitmproxy streams bodies announced larger than stream_large_bodies (= the limit).
            self._oversize(flow, state, declared_length(headers))
            return
        if mode == "inline":
            state.phase = Phase.HOLD
            if not framed_within(request, headers, services.settings.max_inspect_bytes) and self._ai_looking(state):
                # The body could end up streamed (chunked, HTTP/2): until a verdict, it can only
                # stream into the drain sink. An HTTP/1 body of a known length within the limit is
                # always buffered whole before the request hook, so it needs no detour.
                assert services.sink.address is not None
                redirect_to_sink(flow, state, services.sink.address)

    def _ai_looking(self, state: FlowState) -> bool:
        """A catalog AI service, or an uncatalogued host whose request (so far) looks like an AI API.

        Only these fail closed when an upload is too large to inspect, so only their unframed
        bodies wait in the drain sink; a large upload to an ordinary host streams through once
        it outgrows the limit (small ones are still buffered and inspected whole).
        """
        dest = state.dest
        if dest.internal:
            return False
        if dest.is_catalogued:
            return True
        assessment = self.services.discovery.assess(dest.host, state.method, state.path, state.headers)
        return assessment.ai_likely

    def _restrict_tenants(self, request: http.Request, headers: HeaderPairs) -> None:
        """Set vendor-enforced tenant-restriction headers, replacing any the client sent.

        `state.headers` keeps what the client sent: the shadow classifier judges the client.
        """
        lower = request.is_http2 or request.is_http3  # HTTP/2 forbids upper-case names
        for name, value in headers:
            request.headers[name.lower() if lower else name] = value
        self.services.counters.tenant_restricted += 1

    def _chunk_of(self, flow: http.HTTPFlow, state: FlowState) -> ChunkRequest | None:
        """The chunk of a resumable upload this request carries (looked up once per flow)."""
        if not state.chunk_known:
            state.chunk_known = True
            headers, target = state.headers, state.path
            if (
                "/uploads/" in target
                or "x-goog-upload-command" in headers
                or "tus-resumable" in headers
                or "content-range" in headers
            ):
                path = target.split("?", 1)[0]
                state.chunk = identify_chunk(state.method, state.dest.host, path, query_of(target), headers)
            else:
                state.chunk = None  # none of the chunked-upload protocols (agent.proxy.resumable)
        return state.chunk

    def body_prefix(self, flow: http.HTTPFlow, state: FlowState) -> bytes:
        """The start of the decoded request body, as the shadow classifier reads it (decoded once).

        gzip/br/zstd bodies are decoded with the bounded decoders, stopped after the prefix.
        """
        if state.body_prefix is None:
            if state.prepared is not None:
                state.body_prefix = state.prepared.body_prefix
            else:
                raw = flow.request.raw_content or b""
                encoding = state.headers.get("content-encoding")
                state.body_prefix = decode_prefix(raw, encoding, self.services.limits, BODY_PREFIX_BYTES)
        return state.body_prefix

    def _is_webrtc_signalling(self, flow: http.HTTPFlow, state: FlowState) -> bool:
        dest = state.dest
        content_type = state.headers.get("content-type", "").lower()
        endpoint_says = dest.endpoint is not None and dest.endpoint.transport == "webrtc-signalling"
        if not (content_type.startswith(SDP_TYPES) or endpoint_says) or not dest.is_catalogued:
            return False
        verdict = decide_uninspectable_channel(dest.status, "a WebRTC media session", mode=self.services.settings.mode)
        if verdict.blocks:
            self._block(flow, state, verdict, details={"transport": "webrtc-signalling"})
        elif verdict.keep:
            self._record(flow, state, verdict, details={"transport": "webrtc-signalling"})
        return True

    def _shadow_block(self, flow: http.HTTPFlow, state: FlowState, body_prefix: bytes = b"") -> bool:
        """`unknown_ai = block`: refuse requests to uncatalogued hosts that look like AI APIs.

        Asked twice for requests with a body: at the headers (path and header names only), and
        once the body arrived, with its decoded start (JSON keys such as `messages`, `model`).
        """
        if state.audited or self.services.settings.mode == "off":
            return False
        assessment = self.services.discovery.assess(
            state.dest.host, state.method, state.path, state.headers, body_prefix
        )
        if assessment.action("block") != "block":
            return False
        reason = f"AI services outside the catalog are blocked by policy ({assessment.reason or 'looks like AI'})"
        if self.services.settings.mode == "audit":
            state.audited = True
            self._record(flow, state, Verdict("audit", f"{reason} (audit mode: not blocked)", True), kind="discovery")
            return False
        self._block(flow, state, Verdict("block", reason, True), kind="discovery")
        return True

    def _second_look(self, flow: http.HTTPFlow, state: FlowState) -> None:
        """`unknown_ai = block`, body arrived: classify again with what the body says."""
        request = flow.request
        if request.stream:
            return
        if request.raw_content:
            self._shadow_block(flow, state, self.body_prefix(flow, state))

    def _refuse_flagged_session(
        self, flow: http.HTTPFlow, state: FlowState, flag: SessionFlag, chunk: ChunkRequest
    ) -> None:
        verdict = Verdict("block", f"this upload already sent clinical media (incident {flag.incident})", True)
        details: dict[str, object] = {"session": chunk.protocol, "first_incident": flag.incident}
        self._block(flow, state, verdict, details=details, asset_id=flag.asset_id)

    def _oversize(self, flow: http.HTTPFlow, state: FlowState, size: int | None) -> None:
        limit_mb = self.services.settings.max_inspect_bytes >> 20
        shown = f"{size / (1 << 20):.0f} MB" if size is not None else f"more than {limit_mb} MB"
        error = f"upload of {shown} exceeds the {limit_mb} MB inspection limit"
        dest = state.dest
        if dest.inspect_mode == "after":
            where = "internal destination" if dest.internal else "approved service"
            name = dest.host if dest.internal else dest.service_id
            verdict = Verdict("audit", f"upload to {where} {name} not inspected: {error}", True)
            self._record(flow, state, verdict, payload_size=size)
            return
        ai_likely = not dest.is_catalogued and self._ai_looking(state)
        verdict = decide_upload(facts_for(self.services, dest, error=error, ai_likely=ai_likely))
        if flow.request.stream and state.original is not None and not verdict.blocks:
            # The body already went to the drain sink (chunked upload that outgrew the limit):
            # it cannot be forwarded any more, so it is refused whatever the destination.
            verdict = Verdict("block", f"{verdict.reason}; it could not be forwarded once buffering stopped", True)
        if verdict.blocks:
            self.services.counters.fail_closed += 1
            self._block(flow, state, verdict, payload_size=size)
        elif verdict.keep:
            self._record(flow, state, verdict, payload_size=size)

    # --- request (body read): inspect and enforce ---------------------------------------------

    def on_request(self, flow: http.HTTPFlow) -> Coroutine[None, None, None] | None:
        """Enforce what is decided; returns a coroutine only when the body must be inspected
        first (mitmproxy awaits it), so ordinary requests cost no task switch."""
        state = state_of(flow)
        if state is None or state.phase is Phase.PASS:
            return None
        request = flow.request
        dest = state.dest
        if (
            state.block_reason is None
            and not dest.is_catalogued
            and not dest.internal
            and dest.signatures.policy.unknown_ai == "block"
        ):
            self._second_look(flow, state)
        if state.block_reason is not None:
            if not request.stream:
                assert state.incident is not None
                flow.response = block_response(flow, state.block_reason, state.incident)
            return None
        mode = dest.inspect_mode
        if mode == "inline" and state.phase is Phase.HOLD:
            if request.stream:
                self._oversize(flow, state, None)
                return None
            if self._nothing_to_inspect(flow, state):
                if state.original is not None:
                    restore_target(flow, state)
                return None
            # Possibly an event: find the sending process while it waits for the answer.
            self.services.attribution.prefetch(client_ref(flow))
            return self._inspect_inline(flow, state)
        if mode == "after" and request.raw_content and not request.stream:
            if self._nothing_to_inspect(flow, state):
                return None
            self.services.attribution.prefetch(client_ref(flow))
            task = asyncio.get_running_loop().create_task(self._inspect_after(flow, state))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return None

    def _nothing_to_inspect(self, flow: http.HTTPFlow, state: FlowState) -> bool:
        """Fast path for small plain bodies (API calls, forms): parsed here, and when they hold
        no media and no error and belong to no upload session, the request goes on at once
        (no thread hop, no task, no process lookup)."""
        body = flow.request.raw_content or b""
        if len(body) > INLINE_EXTRACT_BYTES or state.headers.get("content-encoding"):
            return False
        if self._chunk_of(flow, state) is not None:
            return False
        services = self.services
        content_type = state.headers.get("content-type")
        dest = state.dest
        # Malformed JSON fails closed for AI services; to a host whose requests look ordinary
        # it would pass anyway, so there a media-free body is not even parsed.
        parse = dest.is_catalogued or not services.discovery.believed_ordinary(dest.host)
        if nothing_to_extract(body, content_type, parse=parse):
            state.body_prefix = body
            services.counters.inspected += 1
            return True
        prepared = prepare_upload(body, content_type, None, services.limits, services.probe, None)
        state.body_prefix = prepared.body_prefix
        if (
            prepared.extraction.parts
            or prepared.extraction.errors
            or prepared.extraction.encrypted
            or self._may_be_piece(state, prepared)
        ):
            state.prepared = prepared  # inspected in full; not parsed twice
            return False
        services.counters.inspected += 1
        return True

    async def _inspect_inline(self, flow: http.HTTPFlow, state: FlowState) -> None:
        verdict = await self.inspect(flow, state)
        if verdict.blocks:
            assert state.incident is not None
            flow.response = block_response(flow, verdict.reason, state.incident)
        else:
            restore_target(flow, state)

    async def _inspect_after(self, flow: http.HTTPFlow, state: FlowState) -> None:
        try:
            await self.inspect(flow, state)
        except Exception:
            log.exception("background inspection of an upload to %s failed", state.dest.host)

    async def inspect(self, flow: http.HTTPFlow, state: FlowState) -> Verdict:
        """Fingerprint the request body (and its upload session); record and return the verdict."""
        services = self.services
        request = flow.request
        body = request.raw_content or b""
        chunk = self._chunk_of(flow, state)
        session = services.sessions.open(chunk) if chunk is not None else None
        if session is not None and chunk is not None and session.flagged is not None and state.dest.can_block:
            self._refuse_flagged_session(flow, state, session.flagged, chunk)
            return Verdict("block", state.block_reason or "", True)
        services.counters.inspected += 1
        errors: list[str] = []
        containers: list[str] = []
        result = PartsResult()
        size = len(body)
        arguments = (
            body,
            state.headers.get("content-type"),
            state.headers.get("content-encoding"),
            services.limits,
            services.probe,
            chunk.multipart_field if chunk is not None else None,
        )
        try:
            if state.prepared is not None:
                prepared = state.prepared
            elif len(body) <= INLINE_EXTRACT_BYTES and not state.headers.get("content-encoding"):
                prepared = prepare_upload(*arguments)  # small plain bodies: cheaper than a thread hop
            else:
                prepared = await services.inspector.run(prepare_upload, *arguments, weight=len(body))
            state.body_prefix = prepared.body_prefix
            size = prepared.extraction.decoded_size or size
            errors.extend(prepared.extraction.errors)
            errors.extend(encrypted_errors(prepared.extraction, state.dest.signatures.policy.encrypted_containers))
            containers = prepared.extraction.containers
            parts = list(prepared.extraction.parts)
            if session is not None and chunk is not None and not chunk.control:
                parts.extend(self._session_parts(session, chunk, prepared.chunk_bytes, errors))
            probe = self._probe_policy(flow, state, prepared)
            piece = self._piece(flow, state, prepared, chunk) if probe is not None else None
            if piece is not None and (flag := services.pieces.flagged(piece[0])) is not None:
                return self._refuse_split_piece(flow, state, flag.incident)
            if probe is not None:
                parts.extend(unread_leaves(prepared.extraction, probe.floor))
            result = await services.inspector.match(parts, probe)
            if piece is not None and probe is not None:
                joined = await self._split_upload(state, piece, probe, result.match is not None)
                if joined is not None and joined.match is not None:
                    result = joined
            errors.extend(result.errors)
        except (InspectionBusy, InspectionTimeout) as exc:
            errors.append(str(exc))
        ai_likely = False
        if not state.dest.is_catalogued and not state.dest.internal and (errors or result.has_media):
            # Only then does the verdict depend on it (fail closed / record media to AI).
            assessment = services.discovery.assess(
                state.dest.host, state.method, state.path, state.headers, self.body_prefix(flow, state)
            )
            ai_likely = assessment.ai_likely
        derivative = await derivative_for(services.store, result)  # a `phiwall scrub` copy (agent.proxy.derived)?
        facts = facts_for(
            services, state.dest, result=result, error=_error_text(errors), ai_likely=ai_likely, derivative=derivative
        )
        verdict = decide_upload(facts)
        details: dict[str, object] = {}
        if session is not None and chunk is not None:
            details.update(session=chunk.protocol, session_chunks=session.chunks, session_bytes=session.received)
        if containers:
            details["containers"] = containers[:MAX_CONTAINERS_SHOWN]  # kinds and entry indexes, no names
        if verdict.blocks:
            if errors and result.match is None:
                services.counters.fail_closed += 1
            self._block(flow, state, verdict, result=result, payload_size=size, details=details)
        elif verdict.keep:
            if verdict.action == "audit":
                services.counters.audited += 1
            self._record(flow, state, verdict, result=result, payload_size=size, details=details)
        if session is not None:
            self._settle_session(session, chunk, verdict, result, state)
        if state.piece_key is not None and verdict.blocks and result.match is not None and state.incident is not None:
            services.pieces.flag(state.piece_key, SessionFlag(state.incident, verdict.reason, result.match.asset_id))
        services.counters.note_verdict_ms(result.ms)
        return verdict

    # --- probing and split uploads (agent.proxy.probing, agent.proxy.pieces) --------------------

    def _may_be_piece(self, state: FlowState, prepared: Prepared) -> bool:
        """A small binary body to an unapproved AI service may be one piece of a split recording."""
        dest = state.dest
        if not (self.services.settings.probe_unknown and dest.is_catalogued and dest.status == "unapproved"):
            return False
        piece = piece_of(prepared.decoded, state.headers.get("content-type"))
        return piece is not None and len(piece) >= self.services.pieces.min_piece

    def _probe_policy(self, flow: http.HTTPFlow, state: FlowState, prepared: Prepared) -> ProbePolicy | None:
        """Probe by decoding only for uploads to AI services: unapproved catalog services, and
        uncatalogued hosts the shadow classifier takes for AI (asked only for binary bodies)."""
        dest = state.dest
        settings = self.services.settings
        if not settings.probe_unknown or not dest.can_block:
            return None
        if dest.is_catalogued:
            ai = dest.status == "unapproved"
        else:
            if len(prepared.decoded) < settings.probe_floor and not prepared.extraction.parts:
                return None
            assessment = self.services.discovery.assess(
                dest.host, state.method, state.path, state.headers, self.body_prefix(flow, state)
            )
            ai = assessment.ai_likely
        if not ai:
            return None
        return ProbePolicy(floor=settings.probe_floor, fail_closed=settings.unreadable_binary == "block")

    def _piece(
        self, flow: http.HTTPFlow, state: FlowState, prepared: Prepared, chunk: ChunkRequest | None
    ) -> tuple[StreamKey, bytes | memoryview] | None:
        """This request's file piece and its (client, destination) stream, if it carries one."""
        if chunk is not None and chunk.offset is not None:
            return None  # offset-addressed chunks are reassembled by their session (resumable.py)
        if chunk is not None:
            piece: bytes | memoryview | None = prepared.chunk_bytes
        else:
            piece = piece_of(prepared.decoded, state.headers.get("content-type"))
        if piece is None or len(piece) < self.services.pieces.min_piece:
            return None
        peer = flow.client_conn.peername
        key: StreamKey = (str(peer[0]) if peer else "?", chunk.key if chunk is not None else state.dest.host)
        return key, piece

    async def _split_upload(
        self, state: FlowState, piece: tuple[StreamKey, bytes | memoryview], probe: ProbePolicy, matched: bool
    ) -> PartsResult | None:
        """Add this request's file piece to its stream and match the joined stream (agent.proxy.pieces).

        A piece that `matched` on its own is neither kept nor flags its stream: it is blocked like
        any upload, and later uploads to the destination are judged on their own (joined with the
        stream's other pieces). Only a match that needed the join flags the stream.
        """
        key, data = piece
        joiner = self.services.pieces
        if matched:
            return None
        state.piece_key = key
        candidates = joiner.add(key, bytes(data))
        if not candidates:
            return None
        parts = [PayloadPart(candidate.label, candidate.data) for candidate in candidates]
        return await self.services.inspector.match(parts, probe)

    def _refuse_split_piece(self, flow: http.HTTPFlow, state: FlowState, first_incident: str) -> Verdict:
        reason = f"this upload continues one that sent clinical media (incident {first_incident})"
        verdict = Verdict("block", reason, True)
        details: dict[str, object] = {"split_upload": "later piece", "first_incident": first_incident}
        self._block(flow, state, verdict, details=details)
        return verdict

    def _session_parts(
        self, session: UploadSession, chunk: ChunkRequest, data: bytes | memoryview, errors: list[str]
    ) -> list[PayloadPart]:
        grew = session.add(data, chunk.offset, self.services.sessions.max_bytes)
        if session.overflow:
            errors.append(f"chunked upload exceeds the {self.services.sessions.max_bytes >> 20} MB inspection limit")
            return []
        if grew and session.chunks > 1 and self.services.probe(bytes(session.prefix[:4096])):
            return [PayloadPart(f"session:{chunk.protocol}", bytes(session.prefix))]
        return []

    def _settle_session(
        self,
        session: UploadSession,
        chunk: ChunkRequest | None,
        verdict: Verdict,
        result: PartsResult,
        state: FlowState,
    ) -> None:
        if result.match is not None or verdict.blocks:
            if session.flagged is None and state.incident is not None:
                session.flagged = SessionFlag(
                    state.incident, verdict.reason, result.match.asset_id if result.match else None
                )
            session.release()
        elif chunk is not None and chunk.final:
            session.release()

    # --- responses ----------------------------------------------------------------------------

    def on_responseheaders(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        state = state_of(flow)
        if response is None or state is None:
            return
        self._observe(flow, state, response)
        if state.block_reason is not None:
            if response.headers.get(SINK_MARK_HEADER):
                self._replace_sink_answer(flow, state)
            return
        if response.status_code == 101:
            return  # a WebSocket
        # Nothing inspects response bodies: stream the ones worth streaming (SSE as it is
        # produced, large or open-ended downloads without buffering); small ones stay buffered,
        # which is cheaper per request. A response tapped for discovery already streams.
        if not response.stream and worth_streaming(response.headers.fields):
            response.stream = True

    def _observe(self, flow: http.HTTPFlow, state: FlowState, response: http.Response) -> None:
        """Feed the shadow-AI inventory (catalogued services counted, other hosts classified)."""
        dest = state.dest
        services = self.services
        process = services.attribution.cached(flow.client_conn.id)
        blocked = state.block_reason is not None
        if dest.service is not None:
            services.discovery.observe_catalogued(
                dest.host, dest.service.id, dest.service.category, dest.status, process, blocked
            )
        elif dest.inspect_mode != "none" and not dest.internal:  # the hospital's own hosts are never AI
            discovery = services.discovery
            if not discovery.count_unless_sampled(dest.host, process, blocked):
                return
            classify = partial(
                discovery.classify_uncatalogued,
                dest.host,
                state.method,
                state.path,
                state.headers,
                self.body_prefix(flow, state),
                response.headers,
                declared_length(state.headers) if not flow.request.stream else None,
                process,
                blocked,
            )
            if blocked or not _answer_has_body(state.method, response):
                classify()
                return
            # Classify once the answer's first bytes arrived (its key skeleton), copying no
            # more than RESPONSE_TAP_BYTES; the chunks reach the client unchanged meanwhile.
            encoding = response.headers.get("content-encoding")
            limits = services.limits

            def with_answer(raw: bytes) -> None:
                classify(response_prefix=decode_prefix(raw, encoding, limits, MAX_RESPONSE_PREFIX))

            response.stream = ResponseTap(with_answer)

    def _replace_sink_answer(self, flow: http.HTTPFlow, state: FlowState) -> None:
        """A blocked upload that was streamed into the drain sink: answer with the block answer.

        Done here rather than in a `response` hook (which would cost every request a call): the
        answer's status and headers replace the sink's now, and its body replaces the sink's
        (discarded) body when that ends.
        """
        assert state.block_reason is not None
        assert state.incident is not None
        answer = block_response(flow, state.block_reason, state.incident)
        body = answer.content or b""
        answer.stream = _ReplacedBody(body)
        flow.response = answer

    # --- decisions to events ------------------------------------------------------------------

    def _block(
        self,
        flow: http.HTTPFlow,
        state: FlowState,
        verdict: Verdict,
        *,
        result: PartsResult | None = None,
        payload_size: int | None = None,
        details: dict[str, object] | None = None,
        asset_id: str | None = None,
        kind: str = "upload",
    ) -> None:
        """Mark the flow blocked (answered in `request`, or at `responseheaders` via the sink) and record the event."""
        draft = draft_for(flow, state, verdict, kind=kind, result=result, payload_size=payload_size, details=details)
        if asset_id is not None and draft.asset_id is None:
            draft.asset_id = asset_id
        state.incident = draft.id
        state.block_reason = verdict.reason
        state.sanctioned = verdict.sanctioned
        state.phase = Phase.BLOCKED  # the request hook answers it
        if self.services.sink.address is not None:
            # Whatever happens next (a late switch to streaming), the body can only reach the sink.
            redirect_to_sink(flow, state, self.services.sink.address)
        self.services.counters.blocked += 1
        self.services.recorder.record(draft, client_ref(flow))

    def _record(
        self,
        flow: http.HTTPFlow,
        state: FlowState,
        verdict: Verdict,
        *,
        result: PartsResult | None = None,
        payload_size: int | None = None,
        details: dict[str, object] | None = None,
        kind: str = "upload",
    ) -> None:
        draft = draft_for(flow, state, verdict, kind=kind, result=result, payload_size=payload_size, details=details)
        self.services.recorder.record(draft, client_ref(flow))

    def fail_closed(self, flow: http.HTTPFlow, error: BaseException, *, at_headers: bool) -> None:
        """An exception escaped inspection: block if the destination is blockable, else let it pass."""
        state = state_of(flow)
        if state is None or not state.dest.can_block or state.block_reason is not None:
            if state is not None:
                restore_target(flow, state)
            return
        self.services.counters.fail_closed += 1
        verdict = Verdict("block", f"the upload could not be inspected (internal error: {type(error).__name__})", True)
        self._block(flow, state, verdict, details={"internal_error": type(error).__name__})
        if not at_headers and not flow.request.stream:
            assert state.incident is not None
            flow.response = block_response(flow, verdict.reason, state.incident)

    async def drain(self) -> None:
        if self._background:
            await asyncio.wait(list(self._background), timeout=10)
