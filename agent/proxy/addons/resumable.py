"""Resumable uploads: a later chunk of an upload session that already sent clinical media is
refused at its headers (the session was flagged by the inspection of an earlier chunk)."""

from __future__ import annotations

from mitmproxy import http

from agent.proxy.addons.base import FlowAddon
from agent.proxy.addons.failsafe import failsafe
from agent.proxy.flows import Phase, state_of
from agent.proxy.inspection import chunk_of, refuse_flagged_session


class ResumableUploads(FlowAddon):
    @failsafe
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.phase is not Phase.HEADERS or not state.has_body:
            return
        if state.dest.inspect_mode != "inline":
            return
        chunk = chunk_of(state)
        if chunk is None:
            return
        session = self.services.sessions.get(chunk.key)
        if session is not None and session.flagged is not None:
            refuse_flagged_session(self.decisions, flow, state, session.flagged, chunk)
