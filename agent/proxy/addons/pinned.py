"""Pinned-client reporter: a client refused our certificate (a pinned app, or the CA is not
trusted). Recorded once per host per `PINNED_REPORT_INTERVAL_S`; the verdict says whether
that is enforcement (an unapproved AI service) or something IT should look at."""

from __future__ import annotations

import time
from collections import OrderedDict

from mitmproxy import tls

from agent.policy.verdict import decide_uninspectable_channel
from agent.proxy.addons.base import FlowAddon
from agent.proxy.addons.failsafe import failsafe
from agent.proxy.addons.handshake import connection_ref, sni_or_address
from agent.proxy.decisions import Decisions
from agent.proxy.recorder import EventDraft
from agent.proxy.services import GuardServices

PINNED_REPORT_INTERVAL_S = 600.0
PINNED_HOSTS_REMEMBERED = 1024
WHAT = "a client that refuses the inspection certificate (pinned, or the CA is not trusted)"


class PinnedClientReporter(FlowAddon):
    def __init__(self, services: GuardServices, decisions: Decisions) -> None:
        super().__init__(services, decisions)
        self._seen: OrderedDict[str, float] = OrderedDict()

    @failsafe
    def tls_failed_client(self, data: tls.TlsData) -> None:
        services = self.services
        host = sni_or_address(data.conn.sni, data.context.server.address)
        if not host or not self._due(host):
            return
        service = services.router.service_for_host(host)
        # The handshake already failed, so nothing is sent either way.
        action, reason = "info", f"{WHAT}; if it is not an AI service, add it to proxy.passthrough_hosts"
        if service is not None:
            status = services.router.current().policy.status(service, {}, host=host)
            verdict = decide_uninspectable_channel(status, WHAT, mode=services.settings.mode)
            action, reason = verdict.action, verdict.reason
            if verdict.action == "allow":
                action, reason = "info", f"{WHAT} to approved service {service.name}"
        services.counters.pinned += 1
        draft = EventDraft(
            kind="pinned",
            verdict=action,
            reason=reason,
            host=host,
            service_id=service.id if service else None,
            service_category=service.category if service else None,
            details={"error": str(data.conn.error or "")[:200]},
        )
        services.recorder.record(draft, connection_ref(data.context.client))

    def _due(self, host: str) -> bool:
        now = time.monotonic()
        last = self._seen.get(host)
        if last is not None and now - last < PINNED_REPORT_INTERVAL_S:
            return False
        self._seen[host] = now
        self._seen.move_to_end(host)
        while len(self._seen) > PINNED_HOSTS_REMEMBERED:
            self._seen.popitem(last=False)
        return True
