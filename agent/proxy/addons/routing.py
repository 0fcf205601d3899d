"""Routing: the first request-headers hook. Where does this request go, and is there work at all?

It builds the flow's `FlowState` (destination, lower-cased headers, method, target) and ends
the flow's work at once when nothing later can apply: a WebSocket upgrade (the realtime addon
takes over), or a request without a body that no `unknown_ai = block` policy looks at. That
is the hot path for ordinary browsing: one routing lookup, one small object, one phase.
"""

from __future__ import annotations

from collections.abc import Mapping

from mitmproxy import http
from mitmproxy.proxy.mode_specs import UpstreamMode

from agent.proxy.addons.base import FlowAddon
from agent.proxy.addons.failsafe import failsafe
from agent.proxy.flows import METADATA_KEY, FlowState, Phase, lowered
from agent.proxy.routing import Destination

BODY_METHODS = {"POST", "PUT", "PATCH"}


def connected_address(flow: http.HTTPFlow) -> str | None:
    """The server address this request goes to, when mitmproxy already connected (else None).

    With the lazy connection strategy only a request on a connection that is already open has
    one. Behind an upstream proxy the peer is that proxy, not the destination: not used then.
    """
    peer = flow.server_conn.peername
    if not peer or isinstance(flow.client_conn.proxy_mode, UpstreamMode):
        return None
    return str(peer[0])


def may_have_body(request: http.Request, headers: Mapping[str, str]) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    if "transfer-encoding" in headers:
        return True
    # HTTP/2 and HTTP/3 bodies need no length header.
    return bool(request.is_http2 or request.is_http3) and request.method.upper() in BODY_METHODS


def blocks_unknown_ai(dest: Destination) -> bool:
    """`unknown_ai = block` applies: an uncatalogued, non-internal host under that policy."""
    return not dest.is_catalogued and not dest.internal and dest.signatures.policy.unknown_ai == "block"


class Routing(FlowAddon):
    any_phase = True

    @failsafe
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        services = self.services
        services.counters.flows += 1
        request = flow.request
        headers = lowered(request.headers)
        method, path = request.method, request.path
        dest = services.router.destination(request.host, method, path, headers, connected_address(flow))
        state = FlowState(dest, headers, method, path)
        flow.metadata[METADATA_KEY] = state
        if "upgrade" in headers and headers["upgrade"].lower() == "websocket":
            state.phase = Phase.PASS
            return
        state.has_body = may_have_body(request, headers)
        if not state.has_body and not blocks_unknown_ai(dest):
            state.phase = Phase.PASS  # nothing left for any addon but the tenant headers
