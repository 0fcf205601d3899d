"""What recognising a scrub derivative adds to a matched upload's verdict: the store lookup.

A SQLite store is filled with N enrolled assets, a tenth of them derivatives with lineage rows
(no prints: the lookup never reads them). Then, in the same process, the lookup the proxy does
per matched upload (`agent.store.derivatives.asset_roles` for the matched asset and the
upload's SHA-256, a derivative or an original or neither) is timed against a baseline of the
cheapest store read there is, one `session.get` of the asset by primary key. Figures: median
and p95 per lookup in milliseconds, and the ratio to the baseline.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/derivative_lookup.py              # 20,000 assets
    PYTHONPATH=$PWD .venv/bin/python benchmarks/derivative_lookup.py --assets 100000
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.store import MediaAsset, ScrubLineage, asset_roles, open_store


def _id(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--assets", type=int, default=20_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        originals = args.assets - args.assets // 10
        with store.session() as session:
            session.add_all(
                MediaAsset(id=_id(i), kind="audio", path=f"/srv/clinical/{i}.wav", size=1000) for i in range(originals)
            )
            session.commit()
            for i in range(originals, args.assets):
                row = ScrubLineage(
                    source_sha256=_id(i - originals), source_asset_id=_id(i - originals), output_sha256=_id(i),
                    kind="audio", size=900,
                )  # fmt: skip
                session.add(row)
                session.flush()
                session.add(MediaAsset(id=_id(i), kind="audio", path=f"/tmp/{i}.wav", size=900, lineage_id=row.id))
            session.commit()
        rng = random.Random(7)
        picks = [(_id(rng.randrange(args.assets)), _id(rng.randrange(args.assets * 2))) for _ in range(args.lookups)]

        def timed(fn: object) -> list[float]:
            out = []
            for matched, upload in picks:
                started = time.perf_counter()
                fn(matched, upload)  # type: ignore[operator]
                out.append((time.perf_counter() - started) * 1000)
            return out

        def baseline(matched: str, _upload: str) -> None:
            with store.session() as session:
                session.get(MediaAsset, matched)

        timed(baseline)  # warm the page cache and the connection pool
        base = timed(baseline)
        lookup = timed(lambda matched, upload: asset_roles(store, [matched, upload]))
        store.dispose()

    def p95(values: list[float]) -> float:
        return sorted(values)[int(len(values) * 0.95)]

    print(f"store: {args.assets:,} assets ({args.assets // 10:,} derivatives), {args.lookups:,} lookups")
    print(f"baseline session.get by id   median {statistics.median(base):.3f} ms  p95 {p95(base):.3f} ms")
    print(
        f"derivative lookup (2 ids)    median {statistics.median(lookup):.3f} ms  p95 {p95(lookup):.3f} ms"
        f"  ({statistics.median(lookup) / statistics.median(base):.1f}x baseline)"
    )


if __name__ == "__main__":
    main()
