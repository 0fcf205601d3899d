"""Real services (store, signatures with the loopback catalog, drain sink) for one addon at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from mitmproxy import http
from mitmproxy.test import tflow, tutils

from agent.proxy.decisions import Decisions
from agent.proxy.services import GuardServices
from tests.support.guard_services import open_guard_services


async def open_services(tmp_path: Path, *, unknown_ai: str = "inspect") -> GuardServices:
    return await open_guard_services(tmp_path, unknown_ai=unknown_ai)


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[GuardServices]:
    made = await open_services(tmp_path)
    yield made
    await made.stop()
    made.close()


@pytest.fixture
def decisions(services: GuardServices) -> Decisions:
    return Decisions(services)


def request_flow(
    host: str, *, method: bytes = b"POST", body: bytes = b"", path: bytes = b"/v1/files", **headers: str
) -> http.HTTPFlow:
    """A client request as mitmproxy hands it to the hooks (no response yet)."""
    flow = tflow.tflow(req=tutils.treq(host=host, port=443, scheme=b"https", path=path, method=method, content=body))
    if not body:
        flow.request.headers.pop("content-length", None)
    for name, value in headers.items():
        flow.request.headers[name.replace("_", "-")] = value
    flow.response = None
    return flow


Hook = Callable[[http.HTTPFlow], object]
