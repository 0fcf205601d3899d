"""The shipped request-shape classifier: numpy equals scikit-learn, JSON only, honest thresholds."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from agent.shadow.classifier import AIShapeClassifier, ShadowModelError
from agent.shadow.features import shape_features
from agent.shadow.shape import RequestShape
from phiwall_publish.shadow import train
from phiwall_publish.shadow.dataset import load_requests, load_services

MODEL = Path(train.MODEL_PATH)


@pytest.fixture(scope="module")
def params() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(MODEL.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def rows() -> list[train.Row]:
    return train.make_rows(load_requests())


def _sklearn_from(params: dict[str, Any]) -> LogisticRegression:
    """A scikit-learn model carrying exactly the shipped parameters."""
    model = LogisticRegression()
    model.coef_ = np.array([params["coef"]], dtype=np.float64)
    model.intercept_ = np.array([params["intercept"]], dtype=np.float64)
    model.classes_ = np.array([0, 1])
    model.n_features_in_ = len(params["vocabulary"])
    return model


def test_numpy_prediction_equals_sklearn_on_the_whole_dataset(params: dict[str, Any], rows: list[train.Row]) -> None:
    classifier = AIShapeClassifier.from_params(params)
    shapes = [row.shape for row in rows]
    expected = _sklearn_from(params).predict_proba(classifier.design_matrix(shapes))[:, 1]
    one_by_one = np.array([classifier.score(shape) for shape in shapes])
    batched = classifier.predict_proba(shapes)
    assert len(shapes) > 1000
    assert np.max(np.abs(one_by_one - expected)) < 1e-9
    assert np.max(np.abs(batched - expected)) < 1e-9


def test_exported_model_round_trips_json_and_matches_the_fitted_sklearn_model(rows: list[train.Row]) -> None:
    """Train with scikit-learn, export as JSON text, reload: same probabilities on every row."""
    vocabulary = train.build_vocabulary(rows)
    fitted = train.fit(rows, vocabulary, c=3.0)
    exported = train.to_classifier(fitted, vocabulary, 0.6, 0.3, "test").to_params()
    text = json.dumps(exported)
    reloaded = AIShapeClassifier.from_params(json.loads(text))
    assert reloaded.to_params() == exported
    expected = fitted.predict_proba(train.design(rows, vocabulary))[:, 1]
    got = np.array([reloaded.score(row.shape) for row in rows])
    assert np.max(np.abs(got - expected)) < 1e-9
    assert b"pickle" not in text.encode()
    assert text.lstrip().startswith("{")


def test_shipped_model_is_current_with_the_dataset_and_feature_code(
    params: dict[str, Any], rows: list[train.Row]
) -> None:
    assert params["trained"]["dataset_sha256"] == train.dataset_digest(), (
        "the dataset changed: retrain with `.venv/bin/phiwall-publish train-shadow`"
    )
    produced = set().union(*(row.features for row in rows))
    stale = [name for name in params["vocabulary"] if name not in produced]
    assert not stale, f"features the current code never produces (bump FEATURE_VERSION and retrain): {stale[:5]}"


def test_recorded_by_service_figures_do_not_regress(params: dict[str, Any]) -> None:
    """Regression guard on the figures the trainer measured on services it never saw.

    Precision meets the 0.95 target on every view. Per-request recall does not reach the 0.90
    target (about 0.80; see docs/shadow-ai.md for why); these floors sit just under the
    recorded figures so a worse model or dataset change is noticed. On the first dataset's
    held-out services the model must not fall below the previous model (0.823 per request).
    """
    trained = params["trained"]
    held = trained["held_out"]
    for view in ("request", "with-body", "response"):
        assert held[view]["precision"] >= train.TARGET_PRECISION, view
    assert held["request"]["recall"] >= 0.78
    assert held["with-body"]["recall"] >= 0.82
    assert held["response"]["recall"] >= 0.80
    first = trained["held_out_first_dataset"]
    assert first["request"]["precision"] >= train.TARGET_PRECISION
    assert first["request"]["recall"] >= 0.823
    hosts = trained["held_out_hosts"]
    assert hosts["precision"] >= train.TARGET_PRECISION
    assert hosts["recall"] >= 0.85
    cv = trained["grouped_cv"]
    for view in ("request", "with-body", "response"):
        assert cv[view]["precision"] >= train.TARGET_PRECISION, view
    assert cv["request"]["recall"] >= 0.78
    held_out = set(trained["held_out_services"])
    assert held_out == {service.id for _, service in load_services() if train.is_held_out(service.id)}
    assert held_out >= train.FIRST_HELD_OUT


def test_dataset_covers_enough_services_from_documentation() -> None:
    services = load_services()
    ai = [s for _, s in services if s.label == "ai"]
    ordinary = [s for _, s in services if s.label == "ordinary"]
    assert len(ai) >= 40
    assert len(ordinary) >= 40
    for _, service in services:
        assert service.docs.startswith("https://"), service.id
        assert len(service.requests) >= 2, service.id


def test_hospital_apis_are_not_ai_even_when_never_seen_in_training(
    params: dict[str, Any], rows: list[train.Row]
) -> None:
    """EHRs, FHIR servers, DICOMweb and HL7 engines move clinical media daily: they must not look like AI.

    Each hospital dataset file is left out of training in turn (its services are then as
    unseen as a hospital's own integration engine would be); the shipped model is checked on all.
    """
    files: dict[str, set[str]] = {}
    for group, service in load_services():
        if group.startswith("ordinary_health"):
            files.setdefault(group, set()).add(service.id)
    assert len(files) >= 2
    assert sum(len(ids) for ids in files.values()) >= 20
    shipped = AIShapeClassifier.from_params(params)
    for group, health in files.items():
        training = [row for row in rows if row.service not in health]
        vocabulary = train.build_vocabulary(training)
        unseen = train.to_classifier(
            train.fit(training, vocabulary, params["trained"]["regularisation_c"]),
            vocabulary,
            params["threshold"],
            params["low_threshold"],
            f"no-{group}",
        )
        for row in rows:
            if row.service in health:
                assert unseen.classify(row.shape).label != "ai", (group, row.service, row.shape.path_tokens)
                assert shipped.classify(row.shape).label != "ai", (row.service, row.shape.path_tokens)


def _request(method: str, path: str, body: object | None = None, **headers: str) -> RequestShape:
    data = json.dumps(body).encode() if body is not None else b""
    base = {"content-type": "application/json"} if body is not None else {}
    return RequestShape.from_http(method, path, {**base, **headers}, data)


def test_typical_requests(params: dict[str, Any]) -> None:
    classifier = AIShapeClassifier.from_params(params)
    chat = _request(
        "POST",
        "/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 0.2, "stream": True},
        authorization="Bearer x",
    )
    assert classifier.classify(chat).label == "ai"
    bare = RequestShape.from_http("GET", "/", {})
    assert classifier.classify(bare).label == "unknown"  # no evidence: no guess
    fhir = _request(
        "POST",
        "/fhir/Observation",
        {"resourceType": "Observation", "status": "final", "code": {"coding": []}, "subject": {"reference": "x"}},
    )
    assert classifier.classify(fhir).label != "ai"


def _valid(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if key != "trained"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "pickle"}, "format"),
        ({"format_version": 99}, "format_version"),
        ({"feature_version": 0}, "feature version"),
        ({"coef": [1.0]}, "differ in length"),
        ({"intercept": float("nan")}, "finite"),
        ({"threshold": 1.5}, "threshold"),
        ({"low_threshold": 0.99}, "threshold"),
        ({"vocabulary": "abc"}, "vocabulary"),
        ({"min_evidence": True}, "min_evidence"),
    ],
)
def test_malformed_parameters_are_refused(params: dict[str, Any], change: dict[str, Any], message: str) -> None:
    with pytest.raises(ShadowModelError, match=message):
        AIShapeClassifier.from_params({**_valid(params), **change})


def test_non_finite_coefficient_is_refused(params: dict[str, Any]) -> None:
    coef = list(params["coef"])
    coef[3] = math.inf
    with pytest.raises(ShadowModelError, match="finite"):
        AIShapeClassifier.from_params({**_valid(params), "coef": coef})


def test_unknown_features_carry_no_weight(params: dict[str, Any]) -> None:
    classifier = AIShapeClassifier.from_params(params)
    shape = RequestShape.from_http("GET", "/zzqx/wvvy", {"x-zzqx-wvvy": "1"})
    assert "path:zzqx" in shape_features(shape)
    expected = 1 / (
        1
        + math.exp(
            -(
                classifier.intercept
                + sum(
                    classifier.coef[classifier.vocabulary[f]]
                    for f in shape_features(shape)
                    if f in classifier.vocabulary
                )
            )
        )
    )
    assert classifier.score(shape) == pytest.approx(expected, abs=1e-12)
