"""Is a shadow-classifier model fit to run? Checked before a bundle is installed, not after.

A validly signed bundle can still carry a model that would switch shadow-AI detection off:
non-finite weights, arrays whose shapes disagree, a vocabulary built for another feature
version, or weights that score an obvious AI request below an obvious ordinary one. The
publisher tools and the agent run `check_shadow_model` on every bundle, so such a model is
refused with a reason and the last good bundle stays in force.

The smoke samples are fixed request shapes written here (no payload values, nothing from
real traffic): one unmistakable AI-API upload and one ordinary web request.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from agent.shadow.classifier import AIShapeClassifier, ShadowModelError
from agent.shadow.features import FEATURE_VERSION, feature_kind
from agent.shadow.shape import RequestShape

_JSON = {"content-type": "application/json", "authorization": "Bearer x"}
_SSE = {"content-type": "text/event-stream"}

# An unmistakable AI-API call: a chat completion with a model name and a transcript, streamed.
SMOKE_AI = RequestShape.from_http(
    "POST",
    "/v1/chat/completions",
    _JSON,
    b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"max_tokens":64,"stream":true}',
    _SSE,
    response_prefix=b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"delta":{"content":"hello"}}]}\n\n',
)
# An ordinary web request: a shop's order API.
SMOKE_ORDINARY = RequestShape.from_http(
    "POST",
    "/api/orders/checkout",
    {"content-type": "application/json", "cookie": "s=1"},
    b'{"cart_id":"c1","items":[{"sku":"A-1","quantity":2}],"shipping_address":{"city":"x"},"coupon":""}',
    {"content-type": "application/json", "set-cookie": "s=1"},
    response_prefix=b'{"order_id":"o1","status":"confirmed","total":{"amount":12.5,"currency":"EUR"}}',
)


def _shape_problem(params: Mapping[str, Any]) -> str | None:
    """Array shapes, said plainly (`from_params` would only say 'must be a number')."""
    vocabulary, coef = params.get("vocabulary"), params.get("coef")
    if not isinstance(vocabulary, list) or not isinstance(coef, list):
        return None  # from_params names the missing or mistyped array
    if any(isinstance(value, list) for value in coef):
        return "coef must be one flat list of numbers (shape (n_features,)), not nested lists"
    if len(coef) != len(vocabulary):
        return f"coef has {len(coef)} values for {len(vocabulary)} vocabulary features: the shapes do not match"
    if isinstance(params.get("intercept"), list):
        return "intercept must be one number, not a list"
    non_finite = [i for i, v in enumerate(coef) if isinstance(v, float) and not math.isfinite(v)]
    if non_finite:
        return f"{len(non_finite)} of {len(coef)} coefficients are not finite (first at index {non_finite[0]})"
    return None


def check_shadow_model(params: Mapping[str, Any]) -> AIShapeClassifier:
    """The classifier these parameters describe, after every check; raises `ShadowModelError`."""
    if not isinstance(params, Mapping):
        raise ShadowModelError("shadow classifier parameters: expected a JSON object")
    if params.get("feature_version") != FEATURE_VERSION:
        raise ShadowModelError(
            f"shadow classifier: trained on feature version {params.get('feature_version')!r}, "
            f"this agent computes version {FEATURE_VERSION}"
        )
    problem = _shape_problem(params)
    if problem:
        raise ShadowModelError(f"shadow classifier: {problem}")
    classifier = AIShapeClassifier.from_params(params)
    unknown = [name for name in classifier.vocabulary if feature_kind(name) is None]
    if unknown:
        raise ShadowModelError(
            f"shadow classifier: {len(unknown)} vocabulary entries are not features of version "
            f"{FEATURE_VERSION} (e.g. {unknown[0][:40]!r})"
        )
    smoke(classifier)
    return classifier


def smoke(classifier: AIShapeClassifier) -> None:
    """Predict the fixed samples: finite probabilities, and AI scored above ordinary traffic."""
    scores = classifier.predict_proba([SMOKE_AI, SMOKE_ORDINARY])
    if not all(math.isfinite(float(s)) and 0.0 <= float(s) <= 1.0 for s in scores):
        raise ShadowModelError(f"shadow classifier: smoke prediction is not a probability ({scores.tolist()})")
    ai, ordinary = (classifier.classify(shape) for shape in (SMOKE_AI, SMOKE_ORDINARY))
    if not float(scores[0]) > float(scores[1]) or ai.label == "not_ai" or ordinary.label == "ai":
        raise ShadowModelError(
            "shadow classifier: fails the smoke prediction: a chat-completions upload scores "
            f"{ai.score:.3f} ({ai.label}) and an ordinary checkout {ordinary.score:.3f} ({ordinary.label})"
        )
