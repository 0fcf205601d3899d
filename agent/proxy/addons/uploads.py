"""The upload guard: decide at the headers what a body needs, inspect it, enforce the verdict.

From the cheapest to the most expensive path (earlier addons already routed the flow and may
have blocked it):

- no body, or a destination policy does not inspect: stream the body through (no buffering);
- an approved service or an internal host ("after"): forward at once, fingerprint in the
  background, audit clinical media;
- a blockable destination ("inline"): while undecided, a body that could stream is pointed at
  the drain sink; mitmproxy buffers it (at most `max_inspect_mb`); `UploadInspection` judges
  it and the request is either answered 403 or pointed back at the real server. A body
  announced larger than the limit is decided at the headers (fail closed) and drained into
  the sink without being buffered; a chunked body that outgrows the limit ends up there too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping

from mitmproxy import http

from agent.policy.verdict import Verdict, decide_upload
from agent.proxy.addons.base import FlowAddon
from agent.proxy.addons.failsafe import failsafe
from agent.proxy.decisions import Decisions
from agent.proxy.flows import (
    FlowState,
    Phase,
    block_response,
    client_ref,
    facts_for,
    redirect_to_sink,
    restore_target,
    state_of,
)
from agent.proxy.inspection import UploadInspection, declared_length
from agent.proxy.services import GuardServices

log = logging.getLogger(__name__)


def framed_within(request: http.Request, headers: Mapping[str, str], limit: int) -> bool:
    """An HTTP/1 body whose Content-Length (at most `limit`) frames it: mitmproxy buffers it whole.

    mitmproxy streams a request body only when it is announced or grows beyond
    `stream_large_bodies` (= the limit); HTTP/1 framing stops a body at its Content-Length.
    """
    if request.is_http2 or request.is_http3 or "transfer-encoding" in headers:
        return False
    length = declared_length(headers)
    return length is not None and length <= limit


class UploadGuard(FlowAddon):
    def __init__(self, services: GuardServices, decisions: Decisions) -> None:
        super().__init__(services, decisions)
        self.inspection = UploadInspection(services, decisions)
        self._background: set[asyncio.Task[None]] = set()

    # --- request headers ----------------------------------------------------------------------

    @failsafe
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.phase is not Phase.HEADERS:
            return
        request = flow.request
        mode = state.dest.inspect_mode
        if not state.has_body or mode == "none":
            if state.has_body:
                request.stream = True
            state.phase = Phase.PASS  # the request hook has nothing to do for this flow
            return
        state.phase = Phase.PENDING
        if request.stream:
            # mitmproxy streams bodies announced larger than stream_large_bodies (= the limit).
            self._oversize(flow, state, declared_length(state.headers))
            return
        if mode == "inline":
            state.phase = Phase.HOLD
            limit = self.services.settings.max_inspect_bytes
            if not framed_within(request, state.headers, limit) and self._ai_looking(state):
                # The body could end up streamed (chunked, HTTP/2): until a verdict, it can only
                # stream into the drain sink. An HTTP/1 body of a known length within the limit is
                # always buffered whole before the request hook, so it needs no detour.
                assert self.services.sink.address is not None
                redirect_to_sink(flow, state, self.services.sink.address)

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

    def _oversize(self, flow: http.HTTPFlow, state: FlowState, size: int | None) -> None:
        limit_mb = self.services.settings.max_inspect_bytes >> 20
        shown = f"{size / (1 << 20):.0f} MB" if size is not None else f"more than {limit_mb} MB"
        error = f"upload of {shown} exceeds the {limit_mb} MB inspection limit"
        dest = state.dest
        if dest.inspect_mode == "after":
            where = "internal destination" if dest.internal else "approved service"
            name = dest.host if dest.internal else dest.service_id
            verdict = Verdict("audit", f"upload to {where} {name} not inspected: {error}", True)
            self.decisions.record(flow, state, verdict, payload_size=size)
            return
        ai_likely = not dest.is_catalogued and self._ai_looking(state)
        verdict = decide_upload(facts_for(self.services, dest, error=error, ai_likely=ai_likely))
        if flow.request.stream and state.original is not None and not verdict.blocks:
            # The body already went to the drain sink (chunked upload that outgrew the limit):
            # it cannot be forwarded any more, so it is refused whatever the destination.
            verdict = Verdict("block", f"{verdict.reason}; it could not be forwarded once buffering stopped", True)
        if verdict.blocks:
            self.services.counters.fail_closed += 1
            self.decisions.block(flow, state, verdict, payload_size=size)
        elif verdict.keep:
            self.decisions.record(flow, state, verdict, payload_size=size)

    # --- request (body read) ------------------------------------------------------------------

    @failsafe
    def request(self, flow: http.HTTPFlow) -> Coroutine[None, None, None] | None:
        """Returns a coroutine only when the body must be inspected first (mitmproxy awaits it),
        so ordinary requests cost no task switch."""
        state = state_of(flow)
        if state is None:
            return None
        phase = state.phase
        request = flow.request
        inspection = self.inspection
        if phase is Phase.HOLD:
            if request.stream:
                self._oversize(flow, state, None)
                return None
            if inspection.nothing_to_inspect(flow, state):
                if state.original is not None:
                    restore_target(flow, state)
                return None
            # Possibly an event: find the sending process while it waits for the answer.
            self.services.attribution.prefetch(client_ref(flow))
            return self._inspect_inline(flow, state)
        if phase is Phase.PENDING and state.dest.inspect_mode == "after" and request.raw_content and not request.stream:
            if inspection.nothing_to_inspect(flow, state):
                return None
            self.services.attribution.prefetch(client_ref(flow))
            task = asyncio.get_running_loop().create_task(self._inspect_after(flow, state))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return None

    async def _inspect_inline(self, flow: http.HTTPFlow, state: FlowState) -> None:
        verdict = await self.inspection.inspect(flow, state)
        if verdict.blocks:
            assert state.incident is not None
            flow.response = block_response(flow, verdict.reason, state.incident)
        else:
            restore_target(flow, state)

    async def _inspect_after(self, flow: http.HTTPFlow, state: FlowState) -> None:
        try:
            await self.inspection.inspect(flow, state)
        except Exception:
            log.exception("background inspection of an upload to %s failed", state.dest.host)

    async def drain(self) -> None:
        if self._background:
            await asyncio.wait(list(self._background), timeout=10)
