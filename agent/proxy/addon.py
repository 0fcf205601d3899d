"""PhiWall's mitmproxy addon: the one object mitmproxy sees, running PhiWall's addons in order.

Two ways to run it:

- embedded (what `phiwall run` does): `python -m agent.proxy --listen 127.0.0.1:8080 --db URL
  --data-dir DIR` builds a mitmproxy master (agent.proxy.master), the services, and this addon
  (see agent.proxy.runner);
- as a script: `mitmdump -s agent/proxy/addon.py --set confdir=<data_dir>/ca
  --set phiwall_db=sqlite:///... --set phiwall_data_dir=... --listen-host 127.0.0.1`
  (the addon then builds its services from those options, read once from `ctx.options`).

Each job is its own addon under `agent.proxy.addons` (see its `__init__` for the order and
what each does), with typed hooks wearing `@failsafe`. They are not registered with mitmproxy
one by one: mitmproxy walks every registered addon for every event of every flow, so this
composite holds, per hook, the tuple of bound hooks that implement it and calls them in
order: a flow to an ordinary host costs a handful of direct calls that return at their first
line once routing has set its phase to PASS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from mitmproxy import ctx, http, tls

from agent.proxy.addons import build_addons
from agent.proxy.addons.base import FlowAddon
from agent.proxy.addons.loopback import LoopbackGuard
from agent.proxy.addons.uploads import UploadGuard
from agent.proxy.flows import METADATA_KEY, FlowState, Phase
from agent.proxy.services import GuardServices
from agent.proxy.settings import ProxySettings

log = logging.getLogger(__name__)

Pending = Coroutine[None, None, None]
FlowHook = Callable[[http.HTTPFlow], Pending | None]
OPTIONS = {"phiwall_config", "phiwall_db", "phiwall_data_dir"}


def _hooks(addons: list[object], name: str) -> tuple[Callable[[Any], Pending | None], ...]:
    return tuple(getattr(addon, name) for addon in addons if hasattr(addon, name))


class PhiWallGuard:
    """The addon (mitmproxy calls it `phiwallguard`). Pass `services` when embedding."""

    def __init__(self, services: GuardServices | None = None) -> None:
        self.services = services
        self._owns_services = services is None
        self.loopback = LoopbackGuard(self._inspect_limit_mb)
        self.chain: list[object] = []
        """The job addons, in order (not `addons`: mitmproxy would register those itself)."""
        self.uploads: UploadGuard | None = None
        self._requestheaders: tuple[FlowHook, ...] = ()
        """Routing and tenant headers: every flow."""
        self._deciding: tuple[FlowHook, ...] = ()
        """The other request-headers hooks: only while the flow is in `Phase.HEADERS`."""
        self._request: tuple[FlowHook, ...] = ()
        self._responseheaders: tuple[FlowHook, ...] = ()
        self._websocket_start: tuple[FlowHook, ...] = ()
        self._websocket_message: tuple[FlowHook, ...] = ()
        self._tls_clienthello: tuple[Callable[[tls.ClientHelloData], Pending | None], ...] = ()
        self._tls_failed_client: tuple[Callable[[tls.TlsData], Pending | None], ...] = ()
        if services is not None:
            self._attach(services)

    def _attach(self, services: GuardServices) -> None:
        self.services = services
        self.chain = build_addons(services)
        self.uploads = next(addon for addon in self.chain if isinstance(addon, UploadGuard))
        for name in (
            "requestheaders",
            "request",
            "responseheaders",
            "websocket_start",
            "websocket_message",
            "tls_clienthello",
            "tls_failed_client",
        ):
            setattr(self, f"_{name}", _hooks(self.chain, name))
        always = [addon for addon in self.chain if not isinstance(addon, FlowAddon) or addon.any_phase]
        self._requestheaders = _hooks(always, "requestheaders")
        self._deciding = _hooks([addon for addon in self.chain if addon not in always], "requestheaders")

    def _inspect_limit_mb(self) -> int | None:
        return self.services.settings.config.proxy.max_inspect_mb if self.services is not None else None

    # --- lifecycle: the services are opened from the options, once ------------------------------

    def load(self, loader: Any) -> None:
        loader.add_option("phiwall_config", str, "", "PhiWall config file (TOML); default: the usual lookup")
        loader.add_option("phiwall_db", str, "", "PhiWall store URL; default: from the config")
        loader.add_option("phiwall_data_dir", str, "", "PhiWall data dir; default: from the config")
        loader.add_option("phiwall_port_file", str, "", "write HOST:PORT here once listening")

    def configure(self, updated: set[str]) -> None:
        self.loopback.configure(updated)
        if self.services is None and OPTIONS & updated:
            self._attach(GuardServices.open(self._settings_from_options()))
            self.loopback.enforce()

    def _settings_from_options(self) -> ProxySettings:
        options = ctx.options
        return ProxySettings.resolve(
            config_file=Path(options.phiwall_config) if options.phiwall_config else None,
            db=options.phiwall_db or None,
            data_dir=Path(options.phiwall_data_dir) if options.phiwall_data_dir else None,
            listen_host=options.listen_host or "127.0.0.1",
            listen_port=options.listen_port or 8080,
            port_file=Path(options.phiwall_port_file) if options.phiwall_port_file else None,
        )

    async def running(self) -> None:
        await self.loopback.running()
        if self.services is None:
            self._attach(GuardServices.open(self._settings_from_options()))
            self.loopback.enforce()
        assert self.services is not None
        await self.services.start()
        addons: Any = ctx.master.addons
        proxyserver: Any = addons.get("proxyserver")
        port_file = self.services.settings.port_file
        addresses = proxyserver.listen_addrs() if proxyserver is not None else []
        if addresses:
            host, port = addresses[0][0], addresses[0][1]
            log.info("PhiWall proxy listening on %s:%s (signatures %s)", host, port, self.services.catalog_label)
            if port_file is not None:
                tmp = port_file.with_name(f".{port_file.name}.tmp")
                tmp.write_text(f"{host}:{port}\n", encoding="ascii")
                tmp.replace(port_file)

    async def done(self) -> None:
        if self.services is None:
            return
        if self.uploads is not None:
            await self.uploads.drain()
        await self.services.stop()
        if self._owns_services:
            self.services.close()

    # --- the hooks, dispatched in order (each addon's hook is failsafe) -------------------------

    def tls_clienthello(self, data: tls.ClientHelloData) -> Pending | None:
        for hook in self._tls_clienthello:
            pending = hook(data)
            if pending is not None:
                return pending
        return None

    def tls_failed_client(self, data: tls.TlsData) -> None:
        for hook in self._tls_failed_client:
            hook(data)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        for hook in self._requestheaders:
            hook(flow)
        state = flow.metadata.get(METADATA_KEY)
        if not isinstance(state, FlowState) or state.phase is not Phase.HEADERS:
            return  # routing ended this flow's work (PASS): the deciding addons would return at once
        for hook in self._deciding:
            hook(flow)

    def request(self, flow: http.HTTPFlow) -> Pending | None:
        # Sync for ordinary requests; a coroutine (awaited by mitmproxy) when a body is inspected.
        state = flow.metadata.get(METADATA_KEY)
        if isinstance(state, FlowState) and state.phase is Phase.PASS:
            return None  # no request hook acts on a PASS flow
        for hook in self._request:
            pending = hook(flow)
            if pending is not None:
                return pending  # only the upload guard (last) returns one
        return None

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        for hook in self._responseheaders:
            hook(flow)

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        for hook in self._websocket_start:
            hook(flow)

    def websocket_message(self, flow: http.HTTPFlow) -> Pending | None:
        for hook in self._websocket_message:
            pending = hook(flow)
            if pending is not None:
                return pending
        return None


addons = [PhiWallGuard()]
