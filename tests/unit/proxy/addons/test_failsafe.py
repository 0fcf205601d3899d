"""The failsafe wrapper and the composite: a crash blocks AI destinations only; one registry entry."""

from __future__ import annotations

from mitmproxy import http
from mitmproxy.test import taddons

from agent.proxy.addon import PhiWallGuard
from agent.proxy.addons.base import FlowAddon
from agent.proxy.addons.failsafe import failsafe
from agent.proxy.addons.routing import Routing
from agent.proxy.decisions import Decisions
from agent.proxy.flows import Phase, state_of
from agent.proxy.services import GuardServices
from tests.integration.proxy.harness import APPROVED_HOST, UNAPPROVED_HOST
from tests.unit.proxy.addons.conftest import request_flow


class Exploding(FlowAddon):
    @failsafe
    def request(self, flow: http.HTTPFlow) -> None:
        raise ValueError("bug")

    @failsafe
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        raise ValueError("bug")


async def test_a_crash_fails_closed_only_where_it_can_block(services: GuardServices, decisions: Decisions) -> None:
    routing, exploding = Routing(services, decisions), Exploding(services, decisions)
    with taddons.context(routing, exploding):  # type: ignore[no-untyped-call]
        ai = request_flow(UNAPPROVED_HOST, body=b"x" * 10)
        approved = request_flow(APPROVED_HOST, body=b"x" * 10)
        for flow in (ai, approved):
            routing.requestheaders(flow)
            exploding.request(flow)
        ai_state, approved_state = state_of(ai), state_of(approved)
        assert ai_state is not None
        assert approved_state is not None
        assert ai_state.phase is Phase.BLOCKED
        assert "internal error: ValueError" in (ai_state.block_reason or "")
        assert ai.response is not None
        assert ai.response.status_code == 403
        assert approved_state.phase is not Phase.BLOCKED
        assert approved.response is None
        exploding.responseheaders(ai)  # logged, nothing else
        assert services.counters.hook_errors == 3
        assert services.counters.fail_closed == 1


async def test_the_composite_is_the_only_addon_mitmproxy_sees(services: GuardServices) -> None:
    guard = PhiWallGuard(services)
    assert not hasattr(guard, "addons"), "mitmproxy would register nested addons and call every hook twice"
    assert len(guard.chain) >= 12
    order = [type(addon).__name__ for addon in guard.chain]
    assert order[0:3] == ["HandshakeRouting", "PinnedClientReporter", "Routing"]
    # discovery sees the answer that arrived; the 403 is given before the upload guard would inspect
    assert order.index("ShadowObserver") < order.index("BlockAnswer") < order.index("UploadGuard")
    with taddons.context(guard) as tctx:  # type: ignore[no-untyped-call]
        assert tctx.master.addons.get("routing") is None
