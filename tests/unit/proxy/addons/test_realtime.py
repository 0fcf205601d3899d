"""Realtime-guard addon: WebSockets to inspected destinations get an audio feed; history is trimmed."""

from __future__ import annotations

from mitmproxy.test import taddons, tflow

from agent.proxy.addons.realtime import RealtimeGuard
from agent.proxy.addons.routing import Routing
from agent.proxy.decisions import Decisions
from agent.proxy.flows import state_of
from agent.proxy.services import GuardServices
from tests.integration.proxy.harness import UNAPPROVED_HOST


async def test_websocket_start_and_history(services: GuardServices, decisions: Decisions) -> None:
    routing, realtime = Routing(services, decisions), RealtimeGuard(services, decisions)
    with taddons.context(routing, realtime):  # type: ignore[no-untyped-call]
        flow = tflow.twebsocketflow()
        flow.request.host = UNAPPROVED_HOST
        flow.request.headers["upgrade"] = "websocket"
        routing.requestheaders(flow)
        realtime.websocket_start(flow)
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
