"""Shadow-AI discovery from the proxy: agent.shadow's `ShadowInspector`, called cheaply.

It runs for ordinary web traffic too, so the per-request cost is kept down:

- catalogued hosts are counted (service, status, blocked) without classification;
- uncatalogued hosts are classified from request + response headers and the body prefix
  (150-300 us per request): the first `FIRST_CLASSIFIED` requests of each host, then one in
  `SAMPLE_EVERY`; the others are only counted. The recorder's belief decays over the last few dozen verdicts,
  so a sample keeps it current;
- uploads to uncatalogued hosts ask `assess()` so a failed inspection to something that looks
  like an AI service fails closed, and `unknown_ai = block` can refuse it outright.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from agent.proxy.attribution import ProcessInfo
from agent.shadow.hooks import ShadowAssessment, ShadowInspector
from agent.store.engine import Store
from agent.store.events import EventWriter
from agent.updates.active import ActiveSignatures

FIRST_CLASSIFIED = 8
SAMPLE_EVERY = 32
MAX_HOSTS = 4096


class ShadowDiscovery:
    def __init__(self, store: Store, signatures: ActiveSignatures, *, agent_id: str, events: EventWriter) -> None:
        self.inspector = ShadowInspector.open(store, agent_id=agent_id, events=events, signatures=signatures.current)
        self._seen: OrderedDict[str, int] = OrderedDict()
        self.classified = 0

    def start(self) -> None:
        self.inspector.start()

    def stop(self) -> None:
        self.inspector.stop()

    def observe_catalogued(
        self, host: str, service_id: str, category: str, status: str, process: ProcessInfo | None, blocked: bool
    ) -> None:
        recorder = self.inspector.recorder
        if recorder is not None:
            recorder.observe(
                host,
                None,
                process=process.name if process else None,
                user=process.user if process else None,
                blocked=blocked,
                service_id=service_id,
                category=category,
                status=status,
            )

    def observe_uncatalogued(
        self,
        host: str,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body_prefix: bytes,
        response_headers: Mapping[str, str] | None,
        body_size: int | None,
        process: ProcessInfo | None,
        blocked: bool = False,
    ) -> None:
        recorder = self.inspector.recorder
        name = process.name if process else None
        user = process.user if process else None
        if recorder is not None and not self._sample(host):
            recorder.observe(host, None, process=name, user=user, blocked=blocked)
            return
        self.classified += 1
        self.inspector.inspect(
            host,
            method,
            path,
            headers,
            body_prefix,
            response_headers,
            body_size=body_size,
            process=name,
            user=user,
            blocked=blocked,
        )

    def _sample(self, host: str) -> bool:
        """Whether to classify this request to `host` (per-host counts, LRU-bounded)."""
        count = self._seen.get(host, 0) + 1
        self._seen[host] = count
        self._seen.move_to_end(host)
        if len(self._seen) > MAX_HOSTS:
            self._seen.popitem(last=False)
        return count <= FIRST_CLASSIFIED or count % SAMPLE_EVERY == 0

    def assess(
        self, host: str, method: str, path: str, headers: Mapping[str, str], body_prefix: bytes = b""
    ) -> ShadowAssessment:
        """This request (and its host's history): does it look like an AI service? Records nothing."""
        return self.inspector.assess(host, method, path, headers, body_prefix)
