"""Routing addon: builds the flow state and ends ordinary flows' work at once (PASS)."""

from __future__ import annotations

from mitmproxy.test import taddons

from agent.proxy.addons.routing import Routing
from agent.proxy.decisions import Decisions
from agent.proxy.flows import Phase, state_of
from agent.proxy.services import GuardServices
from tests.integration.proxy.harness import UNAPPROVED_HOST
from tests.unit.proxy.addons.conftest import request_flow


async def test_routing_sets_the_phase_each_later_addon_reads(services: GuardServices, decisions: Decisions) -> None:
    routing = Routing(services, decisions)
    with taddons.context(routing):  # type: ignore[no-untyped-call]
        get = request_flow("example.org", method=b"GET")
        routing.requestheaders(get)
        state = state_of(get)
        assert state is not None
        assert state.phase is Phase.PASS, "a body-less request to an ordinary host has nothing left to do"
        assert not state.dest.is_catalogued

        upload = request_flow(UNAPPROVED_HOST, body=b"x" * 10, content_type="audio/wav")
        routing.requestheaders(upload)
        state = state_of(upload)
        assert state is not None
        assert state.phase is Phase.HEADERS
        assert state.has_body
        assert state.dest.service_id == "loopback-scribe"
        assert state.headers["content-type"] == "audio/wav"

        ws = request_flow(UNAPPROVED_HOST, method=b"GET", upgrade="websocket")
        routing.requestheaders(ws)
        state = state_of(ws)
        assert state is not None
        assert state.phase is Phase.PASS, "the realtime guard takes WebSockets over"
        assert services.counters.flows == 3
