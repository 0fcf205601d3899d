"""Block-answer addon: blocked flows get PhiWall's 403, also behind the drain sink."""

from __future__ import annotations

import json

from mitmproxy.test import taddons, tutils

from agent.policy.verdict import Verdict
from agent.proxy.addons.answer import BlockAnswer
from agent.proxy.addons.routing import Routing
from agent.proxy.decisions import Decisions
from agent.proxy.flows import state_of
from agent.proxy.services import GuardServices
from tests.integration.proxy.harness import UNAPPROVED_HOST
from tests.unit.proxy.addons.conftest import request_flow


async def test_blocked_flows_are_answered(services: GuardServices, decisions: Decisions) -> None:
    routing, answer = Routing(services, decisions), BlockAnswer(services, decisions)
    with taddons.context(routing, answer):  # type: ignore[no-untyped-call]
        flow = request_flow(UNAPPROVED_HOST, body=b"x" * 10)
        routing.requestheaders(flow)
        answer.request(flow)
        assert flow.response is None, "not blocked: not answered"
        state = state_of(flow)
        assert state is not None
        decisions.block(flow, state, Verdict("block", "test reason", True))
        answer.request(flow)
        assert flow.response is not None
        assert flow.response.status_code == 403
        assert json.loads(flow.response.content or b"{}")["error"]["incident"] == state.incident

        streamed = request_flow(UNAPPROVED_HOST, body=b"x" * 10)
        routing.requestheaders(streamed)
        streamed_state = state_of(streamed)
        assert streamed_state is not None
        streamed.request.stream = True
        decisions.block(streamed, streamed_state, Verdict("block", "too large", True))
        answer.request(streamed)
        assert streamed.response is None, "a streamed body is answered at the sink's response"
        streamed.response = tutils.tresp(status_code=403, headers=((b"X-PhiWall-Sink", b"1"),), content=b"{}")
        answer.responseheaders(streamed)
        stream = streamed.response.stream
        assert callable(stream)
        assert stream(b"drained") == b""
        assert json.loads(stream(b""))["error"]["incident"] == streamed_state.incident
