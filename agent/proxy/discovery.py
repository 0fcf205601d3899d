"""Shadow-AI discovery from the proxy: agent.shadow's `ShadowInspector`, called cheaply.

It runs for ordinary web traffic too, so the per-request cost is kept down:

- catalogued hosts are counted (service, status, blocked) without classification;
- uncatalogued hosts are classified from request + response headers, the decoded body
  prefix and the start of the answer (150-300 us per request; `response_tap.py`): the
  first `FIRST_CLASSIFIED` requests of each host, then one in `SAMPLE_EVERY` but at most
  one per `MIN_INTERVAL_S` per host (a busy host costs a classification a second, not 3%
  of its requests); the others are only counted. The recorder's belief decays over the
  last few dozen verdicts, so a sample keeps it current. The caller asks `sample()`
  first, so the body prefix is decoded only for classified requests;
- uploads to uncatalogued hosts ask `assess()` so a failed inspection to something that looks
  like an AI service fails closed, and `unknown_ai = block` can refuse it outright.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent.proxy.attribution import ProcessInfo
from agent.shadow.hooks import ShadowAssessment, ShadowInspector
from agent.shadow.sample import FlowSample
from agent.store.engine import Store
from agent.store.events import EventWriter
from agent.updates.active import ActiveSignatures
from agent.updates.shadow_model import shipped_classifier

FIRST_CLASSIFIED = 8
SAMPLE_EVERY = 32
MIN_INTERVAL_S = 1.0
MAX_HOSTS = 4096


@dataclass(slots=True)
class _Sampling:
    seen: int = 0
    classified_at_count: int = 0
    classified_at: float = 0.0
    ai_likely: bool | None = None
    """What the host's latest classified request said (None: none classified yet)."""


class ShadowDiscovery:
    def __init__(
        self,
        store: Store,
        signatures: ActiveSignatures,
        *,
        agent_id: str,
        events: EventWriter | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inspector = ShadowInspector.open(
            store, agent_id=agent_id, events=events, signatures=signatures.current, fallback=shipped_classifier
        )
        self._clock = clock
        self._seen: OrderedDict[str, _Sampling] = OrderedDict()
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

    def count_unless_sampled(self, host: str, process: ProcessInfo | None, blocked: bool = False) -> bool:
        """Count a request to an uncatalogued `host`, or return True: classify it (which counts it).

        One call per request on the hot path (`sample()` and the count in one).
        """
        if self.sample(host):
            return True
        recorder = self.inspector.recorder
        if recorder is not None:
            if process is None:
                recorder.observe(host, None, blocked=blocked)
            else:
                recorder.observe(host, None, process=process.name, user=process.user, blocked=blocked)
        return False

    def classify(self, sample: FlowSample, process: ProcessInfo | None = None) -> None:
        """Classify one sampled flow and count it (the sample's `process`/`user` come from `process`)."""
        self.classified += 1
        if process is not None:
            sample = dataclasses.replace(sample, process=process.name, user=process.user)
        self._remember(sample.host, self.inspector.observe(sample))

    def _remember(self, host: str, assessment: ShadowAssessment) -> None:
        seen = self._seen.get(host)
        if seen is not None:
            seen.ai_likely = assessment.ai_likely

    def believed_ordinary(self, host: str) -> bool:
        """True when the latest classified request to `host` did not look like an AI service.

        Lets the proxy skip work whose only use is failing closed for AI services (parsing a
        media-free JSON body to find out whether it is malformed). Hosts not classified yet are
        not believed ordinary.
        """
        seen = self._seen.get(host)
        return seen is not None and seen.ai_likely is False

    def sample(self, host: str) -> bool:
        """Whether to classify this request to `host` (per-host counts, LRU-bounded).

        Without a recorder every request would be classified and recorded nowhere: classify none.
        """
        if self.inspector.recorder is None:
            return False
        seen = self._seen.get(host)
        if seen is None:
            seen = self._seen[host] = _Sampling()
            if len(self._seen) > MAX_HOSTS:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(host)
        seen.seen += 1
        if seen.seen > FIRST_CLASSIFIED:
            if seen.seen - seen.classified_at_count < SAMPLE_EVERY:
                return False
            now = self._clock()
            if now - seen.classified_at < MIN_INTERVAL_S:
                return False
            seen.classified_at = now
        seen.classified_at_count = seen.seen
        return True

    def assess(
        self, host: str, method: str, path: str, headers: Mapping[str, str], body_prefix: bytes = b""
    ) -> ShadowAssessment:
        """This request (and its host's history): does it look like an AI service? Records nothing."""
        assessment = self.inspector.assess(host, method, path, headers, body_prefix)
        self._remember(host, assessment)
        return assessment
