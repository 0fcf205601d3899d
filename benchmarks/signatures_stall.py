"""How long a misbehaving update server can hold a check, and what the bundle checks cost.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/signatures_stall.py [--quick]

A real loopback HTTP server serves a TUF repository and, for bundle 2, drips (1 byte/s),
stops sending after 10 bytes, or never answers. Prints, for the default `[signatures]
fetch_*` limits (or `--quick`: stall 1 s, grace 1 s), the seconds from the moment the server
held back to the moment the check returned `stalled` (what health and doctor then show),
and the code and reason. Then the cost of the part checks (shadow model load + smoke
prediction, catalog and policy semantics) when loading the shipped bundle, against the
schema-only parse in the same process.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.config import Config
from agent.updates.bundle import Bundle, bundle_bytes, parse_bundle
from agent.updates.fetch import FetchLimits, limits_from_config
from agent.updates.install import check_for_update
from agent.updates.installed import Layout
from agent.updates.source import shipped_bundle
from tests.integration.signatures.hostile import Behaviour, hostile_server
from tests.integration.signatures.kit import bundle_data, make_repository


def stall_figures(limits: FetchLimits) -> None:
    print(
        f"limits: deadline {limits.deadline:g} s, stall {limits.stall_timeout:g} s, "
        f"min rate {limits.min_rate} B/s after {limits.rate_grace:g} s"
    )
    scenarios = [
        ("1 byte/s drip of the bundle", "drip", "phiwall-bundle.json"),
        ("bundle stops after 10 bytes", "stall", "phiwall-bundle.json"),
        ("timestamp never answered", "silent", "timestamp.json"),
    ]
    for label, mode, target in scenarios:
        behaviour = Behaviour()  # serves whole until told otherwise
        with tempfile.TemporaryDirectory() as scratch:
            repo, ring = make_repository(Path(scratch) / "it")
            repo.publish(bundle_data("2026.1.1"), ring)
            layout = Layout.for_data_dir(Path(scratch) / "agent")
            root = (repo.metadata_dir / "1.root.json").read_bytes()
            with hostile_server(repo.path, behaviour) as url:
                assert check_for_update(layout, url, root, limits=limits)[0].status == "installed"
                repo.publish(bundle_data("2026.2.1"), ring)
                behaviour.mode, behaviour.target = mode, target  # type: ignore[assignment]
                outcome, _ = check_for_update(layout, url, root, limits=limits)
                reported = time.monotonic()
            held = reported - behaviour.stalled_at[0]
            print(f"  {label:<32} reported after {held:6.2f} s  [{outcome.code}] {outcome.reason[:110]}")


def gate_cost() -> None:
    data = bundle_bytes(shipped_bundle())
    runs = 7

    def timed(fn: object) -> float:
        samples = []
        for _ in range(runs):
            began = time.perf_counter()
            fn()  # type: ignore[operator]
            samples.append(time.perf_counter() - began)
        return statistics.median(samples)

    import json

    schema_only = timed(lambda: Bundle.model_validate(json.loads(data)))
    full = timed(lambda: parse_bundle(data))
    print(
        f"shipped bundle ({len(data) // 1024} KiB): schema-only parse {schema_only * 1000:.1f} ms, "
        f"full gate with part checks {full * 1000:.1f} ms, ratio {full / schema_only:.2f}x"
    )


def main() -> None:
    quick = "--quick" in sys.argv
    limits = limits_from_config(Config().signatures)
    if quick:
        limits = FetchLimits(deadline=limits.deadline, stall_timeout=1.0, min_rate=limits.min_rate, rate_grace=1.0)
    stall_figures(limits)
    gate_cost()


if __name__ == "__main__":
    main()
