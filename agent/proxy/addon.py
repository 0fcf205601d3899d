"""PhiWall's mitmproxy addon: the hooks, and nothing but glue to the guards.

Two ways to run it:

- embedded (what `phiwall run` does): `python -m agent.proxy --listen 127.0.0.1:8080 --db URL
  --data-dir DIR` builds a `DumpMaster`, the services, and this addon (see agent.proxy.runner);
- as a script: `mitmdump -s agent/proxy/addon.py --set confdir=<data_dir>/ca
  --set phiwall_db=sqlite:///... --set phiwall_data_dir=... --listen-host 127.0.0.1`
  (the addon then builds its services from those options and enforces lazy connections,
  no HTTP/3 and a loopback listen address itself).

mitmproxy catches exceptions raised in hooks and lets the flow continue, which for an
upload to an unapproved AI service would mean "forward it uninspected". Every hook here is
therefore wrapped: an exception on a blockable flow blocks it (fail closed, with the error
type as reason), and is counted in the status file.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from mitmproxy import connection, ctx, http, tls

from agent.config import load_config
from agent.policy.verdict import decide_uninspectable_channel
from agent.proxy.attribution import ClientRef
from agent.proxy.recorder import EventDraft
from agent.proxy.services import GuardServices
from agent.proxy.settings import ProxySettings
from agent.proxy.uploads import UploadGuard
from agent.proxy.websockets import RealtimeGuard, drop

log = logging.getLogger(__name__)

PINNED_REPORT_INTERVAL_S = 600.0
PINNED_HOSTS_REMEMBERED = 1024
ATTRIBUTION_WAIT_S = 0.25


def _sni_or_address(hello_sni: str | None, address: tuple[str, int] | None) -> str | None:
    if hello_sni:
        return hello_sni
    return address[0] if address else None


def _client_ref(client: connection.Client) -> ClientRef:
    return ClientRef(client.id, client.peername[1] if client.peername else None, client.sockname[1])


class PhiWallGuard:
    """The addon (mitmproxy calls it `phiwallguard`). Pass `services` when embedding."""

    def __init__(self, services: GuardServices | None = None) -> None:
        self.services = services
        self._owns_services = services is None
        self.uploads: UploadGuard | None = None
        self.realtime: RealtimeGuard | None = None
        self._pinned_seen: OrderedDict[str, float] = OrderedDict()
        if services is not None:
            self._attach(services)

    def _attach(self, services: GuardServices) -> None:
        self.services = services
        self.uploads = UploadGuard(services)
        self.realtime = RealtimeGuard(services)

    # --- lifecycle ----------------------------------------------------------------------------

    def load(self, loader: Any) -> None:
        loader.add_option("phiwall_config", str, "", "PhiWall config file (TOML); default: the usual lookup")
        loader.add_option("phiwall_db", str, "", "PhiWall store URL; default: from the config")
        loader.add_option("phiwall_data_dir", str, "", "PhiWall data dir; default: from the config")
        loader.add_option("phiwall_port_file", str, "", "write HOST:PORT here once listening")

    def configure(self, updated: set[str]) -> None:
        # Before the servers start (they start after configuration), so a wrong listen host is
        # corrected before anything binds.
        self._enforce_options()
        if self.services is None and {"phiwall_config", "phiwall_db", "phiwall_data_dir"} & updated:
            self._attach(GuardServices.open(self._settings_from_options()))
            self._enforce_options()

    def _settings_from_options(self) -> ProxySettings:
        config = load_config(ctx.options.phiwall_config or None)
        if ctx.options.phiwall_data_dir:
            agent_section = config.agent.model_copy(update={"data_dir": Path(ctx.options.phiwall_data_dir)})
            config = config.model_copy(update={"agent": agent_section})
        return ProxySettings(
            config=config,
            store_url=config.store_url(ctx.options.phiwall_db or None),
            data_dir=config.data_dir,
            listen_host=ctx.options.listen_host or "127.0.0.1",
            listen_port=ctx.options.listen_port or 8080,
            port_file=Path(ctx.options.phiwall_port_file) if ctx.options.phiwall_port_file else None,
        )

    async def running(self) -> None:
        addons: Any = ctx.master.addons
        proxyserver: Any = addons.get("proxyserver")
        self._enforce_options()
        if proxyserver is not None:
            await self._listen_on_loopback_only(proxyserver)
        if self.services is None:
            self._attach(GuardServices.open(self._settings_from_options()))
            self._enforce_options()
        assert self.services is not None
        await self.services.start()
        port_file = self.services.settings.port_file
        addresses = proxyserver.listen_addrs() if proxyserver is not None else []
        if addresses:
            host, port = addresses[0][0], addresses[0][1]
            log.info("PhiWall proxy listening on %s:%s (signatures %s)", host, port, self.services.catalog_label)
            if port_file is not None:
                tmp = port_file.with_name(f".{port_file.name}.tmp")
                tmp.write_text(f"{host}:{port}\n", encoding="ascii")
                tmp.replace(port_file)

    def _enforce_options(self) -> bool:
        """The guarantees blocking relies on, even when started as `mitmdump -s`; True if changed."""
        updates: dict[str, Any] = {}
        if ctx.options.connection_strategy != "lazy":
            updates["connection_strategy"] = "lazy"  # a blocked upload never opens a connection upstream
        if ctx.options.http3:
            updates["http3"] = False  # QUIC would bypass the HTTP proxy
        host = ctx.options.listen_host
        try:
            loopback = bool(host) and ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            updates["listen_host"] = "127.0.0.1"  # never an open proxy on the network
        if self.services is not None:
            # Bodies beyond the inspection limit cannot be inspected: stream them (into the drain
            # sink) instead of buffering them whole, as the embedded runner does.
            limit = f"{self.services.settings.config.proxy.max_inspect_mb}m"
            if ctx.options.stream_large_bodies != limit:
                updates["stream_large_bodies"] = limit
        if updates:
            log.warning("PhiWall overrides mitmproxy options: %s", updates)
            options: Any = ctx.options
            options.update(**updates)
        return bool(updates)

    async def _listen_on_loopback_only(self, proxyserver: Any) -> None:
        """Re-bind any server listening beyond loopback (never an open proxy on the network).

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

    async def done(self) -> None:
        if self.services is None:
            return
        if self.uploads is not None:
            await self.uploads.drain()
        await self.services.stop()
        if self._owns_services:
            self.services.close()

    # --- TLS ------------------------------------------------------------------------------------

    def tls_clienthello(self, data: tls.ClientHelloData) -> Coroutine[None, None, None] | None:
        # Sync for ordinary hosts; a coroutine (awaited by mitmproxy) for AI services.
        if self.services is None:
            return None
        host = _sni_or_address(data.client_hello.sni, data.context.server.address)
        try:
            if host and self.services.router.passthrough(host):
                data.ignore_connection = True
            elif host and self.services.router.service_for_host(host) is not None:
                return self._attribute_before_handshake(_client_ref(data.context.client))
        except Exception:
            self.services.counters.hook_errors += 1
            log.exception("passthrough decision for %s failed: intercepting", host)
        return None

    async def _attribute_before_handshake(self, client: ClientRef) -> None:
        """Find the client process of a connection to an AI service before answering its hello.

        A pinned client drops the connection as soon as it sees our certificate, taking its
        socket (and so its process) out of reach; held at the ClientHello it is still there.
        Bounded: a slow lookup delays the handshake by at most `ATTRIBUTION_WAIT_S`.
        """
        assert self.services is not None
        attribution = self.services.attribution
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                attribution.lookup(client.connection_id, client.client_port, client.proxy_port), ATTRIBUTION_WAIT_S
            )

    def tls_failed_client(self, data: tls.TlsData) -> None:
        """A client refused our certificate: a pinned app, or the CA is not trusted. Record it."""
        services = self.services
        if services is None:
            return
        try:
            host = _sni_or_address(data.conn.sni, data.context.server.address)
            if not host or not self._pinned_due(host):
                return
            service = services.router.service_for_host(host)
            what = "a client that refuses the inspection certificate (pinned, or the CA is not trusted)"
            # The handshake already failed, so nothing is sent either way; the verdict says
            # whether that is enforcement (an unapproved AI service) or something IT should look at.
            action, reason = "info", f"{what}; if it is not an AI service, add it to proxy.passthrough_hosts"
            if service is not None:
                status = services.router.current().policy.status(service, {}, host=host)
                verdict = decide_uninspectable_channel(status, what, mode=services.settings.mode)
                action, reason = verdict.action, verdict.reason
                if verdict.action == "allow":
                    action, reason = "info", f"{what} to approved service {service.name}"
            services.counters.pinned += 1
            client = data.context.client
            draft = EventDraft(
                kind="pinned",
                verdict=action,
                reason=reason,
                host=host,
                service_id=service.id if service else None,
                service_category=service.category if service else None,
                details={"error": str(data.conn.error or "")[:200]},
            )
            services.recorder.record(draft, _client_ref(client))
        except Exception:
            services.counters.hook_errors += 1
            log.exception("recording a failed TLS handshake failed")

    def _pinned_due(self, host: str) -> bool:
        now = time.monotonic()
        last = self._pinned_seen.get(host)
        if last is not None and now - last < PINNED_REPORT_INTERVAL_S:
            return False
        self._pinned_seen[host] = now
        self._pinned_seen.move_to_end(host)
        while len(self._pinned_seen) > PINNED_HOSTS_REMEMBERED:
            self._pinned_seen.popitem(last=False)
        return True

    # --- HTTP -----------------------------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if self.uploads is None:
            return
        try:
            self.uploads.on_requestheaders(flow)
        except Exception as exc:
            self._hook_failed("requestheaders", exc)
            self.uploads.fail_closed(flow, exc, at_headers=True)

    def request(self, flow: http.HTTPFlow) -> Coroutine[None, None, None] | None:
        # Sync for ordinary requests; a coroutine (awaited by mitmproxy) when a body is inspected.
        if self.uploads is None:
            return None
        try:
            pending = self.uploads.on_request(flow)
        except Exception as exc:
            self._hook_failed("request", exc)
            self.uploads.fail_closed(flow, exc, at_headers=False)
            return None
        return self._finish_request(flow, pending) if pending is not None else None

    async def _finish_request(self, flow: http.HTTPFlow, pending: Coroutine[None, None, None]) -> None:
        assert self.uploads is not None
        try:
            await pending
        except Exception as exc:
            self._hook_failed("request", exc)
            self.uploads.fail_closed(flow, exc, at_headers=False)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if self.uploads is None:
            return
        try:
            self.uploads.on_responseheaders(flow)
        except Exception as exc:
            self._hook_failed("responseheaders", exc)

    # --- WebSockets -----------------------------------------------------------------------------

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        if self.realtime is None:
            return
        try:
            self.realtime.on_websocket_start(flow)
        except Exception as exc:
            self._hook_failed("websocket_start", exc)

    def websocket_message(self, flow: http.HTTPFlow) -> Coroutine[None, None, None] | None:
        if self.realtime is None:
            return None
        try:
            pending = self.realtime.on_websocket_message(flow)
        except Exception as exc:
            self._websocket_failed(flow, exc)
            return None
        return self._finish_websocket_message(flow, pending) if pending is not None else None

    async def _finish_websocket_message(self, flow: http.HTTPFlow, pending: Coroutine[None, None, None]) -> None:
        try:
            await pending
        except Exception as exc:
            self._websocket_failed(flow, exc)

    def _websocket_failed(self, flow: http.HTTPFlow, exc: Exception) -> None:
        self._hook_failed("websocket_message", exc)
        assert flow.websocket is not None
        state = flow.metadata.get("phiwall")
        if state is not None and state.dest.can_block and flow.websocket.messages:
            drop(flow.websocket.messages[-1])  # fail closed: an unexamined message does not pass

    def _hook_failed(self, hook: str, exc: BaseException) -> None:
        if self.services is not None:
            self.services.counters.hook_errors += 1
        log.error("%s hook failed: %s", hook, exc, exc_info=exc)


addons = [PhiWallGuard()]
