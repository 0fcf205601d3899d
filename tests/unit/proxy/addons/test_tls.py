"""Handshake-routing and pinned-client addons, with real TLS hook data (a real ClientHello
made by Python's ssl module, mitmproxy's own parser and connection objects)."""

from __future__ import annotations

import contextlib
import ssl

from mitmproxy import tls
from mitmproxy.proxy.context import Context
from mitmproxy.proxy.layers.tls import parse_client_hello
from mitmproxy.test import taddons, tflow

from agent.proxy.addons.handshake import HandshakeRouting
from agent.proxy.addons.pinned import PinnedClientReporter
from agent.proxy.decisions import Decisions
from agent.proxy.services import GuardServices
from tests.integration.proxy.harness import UNAPPROVED_HOST


def client_hello(sni: str) -> tls.ClientHello:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname=sni)
    with contextlib.suppress(ssl.SSLWantReadError):
        client.do_handshake()
    hello = parse_client_hello(outgoing.read())
    assert hello is not None
    return hello


async def test_hello_to_an_ai_service_waits_for_attribution(services: GuardServices, decisions: Decisions) -> None:
    routing = HandshakeRouting(services, decisions)
    with taddons.context(routing) as tctx:  # type: ignore[no-untyped-call]
        context = Context(tflow.tclient_conn(), tctx.options)
        ordinary = tls.ClientHelloData(context, client_hello("news.example"))
        assert routing.tls_clienthello(ordinary) is None, "ordinary hosts: synchronous, intercepted"
        assert not ordinary.ignore_connection
        context.server.address = (UNAPPROVED_HOST, 443)
        ai = tls.ClientHelloData(context, client_hello(UNAPPROVED_HOST))
        pending = routing.tls_clienthello(ai)
        assert pending is not None, "an AI service's hello waits (bounded) for the process lookup"
        await pending


async def test_a_refused_certificate_is_reported_once_per_host(services: GuardServices, decisions: Decisions) -> None:
    reporter = PinnedClientReporter(services, decisions)
    with taddons.context(reporter) as tctx:  # type: ignore[no-untyped-call]
        client = tflow.tclient_conn()
        client.sni = UNAPPROVED_HOST
        client.error = "certificate unknown"
        data = tls.TlsData(client, Context(client, tctx.options))
        reporter.tls_failed_client(data)
        reporter.tls_failed_client(data)
        assert services.counters.pinned == 1
        await services.recorder.drain()
        assert services.recorder.recorded == 1
