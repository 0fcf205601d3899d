"""Shadow-AI discovery from the proxy: classify traffic to uncatalogued hosts, feed the inventory.

A thin adapter over agent.shadow (RequestShape, AIShapeClassifier, DiscoveryRecorder) that
keeps the per-request cost small, because it runs for ordinary web traffic too:

- catalogued hosts are counted (service, status, blocked) without classification;
- uncatalogued hosts are classified from their request + response headers, but once the
  recorder's belief about a host has settled (`ai` or `not_ai`) only one request in
  `SETTLED_SAMPLE` is classified again; the others are just counted;
- uploads to uncatalogued hosts ask `ai_likely()` (a settled belief, or this request's shape)
  so a failed inspection to what looks like an AI service fails closed.

The classifier parameters come from the signature set in force (`models["shadow_classifier"]`)
and are rebuilt when the signatures change. Without them, discovery only counts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from agent.proxy.attribution import ProcessInfo
from agent.shadow.classifier import AIShapeClassifier, ShadowModelError
from agent.shadow.discovery import DiscoveryRecorder
from agent.shadow.shape import MAX_BODY_PREFIX, RequestShape
from agent.store.engine import Store
from agent.store.events import EventWriter
from agent.updates.active import ActiveSignatures

log = logging.getLogger(__name__)

MODEL_KEY = "shadow_classifier"
SETTLED_SAMPLE = 16


class ShadowDiscovery:
    def __init__(self, store: Store, signatures: ActiveSignatures, *, agent_id: str, events: EventWriter) -> None:
        self.signatures = signatures
        self._classifier_version: str | None = None
        self.classifier: AIShapeClassifier | None = None
        self._load_classifier()
        threshold = self.classifier.threshold if self.classifier else 0.8
        low = self.classifier.low_threshold if self.classifier else 0.2
        self.recorder = DiscoveryRecorder(
            store,
            agent_id=agent_id,
            events=events,
            threshold=threshold,
            low_threshold=low,
            catalog_version=lambda: self.signatures.current().label,
        )
        self._seen = 0
        self.classified = 0

    def _load_classifier(self) -> None:
        sigs = self.signatures.current()
        if sigs.version == self._classifier_version:
            return
        self._classifier_version = sigs.version
        params = sigs.models.get(MODEL_KEY)
        if not isinstance(params, Mapping):
            self.classifier = None
            return
        try:
            self.classifier = AIShapeClassifier.from_params(params)
        except ShadowModelError as exc:
            log.error("shadow classifier unusable, discovery only counts requests: %s", exc)
            self.classifier = None

    def start(self) -> None:
        self.recorder.start()

    def stop(self) -> None:
        self.recorder.stop()

    def observe_catalogued(
        self, host: str, service_id: str, category: str, status: str, process: ProcessInfo | None, blocked: bool
    ) -> None:
        self.recorder.observe(
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
        self._load_classifier()
        verdict = None
        belief = self.recorder.belief(host)
        settled = belief is not None and belief.status != "unknown"
        self._seen += 1
        if self.classifier is not None and (not settled or self._seen % SETTLED_SAMPLE == 0):
            shape = RequestShape.from_http(
                method, path, headers, body_prefix[:MAX_BODY_PREFIX], response_headers, body_size=body_size
            )
            verdict = self.classifier.classify(shape)
            self.classified += 1
        self.recorder.observe(
            host,
            verdict,
            process=process.name if process else None,
            user=process.user if process else None,
            blocked=blocked,
        )

    def ai_likely(self, host: str, method: str, path: str, headers: Mapping[str, str], body_prefix: bytes) -> bool:
        """Does this uncatalogued host look like an AI service (settled belief, else this request)?"""
        belief = self.recorder.belief(host)
        if belief is not None and belief.status != "unknown":
            return belief.status == "ai"
        self._load_classifier()
        if self.classifier is None:
            return False
        shape = RequestShape.from_http(method, path, headers, body_prefix[:MAX_BODY_PREFIX])
        return self.classifier.classify(shape).label == "ai"
