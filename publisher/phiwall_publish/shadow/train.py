"""Train, evaluate and export the shadow-AI request-shape classifier.

    .venv/bin/phiwall-publish train-shadow           # evaluate, then write the model JSON
    .venv/bin/phiwall-publish train-shadow --check   # evaluate only; exit 1 below target
    .venv/bin/phiwall-publish train-shadow --dev     # development loop: training services only

Evaluation is by SERVICE, never by request: requests of one API look alike, so a random
split would test memory, not generalisation to an API the model has never seen, which is
the job (the catalog already knows the APIs we could list). Two figures are printed:
1. a fixed held-out set of services (a hash of the service id picks ~1/4 of them, so no
   one chose which services are easy); vocabulary, regularisation and thresholds are fitted
   on the other services only;
2. grouped 5-fold cross-validation over all services, as a second, less noisy estimate.
The shipped model is then fitted on every service with the same procedure.

Feature, model and decision-rule choices are made with `--dev`: repeated, shuffled grouped
cross-validation over the training services only (the whole procedure, including the inner
choice of C and thresholds, refitted in every fold), so the held-out services stay unseen
until the final report.

Modelling choices, and why:
- Logistic regression on binary features: calibrated-enough probabilities, exact and cheap
  numpy inference, coefficients an analyst can read.
- No intercept: a shape made only of words the model never saw scores 0.5 ("unknown")
  instead of inheriting a prior learnt from which words happened to be in the dataset. Most
  real traffic is ordinary and unseen; with an intercept, held-out hospital APIs (FHIR
  metadata with a couple of generic response headers) were scored as AI. This costs a few
  points of recall and buys precision on unseen services.
- Features seen in at least two services only: a header or path word unique to one vendor
  cannot generalise to an unknown service, and would make the model a worse copy of the
  catalog.
- Each service weighs the same, whatever its number of requests, and both classes weigh the
  same in total.
- Each request is used twice: as seen at request time (no response) and with its response
  headers, because the proxy classifies at both moments.
- The AI threshold is the lowest whose out-of-fold precision reaches 0.96, not 0.95: grouped
  cross-validation of the whole procedure showed the precision on unseen services landing
  about half a point below the inner out-of-fold estimate.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from agent.shadow.classifier import AIShapeClassifier, ShapeVerdict
from agent.shadow.discovery import belief_after
from agent.shadow.features import shape_features
from agent.shadow.shape import RequestShape
from agent.updates.source import SHIPPED_ROOT
from phiwall_publish.shadow.dataset import DATASET_DIR, DatasetRequest, load_requests

# The shipped model the agent loads (signatures/models/), rewritten by a training run.
MODEL_PATH = SHIPPED_ROOT / "models" / "shadow_classifier.json"
C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
TARGET_PRECISION = 0.95
TARGET_RECALL = 0.90
THRESHOLD_PRECISION = 0.96  # inner out-of-fold precision the AI threshold is set for (outer: ~0.5 pt lower)
LOW_THRESHOLD_NPV = 0.97  # out-of-fold share of ordinary requests below the "not AI" threshold
MIN_SERVICE_DF = 2
MIN_EVIDENCE = 2
HELD_OUT_BUCKETS = 4  # sha256(id) mod 16 < 4: about a quarter of the services
# The held-out services of the first dataset (model 2026.11.22-2d5c6bd2, 165 services): figures
# on this subset stay comparable across dataset growth (the hash rule above decides membership).
FIRST_HELD_OUT = frozenset(
    {
        "airtable",
        "assemblyai",
        "athenahealth",
        "aws-bedrock",
        "aws-transcribe",
        "backblaze-b2",
        "cloudflare-workers-ai",
        "cohere",
        "comfyui",
        "deepinfra",
        "dicomweb",
        "discord",
        "firebase",
        "github",
        "google-calendar",
        "hubspot",
        "hume",
        "imgur",
        "llama-cpp-server",
        "mattermost",
        "mistral",
        "mixedbread",
        "mux-video",
        "nomic-atlas",
        "notion",
        "npm-registry",
        "postmark",
        "reka",
        "replicate",
        "segment",
        "soundcloud",
        "stability",
        "vimeo",
        "whatsapp-cloud",
        "youtube-data",
        "zoom",
    }
)


@dataclass(frozen=True)
class Row:
    """One training example: a request shape at request time or with its response."""

    service: str
    label: int
    variant: str  # "request" | "response"
    shape: RequestShape
    features: frozenset[str]
    group: str = ""  # the dataset file (category) the service is written in


def make_rows(requests: Sequence[DatasetRequest]) -> list[Row]:
    rows: list[Row] = []
    for request in requests:
        variants = [("request", False)] + ([("response", True)] if request.response_headers else [])
        for variant, with_response in variants:
            shape = request.shape(with_response=with_response)
            rows.append(Row(request.service, request.label, variant, shape, shape_features(shape), request.group))
    return rows


def is_held_out(service: str) -> bool:
    return hashlib.sha256(service.encode()).digest()[0] % 16 < HELD_OUT_BUCKETS


def build_vocabulary(rows: Sequence[Row]) -> list[str]:
    services_with: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        for feature in row.features:
            services_with[feature].add(row.service)
    return sorted(f for f, services in services_with.items() if len(services) >= MIN_SERVICE_DF)


def design(rows: Sequence[Row], vocabulary: Sequence[str]) -> sparse.csr_matrix:
    index = {name: i for i, name in enumerate(vocabulary)}
    indptr = [0]
    indices: list[int] = []
    for row in rows:
        indices.extend(sorted(index[f] for f in row.features if f in index))
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float64)
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), len(vocabulary)))


def sample_weights(rows: Sequence[Row]) -> npt.NDArray[np.float64]:
    """Every service weighs 1 in total; each class weighs half of the total."""
    per_service = Counter(row.service for row in rows)
    services_per_class = Counter(label for _, label in {(row.service, row.label) for row in rows})
    n_services = len(per_service)
    weights = [(1.0 / per_service[row.service]) * n_services / (2.0 * services_per_class[row.label]) for row in rows]
    return np.asarray(weights, dtype=np.float64)


def fit(rows: Sequence[Row], vocabulary: Sequence[str], c: float) -> LogisticRegression:
    model = LogisticRegression(C=c, solver="lbfgs", max_iter=10_000, tol=1e-8, fit_intercept=False)
    labels = np.array([row.label for row in rows])
    model.fit(design(rows, vocabulary), labels, sample_weight=sample_weights(rows))
    return model


def to_classifier(
    model: LogisticRegression, vocabulary: Sequence[str], threshold: float, low_threshold: float, version: str
) -> AIShapeClassifier:
    return AIShapeClassifier(
        vocabulary,
        model.coef_[0],
        float(model.intercept_[0]),
        threshold=threshold,
        low_threshold=low_threshold,
        min_evidence=MIN_EVIDENCE,
        version=version,
    )


def out_of_fold(rows: Sequence[Row], c: float, folds: int = 5) -> npt.NDArray[np.float64]:
    """Scores of every row from a model that never saw its service (vocabulary refitted per fold)."""
    groups = [row.service for row in rows]
    scores = np.zeros(len(rows))
    for train_idx, test_idx in GroupKFold(n_splits=folds).split(rows, groups=groups):
        train = [rows[i] for i in train_idx]
        test = [rows[i] for i in test_idx]
        vocabulary = build_vocabulary(train)
        model = fit(train, vocabulary, c)
        scores[test_idx] = model.predict_proba(design(test, vocabulary))[:, 1]
    return scores


def weighted_log_loss(rows: Sequence[Row], scores: npt.NDArray[np.float64]) -> float:
    labels = np.array([row.label for row in rows])
    clipped = np.clip(scores, 1e-12, 1 - 1e-12)
    losses = -(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))
    weights = sample_weights(rows)
    return float((losses * weights).sum() / weights.sum())


def choose_thresholds(rows: Sequence[Row], scores: npt.NDArray[np.float64]) -> tuple[float, float]:
    """AI threshold for out-of-fold precision; "not AI" threshold for out-of-fold NPV."""
    labels = np.array([row.label for row in rows])
    candidates = np.unique(np.concatenate([scores, np.linspace(0.05, 0.95, 91)]))
    threshold = 0.95
    for t in candidates:
        if t < 0.5:
            continue
        predicted = scores >= t
        if predicted.sum() and labels[predicted].mean() >= THRESHOLD_PRECISION:
            threshold = float(t)
            break
    low = 0.05
    for t in candidates[::-1]:
        if t > min(threshold, 0.5):
            continue
        below = scores <= t
        if below.sum() and (1 - labels[below]).mean() >= LOW_THRESHOLD_NPV:
            low = float(t)
            break
    return round(threshold, 6), round(min(low, threshold), 6)


def select_c(rows: Sequence[Row]) -> float:
    losses = {c: weighted_log_loss(rows, out_of_fold(rows, c)) for c in C_GRID}
    return min(losses, key=losses.__getitem__)


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    unknown_rate: float
    n_ai: int
    n_ordinary: int
    false_positives: tuple[str, ...]
    misses: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "unknown_rate": round(self.unknown_rate, 4),
            "ai_requests": self.n_ai,
            "ordinary_requests": self.n_ordinary,
        }


def _describe(row: Row, verdict: ShapeVerdict) -> str:
    path = "/".join(row.shape.path_tokens)
    return f"{row.service} {row.shape.method} {path} ({verdict.label} {verdict.score:.2f}, {row.variant})"


def scores_of(pairs: Sequence[tuple[Row, ShapeVerdict]]) -> Scores:
    """Precision and recall of the `ai` label; `unknown` counts as not flagged (a miss for AI)."""
    predicted = [verdict.label == "ai" for _, verdict in pairs]
    true_positive = sum(p and row.label == 1 for p, (row, _) in zip(predicted, pairs, strict=True))
    positives = sum(predicted)
    actual = sum(row.label for row, _ in pairs)
    return Scores(
        precision=true_positive / positives if positives else 1.0,
        recall=true_positive / actual if actual else 1.0,
        unknown_rate=sum(v.label == "unknown" for _, v in pairs) / len(pairs) if pairs else 0.0,
        n_ai=actual,
        n_ordinary=len(pairs) - actual,
        false_positives=tuple(_describe(r, v) for p, (r, v) in zip(predicted, pairs, strict=True) if p and not r.label),
        misses=tuple(_describe(r, v) for p, (r, v) in zip(predicted, pairs, strict=True) if not p and r.label),
    )


def evaluate(classifier: AIShapeClassifier, rows: Sequence[Row]) -> Scores:
    return scores_of([(row, classifier.classify(row.shape)) for row in rows])


def train_classifier(rows: Sequence[Row], version: str) -> tuple[AIShapeClassifier, LogisticRegression, float]:
    """The whole procedure on `rows`: vocabulary, C by grouped CV, thresholds from out-of-fold scores."""
    c = select_c(rows)
    threshold, low = choose_thresholds(rows, out_of_fold(rows, c))
    vocabulary = build_vocabulary(rows)
    model = fit(rows, vocabulary, c)
    return to_classifier(model, vocabulary, threshold, low, version), model, c


def dataset_digest(directory: Path = DATASET_DIR) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.yaml")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _print_scores(title: str, by_variant: dict[str, Scores]) -> None:
    print(title)
    for variant, scores in by_variant.items():
        print(
            f"  {variant:9s} precision {scores.precision:.3f}  recall {scores.recall:.3f}  "
            f"unknown {scores.unknown_rate:.1%}  ({scores.n_ai} AI / {scores.n_ordinary} ordinary requests)"
        )
    shown = {s for scores in by_variant.values() for s in scores.false_positives}
    for line in sorted(shown)[:15]:
        print(f"    false AI: {line}")
    missed = {s for scores in by_variant.values() for s in scores.misses}
    for line in sorted(missed)[:200]:
        print(f"    missed:   {line}")


def _subsets(rows: Sequence[Row]) -> dict[str, list[Row]]:
    """The views the figures are given for (see docs/shadow-ai.md)."""
    return {
        "request": [r for r in rows if r.variant == "request"],
        "with-body": [r for r in rows if r.variant == "request" and r.shape.body_size > 0],
        "response": [r for r in rows if r.variant == "response"],
    }


def _by_variant(classifier: AIShapeClassifier, rows: Sequence[Row]) -> dict[str, Scores]:
    return {name: evaluate(classifier, subset) for name, subset in _subsets(rows).items()}


@dataclass(frozen=True)
class HostScores:
    precision: float
    recall: float
    ai_services: int
    ordinary_services: int
    flagged: tuple[str, ...]
    missed: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "ai_services": self.ai_services,
            "ordinary_services": self.ordinary_services,
        }


def host_level(verdicts: Sequence[tuple[Row, ShapeVerdict]]) -> HostScores:
    """Per service: the discovery recorder's belief after all its requests (seen with their responses)."""
    by_service: dict[str, list[ShapeVerdict]] = defaultdict(list)
    labels: dict[str, int] = {}
    has_response = {r.service for r, _ in verdicts if r.variant == "response"}
    for row, verdict in verdicts:
        wanted = "response" if row.service in has_response else "request"
        if row.variant == wanted:
            by_service[row.service].append(verdict)
            labels[row.service] = row.label
    status = {service: belief_after(found).status for service, found in by_service.items()}
    flagged = [s for s, st in status.items() if st == "ai"]
    true_flags = [s for s in flagged if labels[s] == 1]
    n_ai = sum(labels.values())
    return HostScores(
        precision=len(true_flags) / len(flagged) if flagged else 1.0,
        recall=len(true_flags) / n_ai if n_ai else 1.0,
        ai_services=n_ai,
        ordinary_services=len(labels) - n_ai,
        flagged=tuple(sorted(s for s in flagged if labels[s] == 0)),
        missed=tuple(
            f"{s} ({' '.join(v.label for v in by_service[s])})"
            for s, st in sorted(status.items())
            if labels[s] == 1 and st != "ai"
        ),
    )


def _print_hosts(title: str, scores: HostScores) -> None:
    print(
        f"{title}: precision {scores.precision:.3f}  recall {scores.recall:.3f}  "
        f"({scores.ai_services} AI / {scores.ordinary_services} ordinary services)"
    )
    if scores.flagged:
        print(f"    ordinary services flagged as AI: {', '.join(scores.flagged)}")
    if scores.missed:
        print(f"    AI services not flagged: {', '.join(scores.missed)}")


def decision_level(verdicts: Sequence[tuple[Row, ShapeVerdict]]) -> Scores:
    """Per request, the proxy's decision (`ShadowAssessment.ai_likely`): the request's own verdict,
    or the belief its host earned from the host's *other* requests (seen with their responses).

    Not the classifier's figure: it assumes the host has been seen before, which is how the
    proxy meets most requests (a client talks to one API many times), but not the first ones.
    """
    by_service: dict[str, list[tuple[Row, ShapeVerdict]]] = defaultdict(list)
    for row, verdict in verdicts:
        by_service[row.service].append((row, verdict))
    decided: list[tuple[Row, ShapeVerdict]] = []
    for found in by_service.values():
        has_response = any(row.variant == "response" for row, _ in found)
        wanted = "response" if has_response else "request"
        evidence = [(row, verdict) for row, verdict in found if row.variant == wanted]
        for row, verdict in found:
            if row.variant != "request":
                continue
            others = [v for r, v in evidence if r.shape != row.shape or r.variant != wanted]
            host_ai = belief_after(others).status == "ai"
            label: Any = "ai" if verdict.label == "ai" or host_ai else verdict.label
            decided.append((row, ShapeVerdict(label, verdict.score, verdict.evidence)))
    return scores_of(decided)


@dataclass(frozen=True)
class Evaluation:
    """Every figure of one evaluation (held-out set or cross-validation) of the procedure."""

    views: dict[str, Scores]
    hosts: HostScores
    decisions: Scores
    by_group: dict[str, Scores]

    def as_dict(self) -> dict[str, Any]:
        return {
            "views": {name: scores.as_dict() for name, scores in self.views.items()},
            "hosts": self.hosts.as_dict(),
            "decisions": self.decisions.as_dict(),
            "by_group": {group: _flagged(scores) for group, scores in sorted(self.by_group.items())},
        }


def _flagged(scores: Scores) -> dict[str, Any]:
    """How many of a dataset file's requests were called AI (recall for AI files, false alarms otherwise)."""
    total = scores.n_ai + scores.n_ordinary
    flagged = round(scores.recall * scores.n_ai) + len(scores.false_positives)
    return {"requests": total, "flagged_ai": flagged, "share": round(flagged / total, 4) if total else 0.0}


def evaluation_of(pairs: Sequence[tuple[Row, ShapeVerdict]]) -> Evaluation:
    verdict_of = {id(row): verdict for row, verdict in pairs}
    rows = [row for row, _ in pairs]
    views = {name: scores_of([(row, verdict_of[id(row)]) for row in subset]) for name, subset in _subsets(rows).items()}
    groups: dict[str, list[tuple[Row, ShapeVerdict]]] = defaultdict(list)
    for row, verdict in pairs:
        if row.variant == "request":
            groups[row.group].append((row, verdict))
    return Evaluation(views, host_level(pairs), decision_level(pairs), {g: scores_of(p) for g, p in groups.items()})


def cross_validated(rows: Sequence[Row], folds: int = 5, seed: int | None = None) -> Evaluation:
    """Grouped CV of the full procedure (vocabulary, C, thresholds refitted inside each fold).

    `seed` shuffles which services share a fold (None: scikit-learn's deterministic split).
    """
    groups = [row.service for row in rows]
    splitter = GroupKFold(n_splits=folds, shuffle=seed is not None, random_state=seed)
    pairs: list[tuple[Row, ShapeVerdict]] = []
    for train_idx, test_idx in splitter.split(rows, groups=groups):
        train = [rows[i] for i in train_idx]
        classifier, _, _ = train_classifier(train, "cv")
        pairs.extend((rows[i], classifier.classify(rows[i].shape)) for i in test_idx)
    return evaluation_of(pairs)


def _print_evaluation(title: str, evaluation: Evaluation) -> None:
    _print_scores(title, evaluation.views)
    _print_hosts("  hosts (discovery belief after all of a service's requests)", evaluation.hosts)
    decisions = evaluation.decisions
    print(
        f"  requests to a host seen before (request verdict or host belief): precision {decisions.precision:.3f}  "
        f"recall {decisions.recall:.3f}"
    )
    print("  share of each dataset file's requests called AI at request time:")
    for group, scores in sorted(evaluation.by_group.items()):
        found = _flagged(scores)
        print(f"    {group:24s} {found['flagged_ai']:4d} / {found['requests']:4d}  {found['share']:.3f}")


def _dev(rows: Sequence[Row], seeds: int) -> int:
    """Repeated grouped CV over the training services only (held-out services never touched)."""
    train_rows = [r for r in rows if not is_held_out(r.service)]
    n_services = len({r.service for r in train_rows})
    print(f"development: grouped 5-fold CV over the {n_services} training services, {seeds} shuffles")
    found = [cross_validated(train_rows, seed=seed) for seed in range(seeds)]
    for view in found[0].views:
        precision = np.mean([e.views[view].precision for e in found])
        recall = np.mean([e.views[view].recall for e in found])
        runs = " ".join(f"{e.views[view].precision:.3f}/{e.views[view].recall:.3f}" for e in found)
        print(f"  {view:9s} precision {precision:.3f}  recall {recall:.3f}   ({runs})")
    print(
        f"  hosts     precision {np.mean([e.hosts.precision for e in found]):.3f}  "
        f"recall {np.mean([e.hosts.recall for e in found]):.3f}"
    )
    _print_evaluation("first shuffle in detail:", found[0])
    return 0


def run(out: Path = MODEL_PATH, *, check: bool = False, no_cv: bool = False, dev: bool = False, seeds: int = 2) -> int:
    """Evaluate, then (unless `check`) write the model to `out`; the exit status (1: below target).

    The command is `phiwall-publish train-shadow` (phiwall_publish.cli).
    """
    requests = load_requests()
    rows = make_rows(requests)
    services = {(r.service, r.label) for r in rows}
    n_ai = sum(label for _, label in services)
    print(f"dataset: {n_ai} AI services, {len(services) - n_ai} ordinary services, {len(requests)} requests")
    if dev:
        return _dev(rows, seeds)

    train_rows = [r for r in rows if not is_held_out(r.service)]
    test_rows = [r for r in rows if is_held_out(r.service)]
    held_services = sorted({r.service for r in test_rows})
    held_classifier, _, held_c = train_classifier(train_rows, "held-out")
    held_pairs = [(row, held_classifier.classify(row.shape)) for row in test_rows]
    held = evaluation_of(held_pairs)
    first = evaluation_of([(row, verdict) for row, verdict in held_pairs if row.service in FIRST_HELD_OUT])
    print(f"held-out services ({len(held_services)}): {', '.join(held_services)}")
    _print_evaluation(
        f"held-out evaluation (C={held_c}, threshold {held_classifier.threshold:.3f}, "
        f"not-AI below {held_classifier.low_threshold:.3f}):",
        held,
    )
    _print_scores(f"  of which the first dataset's {len(FIRST_HELD_OUT)} held-out services:", first.views)
    cv = None if no_cv else cross_validated(rows)
    if cv is not None:
        _print_evaluation("grouped 5-fold cross-validation over all services:", cv)

    version = f"{datetime.now(UTC):%Y.%m.%d}-{dataset_digest()[:8]}"
    classifier, _, c = train_classifier(rows, version)
    print(
        f"final model: {len(classifier.vocabulary)} features, C={c}, threshold {classifier.threshold:.3f}, "
        f"not-AI below {classifier.low_threshold:.3f}"
    )
    per_request = held.views["request"]
    ok = per_request.precision >= TARGET_PRECISION and per_request.recall >= TARGET_RECALL
    print(
        f"target (held-out, per request: precision >= {TARGET_PRECISION}, recall >= {TARGET_RECALL}): "
        + ("met" if ok else "NOT MET")
    )
    if check:
        return 0 if ok else 1
    params = classifier.to_params()
    params["trained"] = {
        "dataset_sha256": dataset_digest(),
        "ai_services": n_ai,
        "ordinary_services": len(services) - n_ai,
        "requests": len(requests),
        "regularisation_c": c,
        "held_out_services": held_services,
        "held_out": {variant: scores.as_dict() for variant, scores in held.views.items()},
        "held_out_hosts": held.hosts.as_dict(),
        "held_out_decisions": held.decisions.as_dict(),
        "held_out_first_dataset": {variant: scores.as_dict() for variant, scores in first.views.items()},
        "grouped_cv": {variant: scores.as_dict() for variant, scores in cv.views.items()} if cv else None,
        "grouped_cv_hosts": cv.hosts.as_dict() if cv else None,
        "grouped_cv_decisions": cv.decisions.as_dict() if cv else None,
        "grouped_cv_by_group": cv.as_dict()["by_group"] if cv else None,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(params, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0
