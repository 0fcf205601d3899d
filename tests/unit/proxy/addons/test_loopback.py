"""Loopback-guard addon: the options blocking relies on are forced, even when set otherwise."""

from __future__ import annotations

from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.test import taddons

from agent.proxy.addons.loopback import LoopbackGuard


async def test_options_are_enforced() -> None:
    guard = LoopbackGuard(lambda: 32)
    with taddons.context(Proxyserver(), guard) as tctx:  # type: ignore[no-untyped-call]
        tctx.configure(guard, listen_host="0.0.0.0", connection_strategy="eager", http3=True)
        options = tctx.options
        assert options.listen_host == "127.0.0.1"
        assert options.connection_strategy == "lazy"
        assert options.http3 is False
        assert options.stream_large_bodies == "32m"
        assert guard.enforce() is False, "nothing left to change"
