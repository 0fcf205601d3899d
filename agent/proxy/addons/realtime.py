"""Realtime guard: WebSocket audio to AI services, fingerprinted as it streams, cut on a match.

Every client message of a WebSocket to an inspected destination is fed to its
`RealtimeAudio`; every few seconds of new audio the rolling window (last 10 s) is matched
against the enrolled prints in the inspection pool. A clinical match on a blockable
destination drops the message, drops everything the client sends afterwards, tells the
client why (an OpenAI-style `error` event) and closes the connection. Audio that passed
before the window became recognisable is what a streaming check cannot prevent: a few
seconds, reported in the event (`audio_s_before_cut`).

A stream that is never cut (an approved service, an audit-only policy) is not held while it
is matched: its messages pass at once and the checks run behind them, one after another
(at most `MAX_AUDIT_BACKLOG` waiting), until the stream's audit event is recorded. A busy
machine then delays the audit, not the clinician's dictation.

mitmproxy keeps every message of a WebSocket in `flow.websocket.messages`; for hours-long
streams that is unbounded, so the list is trimmed to the current message on every hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Coroutine
from typing import Any

from mitmproxy import ctx, http

from agent.payload.types import PayloadPart, PcmFormat
from agent.policy.verdict import Verdict, decide_upload
from agent.proxy.addons.base import FlowAddon
from agent.proxy.addons.failsafe import drop, failsafe, finish
from agent.proxy.flows import FlowState, Phase, client_ref, draft_for, facts_for, state_of
from agent.proxy.inspect import InspectionBusy, InspectionTimeout, PartsResult
from agent.proxy.realtime import RealtimeAudio, format_from_url
from agent.proxy.routing import Destination

log = logging.getLogger(__name__)

OFFLOAD_BYTES = 256 << 10
SMALL_UNKNOWN_MESSAGE = 1024
DEFAULT_PCM = PcmFormat(sample_rate=24000)
MAX_AUDIT_BACKLOG = 4  # background checks one stream that is never cut may have waiting


def default_pcm(dest: Destination, query: str) -> PcmFormat:
    """The audio format until the stream says otherwise: catalog endpoint, URL parameters, 24 kHz."""
    base = DEFAULT_PCM
    shape = dest.endpoint.stream if dest.endpoint is not None else None
    if shape is not None and shape.pcm is not None:
        base = PcmFormat(shape.pcm.sample_rate, shape.pcm.channels, shape.pcm.sample_format)
    return format_from_url(query, base)


def close_connection(flow: http.HTTPFlow) -> bool:
    """Close both sides of a live WebSocket (mitmproxy has no public API for it: issue #4773)."""
    addons: Any = ctx.master.addons
    proxyserver: Any = addons.get("proxyserver")
    handler = getattr(proxyserver, "connections", {}).get(flow.client_conn.id)
    transports = getattr(handler, "transports", None)
    if not transports:
        return False
    for io in list(transports.values()):
        writer = getattr(io, "writer", None)
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
    return True


def error_event(reason: str, incident: str) -> bytes:
    message = f"PhiWall blocked this audio stream: {reason}. Incident {incident}."
    return json.dumps(
        {
            "type": "error",
            "error": {"type": "phiwall_blocked", "code": "phiwall_blocked", "message": message, "incident": incident},
        }
    ).encode()


class RealtimeGuard(FlowAddon):
    @failsafe
    def websocket_start(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.dest.inspect_mode == "none":
            return
        query = flow.request.path.partition("?")[2]
        state.realtime = RealtimeAudio(default_pcm(state.dest, query), self.services.probe)

    @failsafe
    def websocket_message(self, flow: http.HTTPFlow) -> Coroutine[None, None, None] | None:
        """Trim the history; returns a coroutine only for messages that need inspecting."""
        assert flow.websocket is not None
        messages = flow.websocket.messages
        message = messages[-1]
        if len(messages) > 1:
            del messages[:-1]
        state = state_of(flow)
        if state is None or state.realtime is None or not message.from_client:
            return None
        if state.cut:
            drop(message)
            return None
        if not state.dest.is_catalogued and message.is_text and len(message.content) < SMALL_UNKNOWN_MESSAGE:
            return None
        return self._inspect_message(flow, state, message)

    async def _inspect_message(self, flow: http.HTTPFlow, state: FlowState, message: Any) -> None:
        content = message.content
        audio = state.realtime
        assert audio is not None
        if len(content) > OFFLOAD_BYTES:
            feed = await self.services.inspector.run(audio.feed, content, message.is_text)
        else:
            feed = audio.feed(content, message.is_text)
        if feed.error is not None and state.dest.can_block:
            drop(message)
            self._undecodable(flow, state, feed.error)
            return
        if not state.dest.can_block:
            self._audit_behind(flow, state, audio, feed.parts)
            return
        for result in await self._run(self._jobs(audio, feed.parts)):
            if result.match is None and not result.errors:
                continue
            if self._decide(flow, state, result):
                drop(message)
                return

    def _audit_behind(
        self, flow: http.HTTPFlow, state: FlowState, audio: RealtimeAudio, parts: list[PayloadPart]
    ) -> None:
        """Match a stream that is never cut in the background, after the checks already queued.

        The jobs are taken now, as the blocking path would take them; at most
        `MAX_AUDIT_BACKLOG` wait, later windows are skipped until the backlog drains.
        """
        if state.audited or state.audit_backlog >= MAX_AUDIT_BACKLOG:
            return
        jobs = self._jobs(audio, parts)
        if not jobs:
            return
        previous = state.audit_check
        state.audit_backlog += 1

        async def check() -> None:
            try:
                if previous is not None:
                    await previous
                if state.audited:
                    return
                for result in await self._run(jobs):
                    if result.match is not None or result.errors:
                        self._decide(flow, state, result)
            finally:
                state.audit_backlog -= 1

        state.audit_check = asyncio.get_running_loop().create_task(
            finish(self.decisions, "websocket_message", flow, check())
        )

    def _jobs(self, audio: RealtimeAudio, parts: list[PayloadPart]) -> list[list[PayloadPart]]:
        """What this message makes due: its own parts, the audio window, the container stream."""
        jobs: list[list[PayloadPart]] = []
        if parts:
            jobs.append(parts)
        if audio.due():
            window, rate = audio.take_window()
            # The declared rate first; then other plausible rates in turn (a lying `session.update`),
            # in the same job, which stops at the first match.
            job = [PayloadPart("ws:audio-window", window, None, PcmFormat(rate))]
            job += [
                PayloadPart(f"ws:audio-window@{other}Hz", window, None, PcmFormat(other))
                for other in audio.next_alternate_rates(self.services.settings.guess_realtime_rates)
            ]
            jobs.append(job)
        if audio.container_mode and audio.container_due():
            jobs.append([PayloadPart("ws:container-stream", audio.take_container())])
        return jobs

    async def _run(self, jobs: list[list[PayloadPart]]) -> list[PartsResult]:
        results = []
        for job in jobs:
            try:
                results.append(await self.services.inspector.match(job))
            except (InspectionBusy, InspectionTimeout) as exc:
                results.append(PartsResult(errors=[str(exc)]))
        return results

    def _decide(self, flow: http.HTTPFlow, state: FlowState, result: PartsResult) -> bool:
        """Apply the verdict for one check; True when the stream was cut."""
        error = "; ".join(result.errors)[:300] if result.match is None else None
        if error and not state.dest.can_block:
            return False
        verdict = decide_upload(facts_for(self.services, state.dest, result=result, error=error))
        audio = state.realtime
        details: dict[str, object] = {"transport": "websocket"}
        if audio is not None:
            details.update(audio_s_before_cut=round(audio.total_audio_s, 1), messages=audio.messages)
        if verdict.blocks:
            self._cut(flow, state, verdict, result, details)
            return True
        if verdict.keep and not state.audited:
            state.audited = True
            self.services.counters.audited += verdict.action == "audit"
            draft = draft_for(flow, state, verdict, result=result, details=details)
            self.services.recorder.record(draft, client_ref(flow))
        return False

    def _cut(
        self, flow: http.HTTPFlow, state: FlowState, verdict: Verdict, result: PartsResult, details: dict[str, object]
    ) -> None:
        services = self.services
        draft = draft_for(flow, state, verdict, result=result, details=details)
        state.incident = draft.id
        state.block_reason = verdict.reason
        state.phase = Phase.BLOCKED
        state.cut = True
        services.counters.blocked += 1
        services.counters.websocket_cuts += 1
        services.recorder.record(draft, client_ref(flow))
        ctx.master.commands.call("inject.websocket", flow, True, error_event(verdict.reason, draft.id), True)
        asyncio.get_running_loop().call_later(0.2, close_connection, flow)

    def _undecodable(self, flow: http.HTTPFlow, state: FlowState, error: str) -> None:
        if state.ws_error_recorded:
            return
        state.ws_error_recorded = True
        self.services.counters.fail_closed += 1
        verdict = Verdict("block", f"a realtime audio message could not be decoded ({error}); it was dropped", True)
        draft = draft_for(flow, state, verdict, details={"transport": "websocket"})
        self.services.recorder.record(draft, client_ref(flow))
