"""Is this request to an uncatalogued host AI-API traffic? A linear model over shape features.

The model is trained offline with scikit-learn (`signatures/shadow/train.py`) and ships in the
signature bundle as JSON: vocabulary, coefficients, intercept and thresholds. The agent never
unpickles anything from an update; it predicts here with numpy, and a test checks
the result equals scikit-learn's `predict_proba` on the whole dataset.

Three answers, not two: `ai`, `not_ai`, and `unknown` when the request carries too little
known structure (a bare GET of an unseen path) or the score sits between the two thresholds.
Callers treat `unknown` as "no opinion", never as "not AI".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from agent.errors import PhiWallError
from agent.shadow.features import FEATURE_VERSION, STRUCTURAL_PREFIXES, shape_features
from agent.shadow.shape import RequestShape

MODEL_FORMAT = "phiwall-shadow-classifier"
MODEL_FORMAT_VERSION = 1
MAX_VOCABULARY = 200_000

Label = Literal["ai", "not_ai", "unknown"]


class ShadowModelError(PhiWallError):
    """The shipped classifier parameters are missing, malformed or of another format version."""

    exit_code = 5


@dataclass(frozen=True, slots=True)
class ShapeVerdict:
    """The classifier's answer for one request shape."""

    label: Label
    score: float
    evidence: int  # how many informative features of the shape the model knows


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ShadowModelError(f"shadow classifier parameters: {message}", hint="rebuild or reinstall the bundle")


def _finite_float(value: Any, what: str) -> float:
    _require(isinstance(value, int | float) and not isinstance(value, bool), f"{what} must be a number")
    number = float(value)
    _require(math.isfinite(number), f"{what} must be finite")
    return number


class AIShapeClassifier:
    """Logistic regression over binary shape features, evaluated with numpy."""

    def __init__(
        self,
        vocabulary: Iterable[str],
        coef: npt.ArrayLike,
        intercept: float,
        *,
        threshold: float,
        low_threshold: float,
        min_evidence: int = 2,
        version: str = "",
    ) -> None:
        names = list(vocabulary)
        weights = np.asarray(coef, dtype=np.float64).reshape(-1)
        _require(len(names) == weights.shape[0], "vocabulary and coefficients differ in length")
        _require(len(set(names)) == len(names), "vocabulary has duplicate features")
        _require(bool(np.all(np.isfinite(weights))), "coefficients must be finite")
        _require(0.0 < low_threshold <= threshold < 1.0, "need 0 < low_threshold <= threshold < 1")
        _require(min_evidence >= 0, "min_evidence must be >= 0")
        self.vocabulary: dict[str, int] = {name: index for index, name in enumerate(names)}
        self.coef = weights
        self.intercept = float(intercept)
        self.threshold = float(threshold)
        self.low_threshold = float(low_threshold)
        self.min_evidence = int(min_evidence)
        self.version = version
        self._informative = np.array(
            [not name.startswith(STRUCTURAL_PREFIXES) for name in names],
            dtype=bool,
        )

    # --- parameters as data -------------------------------------------------------------

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> AIShapeClassifier:
        """Build from the JSON parameters shipped in the bundle; refuses anything malformed."""
        _require(isinstance(params, Mapping), "expected a JSON object")
        _require(params.get("format") == MODEL_FORMAT, f"format is not {MODEL_FORMAT!r}")
        _require(params.get("format_version") == MODEL_FORMAT_VERSION, "unsupported format_version")
        _require(params.get("feature_version") == FEATURE_VERSION, "trained on another feature version")
        vocabulary = params.get("vocabulary")
        coef = params.get("coef")
        _require(isinstance(vocabulary, list) and all(isinstance(v, str) for v in vocabulary), "bad vocabulary")
        _require(isinstance(coef, list), "coef must be a list")
        assert isinstance(vocabulary, list)
        assert isinstance(coef, list)
        _require(len(vocabulary) <= MAX_VOCABULARY, "vocabulary too large")
        weights = [_finite_float(value, "coefficient") for value in coef]
        min_evidence = params.get("min_evidence", 2)
        _require(isinstance(min_evidence, int) and not isinstance(min_evidence, bool), "min_evidence must be an int")
        version = params.get("version", "")
        return cls(
            vocabulary,
            weights,
            _finite_float(params.get("intercept"), "intercept"),
            threshold=_finite_float(params.get("threshold"), "threshold"),
            low_threshold=_finite_float(params.get("low_threshold"), "low_threshold"),
            min_evidence=min_evidence,
            version=str(version),
        )

    def to_params(self) -> dict[str, Any]:
        """The JSON-ready parameters (floats round-trip exactly through `json`)."""
        ordered = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        return {
            "format": MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "feature_version": FEATURE_VERSION,
            "version": self.version,
            "vocabulary": ordered,
            "coef": [float(value) for value in self.coef],
            "intercept": self.intercept,
            "threshold": self.threshold,
            "low_threshold": self.low_threshold,
            "min_evidence": self.min_evidence,
        }

    # --- prediction ---------------------------------------------------------------------

    def indices(self, features: Iterable[str]) -> npt.NDArray[np.intp]:
        """Column indices of the known features (unknown features carry no weight)."""
        lookup = self.vocabulary.get
        found = [index for index in map(lookup, features) if index is not None]
        return np.array(sorted(found), dtype=np.intp)

    def score_indices(self, indices: npt.NDArray[np.intp]) -> float:
        return _sigmoid(self.intercept + float(self.coef.take(indices).sum()))

    def score(self, shape: RequestShape) -> float:
        """Probability (0..1) that the request is AI-API traffic."""
        return self.score_indices(self.indices(shape_features(shape)))

    def classify(self, shape: RequestShape) -> ShapeVerdict:
        """`ai` / `not_ai` / `unknown`, with the score and how much known evidence there was."""
        indices = self.indices(shape_features(shape))
        probability = self.score_indices(indices)
        informative = indices[self._informative.take(indices)]
        evidence = len(informative)
        # What the known evidence itself says, without the intercept: a request whose score
        # is high only because of the model's prior (a shape made of words it never saw) is
        # not called AI. Most real traffic is ordinary and unseen; the prior must not decide.
        margin = float(self.coef.take(informative).sum())
        label: Label
        if evidence < self.min_evidence:
            label = "unknown"
        elif probability >= self.threshold:
            label = "ai" if margin > 0 else "unknown"
        elif probability <= self.low_threshold:
            label = "not_ai"
        else:
            label = "unknown"
        return ShapeVerdict(label=label, score=probability, evidence=evidence)

    def design_matrix(self, shapes: Iterable[RequestShape]) -> npt.NDArray[np.float64]:
        """Dense 0/1 matrix of shapes x vocabulary (training, evaluation and tests)."""
        rows = [self.indices(shape_features(shape)) for shape in shapes]
        matrix = np.zeros((len(rows), len(self.vocabulary)), dtype=np.float64)
        for row, indices in enumerate(rows):
            matrix[row, indices] = 1.0
        return matrix

    def predict_proba(self, shapes: Iterable[RequestShape]) -> npt.NDArray[np.float64]:
        """Vectorised probabilities for many shapes."""
        z = self.design_matrix(shapes) @ self.coef + self.intercept
        out: npt.NDArray[np.float64] = np.empty_like(z)
        positive = z >= 0
        out[positive] = 1.0 / (1.0 + np.exp(-z[positive]))
        exp_z = np.exp(z[~positive])
        out[~positive] = exp_z / (1.0 + exp_z)
        return out
