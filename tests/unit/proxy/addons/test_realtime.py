"""Realtime-guard addon: WebSockets to inspected destinations get an audio feed; history is trimmed;
a stream that is never cut is matched behind its messages."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from mitmproxy import http, websocket
from mitmproxy.test import taddons, tflow
from wsproto.frame_protocol import Opcode

from agent.payload.types import PayloadPart
from agent.proxy.addons.realtime import RealtimeGuard
from agent.proxy.addons.routing import Routing
from agent.proxy.decisions import Decisions
from agent.proxy.flows import state_of
from agent.proxy.inspect import PartsResult
from agent.proxy.services import GuardServices
from tests.integration.proxy.harness import APPROVED_HOST, UNAPPROVED_HOST


def _websocket_to(host: str, routing: Routing, realtime: RealtimeGuard) -> http.HTTPFlow:
    """A WebSocket flow to `host`, routed and started as mitmproxy would."""
    flow = tflow.twebsocketflow()
    flow.request.host = host
    flow.request.headers["upgrade"] = "websocket"
    routing.requestheaders(flow)
    realtime.websocket_start(flow)
    return flow


async def test_websocket_start_and_history(services: GuardServices, decisions: Decisions) -> None:
    routing, realtime = Routing(services, decisions), RealtimeGuard(services, decisions)
    with taddons.context(routing, realtime):  # type: ignore[no-untyped-call]
        flow = _websocket_to(UNAPPROVED_HOST, routing, realtime)
        state = state_of(flow)
        assert state is not None
        assert state.realtime is not None, "an inspected destination's stream is fed to RealtimeAudio"
        assert flow.websocket is not None
        assert len(flow.websocket.messages) > 1
        last = flow.websocket.messages[-1]
        pending = realtime.websocket_message(flow)
        if pending is not None:
            await pending
        assert flow.websocket.messages == [last], "history trimmed to the current message"


def _append_message(flow: http.HTTPFlow, seconds: float) -> websocket.WebSocketMessage:
    pcm = bytes(int(seconds * 24000) * 2)
    event = {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}
    message = websocket.WebSocketMessage(Opcode.TEXT, True, json.dumps(event).encode())
    assert flow.websocket is not None
    flow.websocket.messages.append(message)
    return message


async def test_a_stream_that_is_never_cut_is_not_held_while_it_is_matched(
    services: GuardServices, decisions: Decisions, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate, windows = asyncio.Event(), []

    async def slow_match(parts: list[PayloadPart], probe: object = None) -> PartsResult:
        windows.append([part.where for part in parts])
        await gate.wait()
        return PartsResult()

    monkeypatch.setattr(services.inspector, "match", slow_match)
    routing, realtime = Routing(services, decisions), RealtimeGuard(services, decisions)
    with taddons.context(routing, realtime):  # type: ignore[no-untyped-call]
        flow = _websocket_to(APPROVED_HOST, routing, realtime)
        state = state_of(flow)
        assert state is not None
        assert state.realtime is not None
        assert not state.dest.can_block
        for _ in range(2):
            message = _append_message(flow, 3.5)
            pending = realtime.websocket_message(flow)
            assert pending is not None
            await asyncio.wait_for(pending, 5)  # returns while the match waits at the gate
            assert not message.dropped
        check = state.audit_check
        assert check is not None
        assert not check.done()
        gate.set()
        await asyncio.wait_for(check, 5)
        assert len(windows) == 2, "each due window is matched, one after the other"
        assert all(where[0] == "ws:audio-window" for where in windows)
