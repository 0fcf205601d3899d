"""WebRTC-signalling addon: an SDP offer to an unapproved AI service is refused at its headers."""

from __future__ import annotations

from mitmproxy.test import taddons

from agent.proxy.addons.routing import Routing
from agent.proxy.addons.webrtc import WebRtcSignalling
from agent.proxy.decisions import Decisions
from agent.proxy.flows import Phase, state_of
from agent.proxy.services import GuardServices
from tests.integration.proxy.harness import APPROVED_HOST, UNAPPROVED_HOST
from tests.unit.proxy.addons.conftest import request_flow

OFFER = b"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"


async def test_sdp_offers(services: GuardServices, decisions: Decisions) -> None:
    routing, webrtc = Routing(services, decisions), WebRtcSignalling(services, decisions)
    with taddons.context(routing, webrtc):  # type: ignore[no-untyped-call]
        refused = request_flow(UNAPPROVED_HOST, body=OFFER, content_type="application/sdp")
        allowed = request_flow(APPROVED_HOST, body=OFFER, content_type="application/sdp")
        json_body = request_flow(UNAPPROVED_HOST, body=b"{}", content_type="application/json")
        for flow in (refused, allowed, json_body):
            routing.requestheaders(flow)
            webrtc.requestheaders(flow)
        states = [state_of(flow) for flow in (refused, allowed, json_body)]
        assert [state.phase if state else None for state in states] == [Phase.BLOCKED, Phase.PENDING, Phase.HEADERS]
        assert states[0] is not None
        assert "WebRTC" in (states[0].block_reason or "")
        assert services.counters.blocked == 1
