"""Judge an upload body: extract, fingerprint, join its session or split stream, decide.

`UploadInspection.inspect` is the expensive path the upload guard takes only for bodies that
need it: decoded and extracted once (`agent.proxy.prepare`, off the loop when large), media
parts matched in the inspection pool, chunks of a resumable upload reassembled per session
(`agent.proxy.resumable`), small binary pieces of a split recording joined per stream
(`agent.proxy.pieces`), unknown binary leaves probed for AI destinations (`agent.proxy.probing`),
and the verdict (`agent.policy.verdict`) recorded through `Decisions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from urllib.parse import parse_qsl

from mitmproxy import http

from agent.payload import Extraction, PayloadPart
from agent.payload.joining import EOCD_TAIL, MIN_TEXT_PIECE, join_kind, ready_to_open, text_piece_of
from agent.payload.walker import nothing_to_extract
from agent.policy.verdict import Verdict, decide_upload
from agent.proxy.decisions import Decisions
from agent.proxy.derived import derivative_for
from agent.proxy.flows import FlowState, body_prefix_of, facts_for
from agent.proxy.inspect import InspectionBusy, InspectionTimeout, PartsResult
from agent.proxy.pieces import StreamKey, piece_of
from agent.proxy.prepare import INLINE_EXTRACT_BYTES, Prepared, prepare_upload
from agent.proxy.probing import ProbePolicy, unread_leaves
from agent.proxy.resumable import ChunkRequest, SessionFlag, UploadSession, identify_chunk
from agent.proxy.services import GuardServices

MAX_ERROR_TEXT = 300
TEXT_STREAM = "#base64"
"""Appended to the destination of a stream of base64 pieces (kept apart from binary pieces)."""
MAX_CONTAINERS_SHOWN = 8


def chunk_of(state: FlowState) -> ChunkRequest | None:
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
        # else: none of the chunked-upload protocols (agent.proxy.resumable)
    return state.chunk


def query_of(path: str) -> dict[str, str]:
    _, _, query = path.partition("?")
    return dict(parse_qsl(query, keep_blank_values=True)) if query else {}


def declared_length(headers: Mapping[str, str]) -> int | None:
    text = headers.get("content-length", "").strip()
    return int(text) if text.isdigit() else None


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


def refuse_flagged_session(
    decisions: Decisions, flow: http.HTTPFlow, state: FlowState, flag: SessionFlag, chunk: ChunkRequest
) -> None:
    verdict = Verdict("block", f"this upload already sent clinical media (incident {flag.incident})", True)
    details: dict[str, object] = {"session": chunk.protocol, "first_incident": flag.incident}
    decisions.block(flow, state, verdict, details=details, asset_id=flag.asset_id)


def _starts_archive(piece: tuple[StreamKey, bytes | memoryview]) -> bool:
    return join_kind(bytes(piece[1][:512])) is not None


def _continues_archive(piece: tuple[StreamKey, bytes | memoryview], prepared: Prepared | None) -> bool:
    """Whether this request's piece can be the rest of an archive cut in pieces: nothing in it
    was recognised as media or opened as a container of its own, and it starts no archive. A
    whole file sent next (a recording, a ZIP that opens) is judged alone, not refused as the
    continuation of a failed stream."""
    if prepared is None or prepared.extraction.parts or prepared.extraction.containers:
        return False
    return not _starts_archive(piece)


def _stream_key(flow: http.HTTPFlow, destination: str) -> StreamKey:
    """(client address, destination): whose pieces are joined (agent.proxy.pieces)."""
    peer = flow.client_conn.peername
    return (str(peer[0]) if peer else "?", destination)


class UploadInspection:
    def __init__(self, services: GuardServices, decisions: Decisions) -> None:
        self.services = services
        self.decisions = decisions

    def nothing_to_inspect(self, flow: http.HTTPFlow, state: FlowState) -> bool:
        """Fast path for small plain bodies (API calls, forms): parsed here, and when they hold
        no media and no error and belong to no upload session, the request goes on at once
        (no thread hop, no task, no process lookup)."""
        body = flow.request.raw_content or b""
        if len(body) > INLINE_EXTRACT_BYTES or state.headers.get("content-encoding"):
            return False
        if chunk_of(state) is not None:
            return False
        services = self.services
        content_type = state.headers.get("content-type")
        dest = state.dest
        # Malformed JSON fails closed for AI services; to a host whose requests look ordinary
        # it would pass anyway, so there a media-free body is not even parsed.
        parse = dest.is_catalogued or not services.discovery.believed_ordinary(dest.host)
        if nothing_to_extract(body, content_type, parse=parse) and not self._may_be_text_piece(state, body):
            state.body_prefix = body
            services.counters.inspected += 1
            return True
        prepared = prepare_upload(body, content_type, None, services.limits, services.probe, None)
        state.body_prefix = prepared.body_prefix
        if (
            prepared.extraction.parts
            or prepared.extraction.errors
            or prepared.extraction.encrypted
            or self._may_be_piece(flow, state, prepared)
        ):
            state.prepared = prepared  # inspected in full; not parsed twice
            return False
        services.counters.inspected += 1
        return True

    async def inspect(self, flow: http.HTTPFlow, state: FlowState) -> Verdict:
        """Fingerprint the request body (and its upload session); record and return the verdict."""
        services = self.services
        request = flow.request
        body = request.raw_content or b""
        chunk = chunk_of(state)
        session = services.sessions.open(chunk) if chunk is not None else None
        if session is not None and chunk is not None and session.flagged is not None and state.dest.can_block:
            refuse_flagged_session(self.decisions, flow, state, session.flagged, chunk)
            return Verdict("block", state.block_reason or "", True)
        services.counters.inspected += 1
        errors: list[str] = []
        containers: list[str] = []
        result = PartsResult()
        size = len(body)
        piece: tuple[StreamKey, bytes | memoryview] | None = None
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
            probe = self._probe_policy(flow, state, prepared)
            if session is not None and chunk is not None and not chunk.control:
                parts.extend(self._session_parts(session, chunk, prepared.chunk_bytes, errors))
                if (archive := self._session_archive(session, chunk.final)) is not None:
                    parts.extend(await self._walk_joined(f"session:{chunk.protocol}", archive, probe))
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
                if state.joined_whole and _starts_archive(piece):
                    # The header piece of an archive whose pieces, joined, opened and were read
                    # whole: "cut short" on its own is no failure to inspect.
                    own = set(prepared.extraction.errors)
                    errors = [error for error in errors if error not in own]
            errors.extend(result.errors)
        except (InspectionBusy, InspectionTimeout) as exc:
            errors.append(str(exc))
        ai_likely = False
        if not state.dest.is_catalogued and not state.dest.internal and (errors or result.has_media):
            # Only then does the verdict depend on it (fail closed / record media to AI).
            assessment = services.discovery.assess(
                state.dest.host,
                state.method,
                state.path,
                state.headers,
                body_prefix_of(flow, state, services.limits),
            )
            ai_likely = assessment.ai_likely
        derivative = await derivative_for(services.store, result)  # a `phiwall scrub` copy (agent.proxy.derived)?
        facts = facts_for(
            services, state.dest, result=result, error=_error_text(errors), ai_likely=ai_likely, derivative=derivative
        )
        verdict = decide_upload(facts)
        failed = session.failed if session is not None else None
        if failed is None and piece is not None and _continues_archive(piece, prepared):
            failed = services.pieces.failed(piece[0])
        if failed is not None and not verdict.blocks and state.dest.can_block:
            reason = f"this upload continues one that could not be inspected (incident {failed.incident})"
            verdict = Verdict("block", reason, True)
        details: dict[str, object] = {}
        if session is not None and chunk is not None:
            details.update(session=chunk.protocol, session_chunks=session.chunks, session_bytes=session.received)
        if containers:
            details["containers"] = containers[:MAX_CONTAINERS_SHOWN]  # kinds and entry indexes, no names
        if verdict.blocks:
            if errors and result.match is None:
                services.counters.fail_closed += 1
            self.decisions.block(flow, state, verdict, result=result, payload_size=size, details=details)
        elif verdict.keep:
            if verdict.action == "audit":
                services.counters.audited += 1
            self.decisions.record(flow, state, verdict, result=result, payload_size=size, details=details)
        if session is not None:
            self._settle_session(session, chunk, verdict, result, state)
        if state.piece_key is not None and verdict.blocks and result.match is not None and state.incident is not None:
            services.pieces.flag(state.piece_key, SessionFlag(state.incident, verdict.reason, result.match.asset_id))
        elif piece is not None and state.joined_whole and result.match is None:
            # The archive its pieces made was read whole and holds no clinical media: done with.
            services.pieces.complete(piece[0])
        elif piece is not None and verdict.blocks and errors and state.incident is not None and _starts_archive(piece):
            # An archive's header piece, cut short: failed closed here, and every later piece of
            # the stream is refused too, as a resumable session's (the file never arrives whole),
            # while still joined so that its recording can be named.
            services.pieces.mark_failed(piece[0], SessionFlag(state.incident, verdict.reason))
        services.counters.note_verdict_ms(result.ms)
        return verdict

    def _may_be_text_piece(self, state: FlowState, body: bytes) -> bool:
        """A JSON body to an unapproved AI service that carries one long base64 string: maybe one
        piece of a recording's base64 cut over several requests (decoded, it is no media alone)."""
        dest = state.dest
        if len(body) < MIN_TEXT_PIECE or not (dest.is_catalogued and dest.status == "unapproved"):
            return False
        return self.services.settings.probe_unknown and text_piece_of(body) is not None

    def _may_be_piece(self, flow: http.HTTPFlow, state: FlowState, prepared: Prepared) -> bool:
        """A small binary body to an unapproved AI service may be one piece of a split recording:
        at least `min_piece`, or any size when it continues a stream of pieces (`split`'s last
        piece is as short as the file's remainder, and may hold an archive's end record)."""
        dest = state.dest
        if not (self.services.settings.probe_unknown and dest.is_catalogued and dest.status == "unapproved"):
            return False
        piece = piece_of(prepared.decoded, state.headers.get("content-type"))
        if piece is None:
            return text_piece_of(prepared.decoded) is not None
        return self._is_piece(piece, _stream_key(flow, dest.host))

    def _probe_policy(self, flow: http.HTTPFlow, state: FlowState, prepared: Prepared) -> ProbePolicy | None:
        """Probe by decoding only for uploads to AI services: unapproved catalog services, and
        uncatalogued hosts the shadow classifier takes for AI (asked only for binary bodies)."""
        dest = state.dest
        services = self.services
        settings = services.settings
        if not settings.probe_unknown or not dest.can_block:
            return None
        if dest.is_catalogued:
            ai = dest.status == "unapproved"
        else:
            if len(prepared.decoded) < settings.probe_floor and not prepared.extraction.parts:
                return None
            assessment = self.services.discovery.assess(
                dest.host, state.method, state.path, state.headers, body_prefix_of(flow, state, services.limits)
            )
            ai = assessment.ai_likely
        if not ai:
            return None
        return ProbePolicy(floor=settings.probe_floor, fail_closed=settings.unreadable_binary == "block")

    def _piece(
        self, flow: http.HTTPFlow, state: FlowState, prepared: Prepared, chunk: ChunkRequest | None
    ) -> tuple[StreamKey, bytes | memoryview] | None:
        """This request's file piece and its (client, destination) stream, if it carries one: a
        binary piece, or the one long base64 string of a JSON or text body (its stream's
        destination is marked `TEXT_STREAM`: base64 pieces are joined as text)."""
        if chunk is not None and chunk.offset is not None:
            return None  # offset-addressed chunks are reassembled by their session (resumable.py)
        extraction = prepared.extraction
        if extraction.containers and not extraction.errors and not extraction.encrypted:
            # A whole archive that opened: an upload of its own, not a piece of one. Joined, its
            # entries would be read again behind the next archive's header piece.
            return None
        destination = chunk.key if chunk is not None else state.dest.host
        if chunk is not None:
            piece: bytes | memoryview | None = prepared.chunk_bytes
        else:
            piece = piece_of(prepared.decoded, state.headers.get("content-type"))
            if piece is None and (text := text_piece_of(prepared.decoded)) is not None:
                piece, destination = text.encode("ascii"), destination + TEXT_STREAM
        if piece is None:
            return None
        key = _stream_key(flow, destination)
        return (key, piece) if self._is_piece(piece, key) else None

    def _is_piece(self, piece: bytes | memoryview, key: StreamKey) -> bool:
        joiner = self.services.pieces
        return len(piece) >= joiner.min_piece or (len(piece) > 0 and joiner.continues(key))

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
        if not matched:
            state.piece_key = key
        candidates = joiner.add(key, bytes(data), alone=matched, text=key[1].endswith(TEXT_STREAM))
        if not candidates:
            return None
        parts: list[PayloadPart] = []
        for candidate in candidates:
            if candidate.walk:
                parts.extend(await self._walk_joined(candidate.label, candidate.data, probe, state))
            else:
                parts.append(PayloadPart(candidate.label, candidate.data))
        if not parts:
            return None
        if matched:
            state.piece_key = key  # the piece matched alone; the archive's match flags the stream
        return await self.services.inspector.match(parts, probe)

    async def _walk_joined(
        self, label: str, data: bytes, probe: ProbePolicy | None, state: FlowState | None = None
    ) -> list[PayloadPart]:
        """The media (and, for AI destinations, the unread leaves to probe) of an archive joined
        from pieces or chunks, walked by the payload core like a whole upload, in the inspection
        pool. Its errors are not this request's: a join still cut short is an error every time.
        `state.joined_whole` says when the join opened and was read without error."""
        services = self.services
        prepared = await services.inspector.run(
            prepare_upload, data, None, None, services.limits, services.probe, None, weight=len(data)
        )
        extraction = prepared.extraction
        if state is not None and extraction.containers and not extraction.errors and not extraction.encrypted:
            state.joined_whole = True
        leaves = list(extraction.parts)
        if probe is not None:
            leaves.extend(unread_leaves(extraction, probe.floor))
        kind = join_kind(data[:512])
        if kind is not None:
            # Only what the archive holds: when it does not open, the walker's fallbacks (media
            # behind a prefix, signatures anywhere) would read the joined pieces as one blob, and
            # a piece matched on its own would be found again in a join it may not belong to.
            leaves = [part for part in leaves if part.where.startswith(kind)]
        return [replace(part, where=f"{label} > {part.where}") for part in leaves]

    def _refuse_split_piece(self, flow: http.HTTPFlow, state: FlowState, first_incident: str) -> Verdict:
        reason = f"this upload continues one that sent clinical media (incident {first_incident})"
        verdict = Verdict("block", reason, True)
        details: dict[str, object] = {"split_upload": "later piece", "first_incident": first_incident}
        self.decisions.block(flow, state, verdict, details=details)
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

    def _session_archive(self, session: UploadSession, final: bool) -> bytes | None:
        """The session's contiguous bytes when they start an archive or compressed file that can
        be opened now (`agent.payload.joining.ready_to_open`): a ZIP sent in chunks, whose header
        chunk may have come last, is walked once its chunks fit together."""
        prefix = session.prefix
        if session.chunks < 2 or not prefix or (kind := join_kind(bytes(prefix[:512]))) is None:
            return None
        last = final and not session.pending
        if not ready_to_open(
            kind, bytes(prefix[:64]), len(prefix), bytes(prefix[-EOCD_TAIL:]), session.walked, last=last
        ):
            return None
        session.walked = len(prefix)
        return bytes(prefix)

    def _settle_session(
        self,
        session: UploadSession,
        chunk: ChunkRequest | None,
        verdict: Verdict,
        result: PartsResult,
        state: FlowState,
    ) -> None:
        # The last chunk by its range may arrive before others (a header chunk sent last): the
        # upload is complete only when no chunk waits for a gap to fill.
        complete = chunk is not None and chunk.final and not session.pending
        if result.match is None and verdict.blocks and not complete:
            # Failed closed on this chunk alone (a ZIP cut short, compressed bytes no decoder
            # reads): the session's later chunks are still read, so that the chunks can be
            # joined and opened (and the recording named), but each is refused (`failed`).
            if session.failed is None and state.incident is not None:
                session.failed = SessionFlag(state.incident, verdict.reason)
            return
        if result.match is not None or verdict.blocks:
            if session.flagged is None and state.incident is not None:
                session.flagged = SessionFlag(
                    state.incident, verdict.reason, result.match.asset_id if result.match else None
                )
            session.release()
        elif complete:
            session.release()
