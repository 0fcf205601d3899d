"""Response-streaming addon: SSE and large answers stream, small ones stay buffered."""

from __future__ import annotations

from mitmproxy.test import taddons, tutils

from agent.proxy.addons.responses import ResponseStreaming
from agent.proxy.addons.routing import Routing
from agent.proxy.decisions import Decisions
from agent.proxy.services import GuardServices
from tests.unit.proxy.addons.conftest import request_flow


async def test_streaming_choice(services: GuardServices, decisions: Decisions) -> None:
    routing, streaming = Routing(services, decisions), ResponseStreaming(services, decisions)
    with taddons.context(routing, streaming):  # type: ignore[no-untyped-call]
        cases = [
            (((b"content-type", b"text/event-stream"), (b"content-length", b"10")), True),
            (((b"content-type", b"application/json"), (b"content-length", b"100")), False),
            (((b"content-length", b"5000000"),), True),
        ]
        for fields, expected in cases:
            flow = request_flow("example.org", method=b"GET")
            routing.requestheaders(flow)
            flow.response = tutils.tresp(headers=fields, content=None)
            flow.response.stream = False
            streaming.responseheaders(flow)
            assert bool(flow.response.stream) is expected, fields
