"""Unknown-AI addon: `unknown_ai = block` refuses AI-looking requests to uncatalogued hosts only."""

from __future__ import annotations

import json
from pathlib import Path

from mitmproxy.test import taddons

from agent.proxy.addons.routing import Routing
from agent.proxy.addons.unknown_ai import UnknownAIBlock
from agent.proxy.decisions import Decisions
from agent.proxy.flows import Phase, state_of
from tests.unit.proxy.addons.conftest import open_services, request_flow

CHAT = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}).encode()


async def test_ai_looking_requests_are_refused(tmp_path: Path) -> None:
    services = await open_services(tmp_path, unknown_ai="block")
    decisions = Decisions(services)
    routing, unknown = Routing(services, decisions), UnknownAIBlock(services, decisions)
    try:
        with taddons.context(routing, unknown):  # type: ignore[no-untyped-call]
            chat = request_flow("llm.example", path=b"/v1/chat/completions", body=CHAT, content_type="application/json")
            page = request_flow("news.example", method=b"GET", path=b"/index.html")
            for flow in (chat, page):
                routing.requestheaders(flow)
                unknown.requestheaders(flow)
                unknown.request(flow)
            chat_state, page_state = state_of(chat), state_of(page)
            assert chat_state is not None
            assert page_state is not None
            assert chat_state.phase is Phase.BLOCKED
            assert "outside the catalog" in (chat_state.block_reason or "")
            assert page_state.block_reason is None
    finally:
        await services.stop()
        services.close()
