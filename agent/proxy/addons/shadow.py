"""Shadow observer: every answered flow feeds the shadow-AI inventory (agent.proxy.discovery).

Catalogued services are counted; requests to other (non-internal, inspected) hosts are
counted, and a sample of them is classified, once the answer's first bytes arrived when it
has a body worth reading (`ResponseTap`: the chunks reach the client unchanged meanwhile).
"""

from __future__ import annotations

from mitmproxy import http

from agent.payload.encoding import decode_prefix
from agent.proxy.addons.base import FlowAddon
from agent.proxy.addons.failsafe import failsafe
from agent.proxy.flows import FlowState, body_prefix_of, state_of
from agent.proxy.inspection import declared_length
from agent.proxy.response_tap import ResponseTap, worth_tapping
from agent.shadow.sample import FlowSample
from agent.shadow.shape import MAX_RESPONSE_PREFIX


def answer_has_body(method: str, response: http.Response) -> bool:
    """A response whose body can tell discovery something (mitmproxy calls a stream function
    only for responses that have a body: a HEAD answer, 204, 304 or an explicit empty body
    never would, so those are classified at their headers)."""
    if method == "HEAD" or response.status_code in (204, 304) or response.status_code < 200:
        return False
    if response.headers.get("content-length", "").strip() == "0":
        return False
    return worth_tapping(response.headers.get("content-type", ""))


class ShadowObserver(FlowAddon):
    @failsafe
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        state = state_of(flow)
        if response is None or state is None:
            return
        dest = state.dest
        services = self.services
        discovery = services.discovery
        process = services.attribution.cached(flow.client_conn.id)
        blocked = state.block_reason is not None
        if dest.service is not None:
            discovery.observe_catalogued(
                dest.host, dest.service.id, dest.service.category, dest.status, process, blocked
            )
            return
        if dest.inspect_mode == "none" or dest.internal:  # the hospital's own hosts are never AI
            return
        if not discovery.count_unless_sampled(dest.host, process, blocked):
            return
        sample = self._sample(flow, state, response, blocked)
        if blocked or not answer_has_body(state.method, response):
            discovery.classify(sample, process)
            return
        # Classify once the answer's first bytes arrived (its key skeleton), copying no more
        # than RESPONSE_TAP_BYTES.
        encoding = response.headers.get("content-encoding")
        limits = services.limits

        def with_answer(raw: bytes) -> None:
            discovery.classify(sample.with_answer(decode_prefix(raw, encoding, limits, MAX_RESPONSE_PREFIX)), process)

        response.stream = ResponseTap(with_answer)

    def _sample(self, flow: http.HTTPFlow, state: FlowState, response: http.Response, blocked: bool) -> FlowSample:
        return FlowSample(
            host=state.dest.host,
            method=state.method,
            path=state.path,
            headers=state.headers,
            body_prefix=body_prefix_of(flow, state, self.services.limits),
            response_headers=response.headers,
            body_size=declared_length(state.headers) if not flow.request.stream else None,
            blocked=blocked,
        )
