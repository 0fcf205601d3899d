"""TLS routing at the ClientHello: pass through what must not be intercepted, and find the
client process of a connection to an AI service before answering its hello.

A pinned client drops the connection as soon as it sees our certificate, taking its socket
(and so its process) out of reach; held at the ClientHello it is still there. Bounded: a slow
lookup delays the handshake by at most `ATTRIBUTION_WAIT_S`. Sync for ordinary hosts; a
coroutine (awaited by mitmproxy) only for AI services.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine

from mitmproxy import connection, tls

from agent.proxy.addons.base import FlowAddon
from agent.proxy.addons.failsafe import failsafe
from agent.proxy.attribution import ClientRef

ATTRIBUTION_WAIT_S = 0.25


def sni_or_address(hello_sni: str | None, address: tuple[str, int] | None) -> str | None:
    if hello_sni:
        return hello_sni
    return address[0] if address else None


def connection_ref(client: connection.Client) -> ClientRef:
    return ClientRef(client.id, client.peername[1] if client.peername else None, client.sockname[1])


class HandshakeRouting(FlowAddon):
    @failsafe
    def tls_clienthello(self, data: tls.ClientHelloData) -> Coroutine[None, None, None] | None:
        router = self.services.router
        host = sni_or_address(data.client_hello.sni, data.context.server.address)
        if not host:
            return None
        if router.passthrough(host):
            data.ignore_connection = True
        elif router.service_for_host(host) is not None:
            return self._attribute_before_handshake(connection_ref(data.context.client))
        return None

    async def _attribute_before_handshake(self, client: ClientRef) -> None:
        attribution = self.services.attribution
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                attribution.lookup(client.connection_id, client.client_port, client.proxy_port), ATTRIBUTION_WAIT_S
            )
