"""WebRTC signalling to catalogued services: its media channel cannot be inspected, so the
SDP offer is judged as an uninspectable channel (refused for unapproved AI services)."""

from __future__ import annotations

from mitmproxy import http

from agent.policy.verdict import decide_uninspectable_channel
from agent.proxy.addons.base import FlowAddon
from agent.proxy.addons.failsafe import failsafe
from agent.proxy.flows import Phase, state_of

SDP_TYPES = ("application/sdp",)
DETAILS: dict[str, object] = {"transport": "webrtc-signalling"}


class WebRtcSignalling(FlowAddon):
    @failsafe
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.phase is not Phase.HEADERS or not state.has_body:
            return
        dest = state.dest
        if not dest.is_catalogued:
            return
        content_type = state.headers.get("content-type", "").lower()
        endpoint_says = dest.endpoint is not None and dest.endpoint.transport == "webrtc-signalling"
        if not (content_type.startswith(SDP_TYPES) or endpoint_says):
            return
        verdict = decide_uninspectable_channel(dest.status, "a WebRTC media session", mode=self.services.settings.mode)
        if verdict.blocks:
            self.decisions.block(flow, state, verdict, details=dict(DETAILS))
            return
        if verdict.keep:
            self.decisions.record(flow, state, verdict, details=dict(DETAILS))
        state.phase = Phase.PENDING  # decided; a body to an inspect-after destination is still fingerprinted
