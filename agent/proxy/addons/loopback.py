"""Loopback guard: the mitmproxy options blocking relies on, even when run as `mitmdump -s`.

`connection_strategy=lazy` (a blocked upload never opens a connection upstream), no HTTP/3
(QUIC would bypass the HTTP proxy), `stream_large_bodies` = the inspection limit (bodies
beyond it are decided at their headers, never buffered whole), and a listener on loopback
only (never an open proxy on the network: a server found listening elsewhere is re-bound).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from typing import Any

from mitmproxy import ctx

log = logging.getLogger(__name__)


class LoopbackGuard:
    def __init__(self, inspect_limit_mb: Callable[[], int | None]) -> None:
        self._limit_mb = inspect_limit_mb

    def configure(self, updated: set[str]) -> None:
        # Before the servers start (they start after configuration), so a wrong listen host is
        # corrected before anything binds.
        self.enforce()

    async def running(self) -> None:
        self.enforce()
        addons: Any = ctx.master.addons
        proxyserver: Any = addons.get("proxyserver")
        if proxyserver is not None:
            await self._listen_on_loopback_only(proxyserver)

    def enforce(self) -> bool:
        """Set what blocking relies on; True if an option had to change."""
        updates: dict[str, Any] = {}
        if ctx.options.connection_strategy != "lazy":
            updates["connection_strategy"] = "lazy"
        if ctx.options.http3:
            updates["http3"] = False
        host = ctx.options.listen_host
        try:
            loopback = bool(host) and ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            updates["listen_host"] = "127.0.0.1"
        limit_mb = self._limit_mb()
        if limit_mb is not None and ctx.options.stream_large_bodies != f"{limit_mb}m":
            updates["stream_large_bodies"] = f"{limit_mb}m"
        if updates:
            log.warning("PhiWall overrides mitmproxy options: %s", updates)
            options: Any = ctx.options
            options.update(**updates)
        return bool(updates)

    async def _listen_on_loopback_only(self, proxyserver: Any) -> None:
        """Re-bind any server listening beyond loopback.

        As `mitmdump -s`, servers can be bound before (or regardless of) the listen host the
        script sets; an explicit listen address in the mode spec makes mitmproxy re-bind them.
        """
        exposed = [a for a in proxyserver.listen_addrs() if not ipaddress.ip_address(a[0]).is_loopback]
        if not exposed:
            return
        port = exposed[0][1]
        log.warning("PhiWall moves the proxy from %s to 127.0.0.1:%s", exposed[0][0], port)
        options: Any = ctx.options
        options.update(mode=[f"regular@127.0.0.1:{port}"])
        await proxyserver.setup_servers()
