"""Upload-guard addon: hold bodies to blockable destinations, inspect them, enforce."""

from __future__ import annotations

from mitmproxy.test import taddons

from agent.proxy.addons.routing import Routing
from agent.proxy.addons.uploads import UploadGuard
from agent.proxy.decisions import Decisions
from agent.proxy.flows import Phase, state_of
from agent.proxy.services import GuardServices
from tests.integration.proxy.harness import APPROVED_HOST, UNAPPROVED_HOST
from tests.unit.proxy.addons.conftest import request_flow


async def test_phases_and_inline_inspection(services: GuardServices, decisions: Decisions) -> None:
    routing, guard = Routing(services, decisions), UploadGuard(services, decisions)
    with taddons.context(routing, guard):  # type: ignore[no-untyped-call]
        held = request_flow(UNAPPROVED_HOST, body=b"not media at all", content_type="application/octet-stream")
        after = request_flow(APPROVED_HOST, body=b"not media", content_type="application/octet-stream")
        chunked = request_flow(UNAPPROVED_HOST, body=b"not media at all", content_type="audio/wav")
        chunked.request.headers.pop("content-length")
        chunked.request.headers["transfer-encoding"] = "chunked"
        for flow in (held, after, chunked):
            routing.requestheaders(flow)
            guard.requestheaders(flow)
        phases = [state.phase if (state := state_of(flow)) else None for flow in (held, after, chunked)]
        assert phases == [Phase.HOLD, Phase.PENDING, Phase.HOLD]
        assert (chunked.request.host, chunked.request.port) == services.sink.address, "may stream: into the sink"

        pending = guard.request(chunked)
        assert pending is not None, "a held body is inspected before it leaves"
        await pending
        assert chunked.response is None
        assert (chunked.request.host, chunked.request.port) == (UNAPPROVED_HOST, 443), "allowed: pointed back"
        assert guard.request(after) is None, "approved: forwarded at once"
        await guard.drain()

        oversize = request_flow(UNAPPROVED_HOST, body=b"x", content_type="audio/wav")
        oversize.request.headers["content-length"] = str(3 << 30)
        oversize.request.stream = True
        routing.requestheaders(oversize)
        guard.requestheaders(oversize)
        state = state_of(oversize)
        assert state is not None
        assert state.phase is Phase.BLOCKED
        assert "inspection limit" in (state.block_reason or "")
