"""The payload core's hot path on chat-sized bodies, another git ref vs this checkout, in one process.

Most bodies crossing the proxy are small JSON API calls that carry no media; the proxy asks
`nothing_to_extract` about each (the fast path), and the walk (`extract_payload`) about those
it is not sure of. This times both entry points, plus `encoded_runs` (the text scan behind
chat strings), for both versions of the payload core, interleaved round by round in the same
process so the machine's load hits both alike (`payload_baseline.py` imports the other ref).
Bodies: the proxy_overhead.py chat row (a 2,000-character "xxx..." prompt: one long base64-
alphabet run), a realistic chat turn, the FHIR bundle row, a base64 JWT in a header-like field,
and an NDJSON batch of three chat requests.

    python benchmarks/payload_hotpath.py [--baseline main] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from types import ModuleType

from payload_baseline import load
from proxy_common import ROOT  # noqa: F401  (puts the checkout on sys.path)
from proxy_overhead import FHIR_BUNDLE

import agent.payload
import agent.payload.textmedia
import agent.payload.walker
from agent.media import looks_like_media
from agent.payload.sniff import guarded

PROBE = guarded(looks_like_media)
TURN = (
    "Summarise the discharge plan for the patient in bed 12: started on metformin 500 mg twice "
    "daily, follow-up in two weeks, and review the HbA1c result when it comes back. "
) * 8
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0" * 3
BODIES: dict[str, tuple[bytes, str]] = {
    "chat 2 KB xxx (proxy_overhead)": (
        json.dumps({"messages": [{"role": "user", "content": "x" * 2000}]}).encode(),
        "application/json",
    ),
    "chat turn 1.4 KB": (
        json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": TURN}]}).encode(),
        "application/json",
    ),
    "FHIR bundle 2 KB": (FHIR_BUNDLE, "application/json"),
    "JSON with a JWT": (
        json.dumps({"auth": JWT, "messages": [{"role": "user", "content": TURN}]}).encode(),
        "application/json",
    ),
    "NDJSON batch of 3": (
        b"\n".join(
            json.dumps({"custom_id": str(i), "body": {"messages": [{"content": TURN}]}}).encode() for i in range(3)
        ),
        "application/x-ndjson",
    ),
}


def per_call_us(call: Callable[[], object], seconds: float = 0.15) -> float:
    """Median µs per call over a few timed batches."""
    batch = 200
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 3:
        started = time.perf_counter()
        for _ in range(batch):
            call()
        samples.append((time.perf_counter() - started) / batch * 1e6)
    return statistics.median(samples)


def calls(payload: ModuleType, walker: ModuleType, textmedia: ModuleType) -> dict[str, Callable[[bytes, str], object]]:
    limits = payload.ExtractLimits()
    return {
        "nothing_to_extract": lambda body, ct: walker.nothing_to_extract(body, ct),
        "extract_payload": lambda body, ct: payload.extract_payload(body, ct, None, limits, PROBE),
        "encoded_runs": lambda body, ct: textmedia.encoded_runs(body.decode(), 256),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="main")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    old = load(args.baseline)
    versions = {
        "before": calls(old, sys.modules[f"{old.__name__}.walker"], sys.modules[f"{old.__name__}.textmedia"]),
        "after": calls(agent.payload, agent.payload.walker, agent.payload.textmedia),
    }
    print(f"payload core hot path, µs per call (median of {args.rounds} interleaved rounds); before = {args.baseline}")
    print(f"{'body':<32} {'entry point':<19} {'before':>8} {'after':>8} {'after/before':>13}")
    worst = 0.0
    for name, (body, content_type) in BODIES.items():
        for entry in ("nothing_to_extract", "extract_payload", "encoded_runs"):
            times: dict[str, list[float]] = {"before": [], "after": []}
            for _ in range(args.rounds):
                for version, table in versions.items():
                    call = table[entry]
                    times[version].append(per_call_us(lambda c=call, b=body, t=content_type: c(b, t)))  # type: ignore[misc]
            before, after = statistics.median(times["before"]), statistics.median(times["after"])
            worst = max(worst, after / before)
            print(f"{name:<32} {entry:<19} {before:8.1f} {after:8.1f} {after / before:13.2f}")
    print(f"worst ratio {worst:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
