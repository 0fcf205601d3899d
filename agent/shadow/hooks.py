"""The shadow-AI adapter the proxy calls for hosts outside the catalog: plain values in, a decision out.

No mitmproxy here (the proxy passes `flow.request.method`, `.path`, headers as a dict or
pairs, the first bytes of the decoded body and, once it has them, the response headers):

    inspector = ShadowInspector.open(store, agent_id=..., events=writer, signatures=active.current)
    inspector.start()                                  # batched inventory writes
    seen = inspector.assess(host, method, path, headers, body_prefix)       # request time
    facts = UploadFacts(..., ai_likely=seen.ai_likely)                       # policy input
    if seen.action(policy.unknown_ai) == "block": ...                       # block outright
    inspector.record(inspector.assess(host, ..., response_headers=resp), process=..., user=..., blocked=...)
    inspector.stop()

`assess` never raises and costs tens of microseconds; `record` only touches memory (the
recorder writes from its own thread). Record once per flow, at the response (more evidence)
or when the flow was blocked or failed before one arrived.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from agent.shadow.belief import Belief, DiscoverySettings, HostBelief, normalise_host
from agent.shadow.classifier import AIShapeClassifier, Label, ShadowModelError, ShapeVerdict
from agent.shadow.discovery import DiscoveryRecorder
from agent.shadow.sample import FlowSample
from agent.shadow.shape import MAX_BODY_PREFIX, MAX_RESPONSE_PREFIX, RequestShape
from agent.store.engine import Store
from agent.store.events import EventWriter

log = logging.getLogger(__name__)

# The bundle's models are named by file stem (signatures/models/shadow_classifier.json).
MODEL_KEYS = ("shadow_classifier", "shadow-classifier")
UnknownAIAction = Literal["allow", "inspect", "block"]


class SignaturesLike(Protocol):
    """What the adapter needs of `agent.updates.active.SignatureSet`."""

    @property
    def version(self) -> str: ...
    @property
    def models(self) -> Mapping[str, Any]: ...


def classifier_from_models(models: Mapping[str, Any]) -> AIShapeClassifier | None:
    """The classifier shipped in a bundle's models; None when the bundle has none.

    Raises `ShadowModelError` when parameters are present but malformed.
    """
    for key in MODEL_KEYS:
        params = models.get(key)
        if params is not None:
            return AIShapeClassifier.from_params(params)
    return None


def no_fallback() -> AIShapeClassifier | None:
    return None


class ClassifierSource:
    """The classifier of the signatures in force, rebuilt only when the bundle changes.

    A bundle without classifier parameters gets the shipped ones; a bundle whose parameters
    are malformed gets none (unknown hosts stay unclassified and `error` says why), because
    a tampered or broken model must be visible rather than silently replaced.
    """

    def __init__(
        self,
        current: Callable[[], SignaturesLike],
        fallback: Callable[[], AIShapeClassifier | None] = no_fallback,
    ) -> None:
        """`fallback`: the classifier for bundles that carry none, handed in by the owner of the
        signature set (agent.updates.shadow_model.shipped_classifier); agent.shadow never loads it."""
        self._current = current
        self._fallback = fallback
        self._lock = threading.Lock()
        self._key: tuple[str, int] | None = None
        self._classifier: AIShapeClassifier | None = None
        self.error: str | None = None

    def get(self) -> AIShapeClassifier | None:
        signatures = self._current()
        key = (signatures.version, id(signatures.models))
        if key == self._key:
            return self._classifier
        with self._lock:
            if key != self._key:
                try:
                    self._classifier = classifier_from_models(signatures.models)
                    self.error = None
                    if self._classifier is None:
                        # A pinned lab catalog or an older bundle: fall back to the shipped model.
                        self._classifier = self._fallback()
                        self.error = None if self._classifier else "no shadow classifier available"
                except ShadowModelError as exc:
                    self._classifier = None
                    self.error = str(exc)
                    log.error("shadow classifier unusable, unknown hosts stay unclassified: %s", exc)
                self._key = key
        return self._classifier


@dataclass(frozen=True)
class ShadowAssessment:
    """What PhiWall thinks of one request to a host outside the catalog."""

    host: str
    label: Label  # this request: ai / not_ai / unknown (also when no classifier is installed)
    score: float | None
    evidence: int
    host_status: Belief  # what the recent requests to this host say
    host_confidence: float
    reason: str = ""
    shape: RequestShape | None = None

    @property
    def ai_likely(self) -> bool:
        """The request looks like AI traffic, or its host has been seen serving an AI API."""
        return self.label == "ai" or self.host_status == "ai"

    def action(self, unknown_ai: str) -> UnknownAIAction:
        """The organisation's `unknown_ai` policy applied to this request.

        `block` blocks outright only what looks like AI; everything else is inspected (its
        media fingerprinted) as `inspect` would. `allow` lets unknown hosts pass.
        """
        if unknown_ai == "allow":
            return "allow"
        if unknown_ai == "block" and self.ai_likely:
            return "block"
        return "inspect"


class ShadowInspector:
    """Classify requests to uncatalogued hosts and feed the discovery inventory."""

    def __init__(
        self,
        classifiers: ClassifierSource | Callable[[], AIShapeClassifier | None],
        recorder: DiscoveryRecorder | None = None,
    ) -> None:
        self._classifier = classifiers.get if isinstance(classifiers, ClassifierSource) else classifiers
        self.recorder = recorder

    @classmethod
    def open(
        cls,
        store: Store,
        *,
        agent_id: str,
        events: EventWriter | None,
        signatures: Callable[[], SignaturesLike],
        fallback: Callable[[], AIShapeClassifier | None] = no_fallback,
        settings: DiscoverySettings | None = None,
    ) -> ShadowInspector:
        source = ClassifierSource(signatures, fallback)
        classifier = source.get()
        recorder = DiscoveryRecorder(
            store,
            agent_id=agent_id,
            events=events,
            threshold=classifier.threshold if classifier else 0.8,
            low_threshold=classifier.low_threshold if classifier else 0.2,
            settings=settings,
            catalog_version=lambda: signatures().version,
        )
        return cls(source, recorder)

    def start(self) -> None:
        if self.recorder is not None:
            self.recorder.start()

    def stop(self) -> None:
        if self.recorder is not None:
            self.recorder.stop()

    def assess(
        self,
        host: str,
        method: str,
        path: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body_prefix: bytes = b"",
        response_headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        *,
        body_size: int | None = None,
        response_prefix: bytes = b"",
    ) -> ShadowAssessment:
        """Classify one request (pure: records nothing). Never raises.

        `response_prefix` is the start of the decoded response body (only read with
        `response_headers`; see `RequestShape.from_http`)."""
        name = normalise_host(host)
        belief = self.recorder.belief(name) if self.recorder is not None else None
        host_status: Belief = belief.status if belief else "unknown"
        host_confidence = belief.confidence if belief else 0.5
        try:
            classifier = self._classifier()
            if classifier is None:
                return ShadowAssessment(name, "unknown", None, 0, host_status, host_confidence, "no classifier")
            shape = RequestShape.from_http(
                method,
                path,
                headers,
                body_prefix[:MAX_BODY_PREFIX],
                response_headers,
                body_size=body_size,
                response_prefix=response_prefix[:MAX_RESPONSE_PREFIX],
            )
            verdict = classifier.classify(shape)
        except Exception as exc:  # a classifier bug must not break the proxy's flow handling
            log.exception("shadow classification of a request to %s failed", name)
            return ShadowAssessment(
                name, "unknown", None, 0, host_status, host_confidence, f"classification failed: {type(exc).__name__}"
            )
        reason = f"request shape scores {verdict.score:.2f} ({verdict.label}, {verdict.evidence} known features)"
        return ShadowAssessment(
            name, verdict.label, verdict.score, verdict.evidence, host_status, host_confidence, reason, shape
        )

    def record(
        self,
        assessment: ShadowAssessment,
        *,
        process: str | None = None,
        user: str | None = None,
        blocked: bool = False,
    ) -> HostBelief | None:
        """Count this request in the host's inventory row (memory only; written in batches)."""
        if self.recorder is None:
            return None
        verdict = None
        if assessment.score is not None:
            verdict = ShapeVerdict(assessment.label, assessment.score, assessment.evidence)
        try:
            return self.recorder.observe(assessment.host, verdict, process=process, user=user, blocked=blocked)
        except Exception:
            log.exception("recording a sighting of %s failed", assessment.host)
            return None

    def observe(self, sample: FlowSample) -> ShadowAssessment:
        """Classify one flow and count it in its host's inventory row: the proxy's one call per sample."""
        assessment = self.assess(
            sample.host,
            sample.method,
            sample.path,
            sample.headers,
            sample.body_prefix,
            sample.response_headers,
            body_size=sample.body_size,
            response_prefix=sample.response_prefix,
        )
        self.record(assessment, process=sample.process, user=sample.user, blocked=sample.blocked)
        return assessment
