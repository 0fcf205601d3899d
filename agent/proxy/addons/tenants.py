"""Tenant headers: set the vendor-enforced tenant-restriction headers the catalog asks for.

Replaces any the client sent; `state.headers` keeps what the client sent, because the shadow
classifier judges the client. Runs for every routed flow, whatever its phase.
"""

from __future__ import annotations

from mitmproxy import http

from agent.proxy.addons.base import FlowAddon
from agent.proxy.addons.failsafe import failsafe
from agent.proxy.flows import state_of


class TenantHeaders(FlowAddon):
    any_phase = True

    @failsafe
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or not state.dest.tenant_headers:
            return
        request = flow.request
        lower = request.is_http2 or request.is_http3  # HTTP/2 forbids upper-case names
        for name, value in state.dest.tenant_headers:
            request.headers[name.lower() if lower else name] = value
        self.services.counters.tenant_restricted += 1
