"""Cost of classifying one request to an uncatalogued host (shape + numpy model).

    .venv/bin/python benchmarks/shadow_classifier.py [--rounds N]

Over every request of the training dataset (1,124 shapes written from API documentation, JSON,
multipart, form and raw media bodies up to the 64 KB prefix, with their response headers and
the start of their documented answers), prints microseconds per request:
- `from_http`: building the RequestShape (path words, header names, JSON keys, media sniff);
- `classify`: features + numpy logistic regression on an existing shape;
- `full`: both, i.e. what the proxy pays per classified request;
and, in the same process, two baselines with the ratio:
- `json.loads` of the same bodies (what any JSON-aware inspection pays at least);
- scikit-learn `predict_proba` on one row (the library the model was trained with).
Then the worst case: a 10 MB JSON body and a 200,000-deep bracket bomb, which cost the
same as a 64 KB body because only the prefix is read and the tokenizer is bounded.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "publisher"))  # phiwall_publish, uninstalled

import numpy as np
from sklearn.linear_model import LogisticRegression

from agent.shadow.classifier import AIShapeClassifier
from agent.shadow.shape import RequestShape
from phiwall_publish.shadow.dataset import load_requests
from phiwall_publish.shadow.train import MODEL_PATH


def per_item_us(fn: Callable[[], object], items: int, rounds: int) -> float:
    """Median over rounds of (time for one pass over all items) / items, in microseconds."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) / items * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    params = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    classifier = AIShapeClassifier.from_params(params)
    requests = load_requests()
    inputs = [
        (r.method, r.path, dict(r.headers), r.body, dict(r.response_headers or ()), r.response_body) for r in requests
    ]
    shapes = [RequestShape.from_http(m, p, h, b, rh, response_prefix=rb) for m, p, h, b, rh, rb in inputs]
    n = len(inputs)
    bodies = [b for _, _, _, b, _, _ in inputs if b[:1] in (b"{", b"[")]

    def shapes_only() -> None:
        for m, p, h, b, rh, rb in inputs:
            RequestShape.from_http(m, p, h, b, rh, response_prefix=rb)

    def classify_only() -> None:
        for shape in shapes:
            classifier.classify(shape)

    def full() -> None:
        for m, p, h, b, rh, rb in inputs:
            classifier.classify(RequestShape.from_http(m, p, h, b, rh, response_prefix=rb))

    def json_baseline() -> None:
        for body in bodies:
            json.loads(body)

    sklearn_model = LogisticRegression()
    sklearn_model.coef_ = np.array([params["coef"]])
    sklearn_model.intercept_ = np.array([params["intercept"]])
    sklearn_model.classes_ = np.array([0, 1])
    sklearn_model.n_features_in_ = len(params["vocabulary"])
    rows = classifier.design_matrix(shapes)

    def sklearn_baseline() -> None:
        for i in range(n):
            sklearn_model.predict_proba(rows[i : i + 1])

    for warm in (shapes_only, classify_only, full):
        warm()
    t_shape = per_item_us(shapes_only, n, args.rounds)
    t_classify = per_item_us(classify_only, n, args.rounds)
    t_full = per_item_us(full, n, args.rounds)
    t_json = per_item_us(json_baseline, len(bodies), args.rounds)
    t_sklearn = per_item_us(sklearn_baseline, n, max(3, args.rounds // 2))

    huge = b'{"model": "m", "input": "' + b"A" * (10 << 20) + b'"}'
    bomb = b"[" * 200_000
    headers = {"content-type": "application/json"}
    t_huge = per_item_us(lambda: classifier.classify(RequestShape.from_http("POST", "/v1/x", headers, huge)), 1, 20)
    t_bomb = per_item_us(lambda: classifier.classify(RequestShape.from_http("POST", "/v1/x", headers, bomb)), 1, 20)
    t_huge_json = per_item_us(lambda: json.loads(huge), 1, 5)

    print(f"shadow classifier {params['version']}: {len(params['vocabulary'])} features, {n} dataset requests")
    print(f"  from_http (shape)          {t_shape:8.1f} us/request")
    print(f"  classify (features+numpy)  {t_classify:8.1f} us/request")
    print(f"  full                       {t_full:8.1f} us/request")
    print(f"  baseline json.loads        {t_json:8.1f} us/body     full/json = {t_full / t_json:.2f}")
    print(f"  baseline sklearn 1-row     {t_sklearn:8.1f} us/request  classify/sklearn = {t_classify / t_sklearn:.3f}")
    print(f"  10 MB JSON body            {t_huge:8.1f} us/request  (json.loads of it: {t_huge_json / 1000:.1f} ms)")
    print(f"  200k-deep bracket bomb     {t_bomb:8.1f} us/request")


if __name__ == "__main__":
    main()
