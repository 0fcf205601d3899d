"""The addon driven with mitmproxy's own test helpers (taddons/tflow): routing, fail closed,
the drain sink, back-pressure. Real store, signatures and sink; the media matcher is the
real MediaService except where a test needs a crash or a stall that real media cannot
produce on demand."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mitmproxy import http
from mitmproxy.test import taddons, tflow, tutils

from agent.media.model import MatchOutcome, MediaLimits
from agent.proxy.addon import PhiWallGuard
from agent.proxy.flows import Phase, state_of
from agent.proxy.inspect import InspectionBusy, Inspector
from agent.proxy.services import GuardServices
from tests.integration.proxy.harness import (
    APPROVED_HOST,
    SIGN_IN_HOST,
    SUITE_CONTEXT,
    SUITE_TENANTS,
    UNAPPROVED_HOST,
)
from tests.support.guard_services import open_guard_services

WAV_HEAD = (
    b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00\x00\x7d\x00\x00\x02\x00\x10\x00"
)


class CrashingMatcher:
    """Stands in for a decoder bug: raises on every match."""

    def match_bytes(self, data: bytes, *, limits: MediaLimits | None = None) -> MatchOutcome:
        raise RuntimeError("decoder exploded")

    def match_pcm(
        self, pcm: bytes, *, sample_rate: int, channels: int = 1, sample_format: str = "s16le"
    ) -> MatchOutcome:
        raise RuntimeError("decoder exploded")


async def make_services(tmp_path: Path, media: object | None = None, **settings: object) -> GuardServices:
    return await open_guard_services(tmp_path, media=media, settings=settings)


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[GuardServices]:
    made = await make_services(tmp_path)
    yield made
    await made.stop()
    made.close()


def upload(
    host: str, body: bytes, content_type: str = "audio/wav", path: bytes = b"/v1/audio/transcriptions"
) -> http.HTTPFlow:
    flow = tflow.tflow(req=tutils.treq(host=host, port=443, scheme=b"https", path=path, method=b"POST", content=body))
    flow.request.headers["content-type"] = content_type
    flow.response = None
    return flow


async def run_request(addon: PhiWallGuard, flow: http.HTTPFlow) -> None:
    addon.requestheaders(flow)
    pending = addon.request(flow)
    if pending is not None:
        await pending


async def test_routing_and_sink_redirect(services: GuardServices) -> None:
    addon = PhiWallGuard(services)
    with taddons.context(addon):  # type: ignore[no-untyped-call]
        framed = upload(UNAPPROVED_HOST, b"not media at all")
        addon.requestheaders(framed)
        state = state_of(framed)
        assert state is not None
        assert state.dest.service_id == "loopback-scribe"
        assert state.dest.status == "unapproved"
        assert state.phase is Phase.HOLD
        assert framed.request.host == UNAPPROVED_HOST, "an HTTP/1 body of known length is buffered: no detour"

        for variant in ("chunked", "http/2"):
            flow = upload(UNAPPROVED_HOST, b"not media at all")
            if variant == "chunked":
                flow.request.headers.pop("content-length")
                flow.request.headers["transfer-encoding"] = "chunked"
            else:
                flow.request.http_version = "HTTP/2.0"
            addon.requestheaders(flow)
            where = (flow.request.host, flow.request.port)
            assert where == services.sink.address, f"{variant}: undecided uploads that may stream point at the sink"
            pending = addon.request(flow)
            assert pending is not None
            await pending
            assert flow.response is None
            assert (flow.request.host, flow.request.port) == (UNAPPROVED_HOST, 443), "allowed: pointed back"

        approved = upload(APPROVED_HOST, b"not media")
        addon.requestheaders(approved)
        assert approved.request.host == APPROVED_HOST, "approved services are never redirected"

        get = tflow.tflow(req=tutils.treq(host="example.org", method=b"GET", content=b""))
        get.request.headers.pop("content-length", None)
        addon.requestheaders(get)
        assert addon.request(get) is None, "ordinary requests take the synchronous path"


async def test_inspection_crash_fails_closed(tmp_path: Path) -> None:
    services = await make_services(tmp_path, CrashingMatcher())
    addon = PhiWallGuard(services)
    try:
        with taddons.context(addon):  # type: ignore[no-untyped-call]
            flow = upload(UNAPPROVED_HOST, WAV_HEAD + b"\0" * 4000)
            await run_request(addon, flow)
            assert flow.response is not None
            assert flow.response.status_code == 403
            body = json.loads(flow.response.content or b"{}")
            assert "internal error: RuntimeError" in body["error"]["message"]
            assert services.counters.fail_closed == 1
            assert services.counters.hook_errors == 1

            # The same crash on an upload to an approved service does not block it.
            allowed = upload(APPROVED_HOST, WAV_HEAD + b"\0" * 4000)
            await run_request(addon, allowed)
            assert allowed.response is None
    finally:
        await services.stop()
        services.close()


async def test_oversize_decided_at_headers(tmp_path: Path) -> None:
    services = await make_services(tmp_path)
    addon = PhiWallGuard(services)
    try:
        with taddons.context(addon):  # type: ignore[no-untyped-call]
            flow = upload(UNAPPROVED_HOST, b"")
            flow.request.headers["content-length"] = str(3 << 30)
            flow.request.stream = True  # what mitmproxy does for bodies over stream_large_bodies
            addon.requestheaders(flow)
            state = state_of(flow)
            assert state is not None
            assert state.block_reason is not None
            assert "inspection limit" in state.block_reason
            assert (flow.request.host, flow.request.port) == services.sink.address
            assert addon.request(flow) is None
            flow.response = tutils.tresp(status_code=403, headers=((b"X-PhiWall-Sink", b"1"),), content=b"{}")
            addon.responseheaders(flow)
            answer = flow.response
            assert answer.headers["x-phiwall-incident"] == state.incident
            stream = answer.stream
            assert callable(stream), "the sink's body is replaced as it streams"
            assert stream(b"drained upload bytes") == b""
            end = stream(b"")  # mitmproxy's end-of-body call
            assert isinstance(end, bytes)
            body = json.loads(end)
            assert body["error"]["incident"] == state.incident
            assert int(answer.headers["content-length"]) == len(json.dumps(body))
            assert stream(b"") == b"", "the answer is sent once"
    finally:
        await services.stop()
        services.close()


async def test_inspector_back_pressure() -> None:
    media = CrashingMatcher()  # only the pool is exercised: no media calls
    inspector = Inspector(media, workers=1, max_jobs=1, queue_timeout_s=0.2, max_bytes_in_flight=100)
    try:
        first = asyncio.create_task(inspector.run(time.sleep, 0.6))
        await asyncio.sleep(0.05)
        with pytest.raises(InspectionBusy):
            await inspector.run(time.sleep, 0)
        await first
        assert inspector.busy_refusals == 1

        wide = Inspector(media, workers=2, max_jobs=4, queue_timeout_s=5, max_bytes_in_flight=100)
        started = time.perf_counter()
        await asyncio.gather(*(wide.run(time.sleep, 0.3, weight=80) for _ in range(2)))
        assert time.perf_counter() - started >= 0.55, "two 80-byte jobs cannot share a 100-byte budget"
        wide.close()
    finally:
        inspector.close()


async def test_tenant_restriction_headers_replace_the_clients(services: GuardServices) -> None:
    addon = PhiWallGuard(services)
    tenants = ",".join(SUITE_TENANTS)
    with taddons.context(addon):  # type: ignore[no-untyped-call]
        h1 = tflow.tflow(req=tutils.treq(host=SIGN_IN_HOST, port=443, scheme=b"https", method=b"GET", content=b""))
        h1.request.headers["Restrict-Access-To-Tenants"] = "personal.example"
        addon.requestheaders(h1)
        assert h1.request.headers.get_all("restrict-access-to-tenants") == [tenants]
        assert h1.request.headers["restrict-access-context"] == SUITE_CONTEXT
        assert b"Restrict-Access-Context" in [name for name, _ in h1.request.headers.fields], "catalog casing"

        h2 = tflow.tflow(req=tutils.treq(host=SIGN_IN_HOST, port=443, scheme=b"https", method=b"GET", content=b""))
        h2.request.http_version = "HTTP/2.0"
        addon.requestheaders(h2)
        names = [name for name, _ in h2.request.headers.fields]
        assert b"restrict-access-to-tenants" in names
        assert b"restrict-access-context" in names
        assert all(name.islower() for name in names if name.startswith(b"restrict")), "HTTP/2: lower case only"

        other = upload(UNAPPROVED_HOST, b"not media")
        addon.requestheaders(other)
        assert "restrict-access-to-tenants" not in other.request.headers
        state = state_of(h1)
        assert state is not None
        assert "restrict-access-context" not in state.headers, "the classifier sees what the client sent"
        assert services.counters.tenant_restricted == 2


@pytest.mark.parametrize(
    ("fields", "stream"),
    [
        (((b"Content-Type", b"application/json"), (b"Content-Length", b"1024")), False),
        (((b"content-type", b"text/event-stream; charset=utf-8"), (b"Content-Length", b"10")), True),
        (((b"Content-Type", b"application/json"),), True),  # no length: open-ended
        (((b"Content-Length", b"2000000"),), True),  # over 1 MB
        (((b"Content-Length", b" 12 "),), False),
        (((b"Content-Length", b"12, 12"),), True),  # malformed: not buffered on trust
    ],
)
def test_which_responses_are_streamed(fields: tuple[tuple[bytes, bytes], ...], stream: bool) -> None:
    from agent.proxy.addons.responses import worth_streaming

    assert worth_streaming(fields) is stream
