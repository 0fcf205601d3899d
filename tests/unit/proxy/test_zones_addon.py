"""Zones in the addon (taddons/tflow, real services): the connected address, the drain sink.

The test policy (harness.write_signatures) makes 127.0.0.8/29 internal and the rest of
loopback public.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import taddons

from agent.proxy.addon import PhiWallGuard
from agent.proxy.flows import state_of
from agent.proxy.services import GuardServices
from tests.integration.proxy.harness import INTERNAL_HOST
from tests.unit.proxy.test_addon import make_services, upload


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[GuardServices]:
    made = await make_services(tmp_path)
    yield made
    await made.stop()
    made.close()


def chunked(host: str, peer: str | None, *, mode: str = "regular") -> object:
    flow = upload(host, b"x" * 100, content_type="application/octet-stream", path=b"/files")
    flow.request.headers.pop("content-length")
    flow.request.headers["transfer-encoding"] = "chunked"
    flow.server_conn.peername = (peer, 443) if peer else None
    flow.client_conn.proxy_mode = ProxyMode.parse(mode)
    return flow


async def test_the_connected_address_puts_a_name_in_the_internal_zone(services: GuardServices) -> None:
    addon = PhiWallGuard(services)
    with taddons.context(addon):  # type: ignore[no-untyped-call]
        cases = [
            ("files.example.org", INTERNAL_HOST, "regular", True),
            ("files.example.org", "127.0.0.1", "regular", False),
            ("files.example.org", None, "regular", False),
            ("files.example.org", INTERNAL_HOST, "upstream:http://127.0.0.9:3128", False),
            (INTERNAL_HOST, None, "regular", True),
            ("pacs.hospital.test", None, "regular", True),
        ]
        for host, peer, mode, internal in cases:
            flow = chunked(host, peer, mode=mode)
            addon.requestheaders(flow)  # type: ignore[arg-type]
            state = state_of(flow)  # type: ignore[arg-type]
            assert state is not None
            assert state.dest.internal is internal, (host, peer, mode)
            if internal:
                assert state.dest.inspect_mode == "after"
                assert flow.request.host == host, "internal uploads never wait in the drain sink"  # type: ignore[attr-defined]


async def test_unframed_upload_to_an_ordinary_host_is_not_held_in_the_sink(services: GuardServices) -> None:
    """Only AI-looking destinations hold unframed bodies in the sink (they fail closed when too large)."""
    addon = PhiWallGuard(services)
    with taddons.context(addon):  # type: ignore[no-untyped-call]
        ordinary = chunked("127.0.0.1", None)
        addon.requestheaders(ordinary)  # type: ignore[arg-type]
        assert ordinary.request.host == "127.0.0.1"  # type: ignore[attr-defined]
        ai = upload("127.0.0.2", b"x" * 100)
        ai.request.headers.pop("content-length")
        ai.request.headers["transfer-encoding"] = "chunked"
        addon.requestheaders(ai)
        assert (ai.request.host, ai.request.port) == services.sink.address
