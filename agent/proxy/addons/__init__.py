"""PhiWall's proxy, one addon per job, in the order the composite (`agent.proxy.addon`) runs them.

| addon | hooks | job |
|---|---|---|
| `loopback.LoopbackGuard` | configure, running | the mitmproxy options blocking relies on; loopback-only listener |
| `handshake.HandshakeRouting` | tls_clienthello | passthrough hosts; find the process before an AI handshake |
| `pinned.PinnedClientReporter` | tls_failed_client | record clients that refuse the inspection certificate |
| `routing.Routing` | requestheaders | destination + `FlowState`; PASS for flows nothing else applies to |
| `tenants.TenantHeaders` | requestheaders | vendor tenant-restriction headers |
| `webrtc.WebRtcSignalling` | requestheaders | refuse uninspectable WebRTC sessions to unapproved services |
| `unknown_ai.UnknownAIBlock` | requestheaders, request | `unknown_ai = block` for uncatalogued AI-looking hosts |
| `resumable.ResumableUploads` | requestheaders | refuse later chunks of a session that sent clinical media |
| `shadow.ShadowObserver` | responseheaders | one `FlowSample` per flow for shadow-AI discovery |
| `answer.BlockAnswer` | request, responseheaders | the 403 for blocked flows (also behind the drain sink) |
| `uploads.UploadGuard` | requestheaders, request | hold, inspect (`agent.proxy.inspection`) and enforce bodies |
| `responses.ResponseStreaming` | responseheaders | stream SSE and large answers |
| `realtime.RealtimeGuard` | websocket_start, websocket_message | realtime audio over WebSockets, cut on a match |

Every flow hook wears `failsafe.failsafe`. The flow's `FlowState.phase` (agent.proxy.flows) is
how they hand over: request-headers addons act only in `HEADERS`, and routing ends an
ordinary flow's work at once with `PASS`.
"""

from __future__ import annotations

from agent.proxy.addons.answer import BlockAnswer
from agent.proxy.addons.handshake import HandshakeRouting
from agent.proxy.addons.pinned import PinnedClientReporter
from agent.proxy.addons.realtime import RealtimeGuard
from agent.proxy.addons.responses import ResponseStreaming
from agent.proxy.addons.resumable import ResumableUploads
from agent.proxy.addons.routing import Routing
from agent.proxy.addons.shadow import ShadowObserver
from agent.proxy.addons.tenants import TenantHeaders
from agent.proxy.addons.unknown_ai import UnknownAIBlock
from agent.proxy.addons.uploads import UploadGuard
from agent.proxy.addons.webrtc import WebRtcSignalling
from agent.proxy.decisions import Decisions
from agent.proxy.services import GuardServices

FLOW_ADDONS = (
    HandshakeRouting,
    PinnedClientReporter,
    Routing,
    TenantHeaders,
    WebRtcSignalling,
    UnknownAIBlock,
    ResumableUploads,
    ShadowObserver,  # before BlockAnswer: discovery sees the answer that arrived, not PhiWall's 403
    BlockAnswer,
    UploadGuard,
    ResponseStreaming,
    RealtimeGuard,
)


def build_addons(services: GuardServices) -> list[object]:
    """The flow addons over one set of services, in hook order."""
    decisions = Decisions(services)
    return [addon(services, decisions) for addon in FLOW_ADDONS]
