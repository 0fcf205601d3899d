"""Resumable-uploads addon: a later chunk of a flagged session is refused at its headers."""

from __future__ import annotations

from mitmproxy.test import taddons

from agent.proxy.addons.resumable import ResumableUploads
from agent.proxy.addons.routing import Routing
from agent.proxy.decisions import Decisions
from agent.proxy.flows import Phase, state_of
from agent.proxy.inspection import chunk_of
from agent.proxy.resumable import SessionFlag
from agent.proxy.services import GuardServices
from tests.integration.proxy.harness import UNAPPROVED_HOST
from tests.unit.proxy.addons.conftest import request_flow


def tus_chunk(offset: int) -> object:
    return request_flow(
        UNAPPROVED_HOST,
        method=b"PATCH",
        path=b"/files/abc",
        body=b"\0" * 64,
        tus_resumable="1.0.0",
        upload_offset=str(offset),
        content_type="application/offset+octet-stream",
    )


async def test_a_flagged_session_refuses_later_chunks(services: GuardServices, decisions: Decisions) -> None:
    routing, resumable = Routing(services, decisions), ResumableUploads(services, decisions)
    with taddons.context(routing, resumable):  # type: ignore[no-untyped-call]
        first = tus_chunk(0)
        routing.requestheaders(first)  # type: ignore[arg-type]
        resumable.requestheaders(first)  # type: ignore[arg-type]
        state = state_of(first)  # type: ignore[arg-type]
        assert state is not None
        assert state.phase is Phase.HEADERS, "an unflagged session goes on to inspection"
        chunk = chunk_of(state)
        assert chunk is not None
        assert chunk.protocol == "tus"
        services.sessions.open(chunk).flagged = SessionFlag("inc-1", "clinical audio", "asset-1")

        later = tus_chunk(64)
        routing.requestheaders(later)  # type: ignore[arg-type]
        resumable.requestheaders(later)  # type: ignore[arg-type]
        state = state_of(later)  # type: ignore[arg-type]
        assert state is not None
        assert state.phase is Phase.BLOCKED
        assert "incident inc-1" in (state.block_reason or "")
