"""`unknown_ai = block`: refuse requests to uncatalogued hosts that look like AI APIs.

Asked twice for requests with a body: at the headers (path and header names only), and once
the body arrived, with its decoded start (JSON keys such as `messages`, `model`). In audit
mode the first match is recorded once and the request passes.
"""

from __future__ import annotations

from mitmproxy import http

from agent.policy.verdict import Verdict
from agent.proxy.addons.base import FlowAddon
from agent.proxy.addons.failsafe import failsafe
from agent.proxy.addons.routing import blocks_unknown_ai
from agent.proxy.flows import FlowState, Phase, body_prefix_of, state_of


class UnknownAIBlock(FlowAddon):
    @failsafe
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is not None and state.phase is Phase.HEADERS and blocks_unknown_ai(state.dest):
            self._judge(flow, state, b"")

    @failsafe
    def request(self, flow: http.HTTPFlow) -> None:
        """The body arrived: classify again with what the body says."""
        state = state_of(flow)
        if state is None or state.phase is Phase.PASS or state.phase is Phase.BLOCKED:
            return
        if not blocks_unknown_ai(state.dest):
            return
        request = flow.request
        if not request.stream and request.raw_content:
            self._judge(flow, state, body_prefix_of(flow, state, self.services.limits))

    def _judge(self, flow: http.HTTPFlow, state: FlowState, body_prefix: bytes) -> None:
        mode = self.services.settings.mode
        if state.audited or mode == "off":
            return
        assessment = self.services.discovery.assess(
            state.dest.host, state.method, state.path, state.headers, body_prefix
        )
        if assessment.action("block") != "block":
            return
        reason = f"AI services outside the catalog are blocked by policy ({assessment.reason or 'looks like AI'})"
        if mode == "audit":
            state.audited = True
            audit = Verdict("audit", f"{reason} (audit mode: not blocked)", True)
            self.decisions.record(flow, state, audit, kind="discovery")
            return
        self.decisions.block(flow, state, Verdict("block", reason, True), kind="discovery")
