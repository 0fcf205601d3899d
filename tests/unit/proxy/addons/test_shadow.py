"""Shadow-observer addon: uncatalogued answered flows are sampled into FlowSamples and classified."""

from __future__ import annotations

import json

from mitmproxy.test import taddons, tutils

from agent.proxy.addons.routing import Routing
from agent.proxy.addons.shadow import ShadowObserver
from agent.proxy.decisions import Decisions
from agent.proxy.response_tap import ResponseTap
from agent.proxy.services import GuardServices
from tests.unit.proxy.addons.conftest import request_flow

CHAT = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()


async def test_samples_are_classified_at_the_answer(services: GuardServices, decisions: Decisions) -> None:
    routing, observer = Routing(services, decisions), ShadowObserver(services, decisions)
    discovery = services.discovery
    with taddons.context(routing, observer):  # type: ignore[no-untyped-call]
        empty = request_flow("llm.example", path=b"/v1/chat/completions", body=CHAT, content_type="application/json")
        routing.requestheaders(empty)
        empty.response = tutils.tresp(status_code=204, headers=(), content=b"")
        observer.responseheaders(empty)
        assert discovery.classified == 1, "no answer body: classified at the headers"

        tapped = request_flow("llm.example", path=b"/v1/chat/completions", body=CHAT, content_type="application/json")
        routing.requestheaders(tapped)
        tapped.response = tutils.tresp(
            headers=((b"content-type", b"application/json"), (b"content-length", b"40")), content=None
        )
        observer.responseheaders(tapped)
        tap = tapped.response.stream
        assert isinstance(tap, ResponseTap), "an answer with a body is classified once its first bytes arrive"
        assert discovery.classified == 1
        tap(b'{"id": "x", "choices": [{"message": {}}]}')
        tap(b"")
        assert discovery.classified == 2
