#!/usr/bin/env python3
"""Enrolment speed per kind, in media seconds per CPU second (x real time per core).

    .venv/bin/python benchmarks/media_enrol.py              # corpus seed 12 (media_quality's)
    .venv/bin/python benchmarks/media_enrol.py --repeat 3   # best of 3 per file (less noise)

Every original of the corpus is enrolled into two services over two fresh SQLite stores, one
file at a time, alternating, so machine load hits both alike:
- "saved": the default, index segments saved beside the store and mapped (`segfile`);
- "memory": the same with the index kept on the heap only (as before segment files).
The difference is what saving segments costs enrolment. CPU time is this process's
(`time.process_time`, every thread), so the figure is per core whatever the load; a file's
figure is the best of `--repeat` enrolments (each into a fresh pair of stores).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import media_corpus
from media_eval import ROOT  # noqa: F401  (puts the checkout on sys.path)

from agent.media import MediaService
from agent.store import open_store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)
    spec = media_corpus.CorpusSpec(seed=args.seed)
    base = media_corpus.cache_root() / spec.tag() / "base.json"
    if base.exists():  # only the originals are enrolled: no need to derive the queries
        root, items = base.parent, [media_corpus.Item(**d) for d in json.loads(base.read_text())]
    else:
        root, items = media_corpus.build(spec, log=lambda m: None)
    originals = [it for it in items if it.role == "original"]
    totals: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="phiwall-enrol-") as tmp:
            saved = MediaService(open_store(f"sqlite:///{tmp}/saved.db"))
            memory = MediaService(open_store(f"sqlite:///{tmp}/memory.db"))
            memory.index.files = None
            for it in originals:
                for name, service in (("saved", saved), ("memory", memory)):
                    cpu = time.process_time()
                    outcome = service.enroll_path(root / it.path)
                    spent = time.process_time() - cpu
                    if outcome.error or outcome.asset_id is None:
                        raise SystemExit(f"enrolment of {it.path} failed: {outcome.error}")
                    media_s = service.index.state.assets[outcome.asset_id].duration_s
                    best = totals.setdefault((it.path, name), [media_s, spent])
                    best[1] = min(best[1], spent)
    per_kind: dict[tuple[str, str], list[float]] = {}
    kinds = {it.path: it.kind for it in originals}
    for (path, name), (media_s, spent) in totals.items():
        acc = per_kind.setdefault((kinds[path], name), [0.0, 0.0])
        acc[0] += media_s
        acc[1] += spent
    for (kind, name), (media_s, spent) in sorted(per_kind.items()):
        rate = media_s / spent
        print(f"enrolment {kind:5} {name:6}: {rate:5.0f}x real time per core ({media_s:.0f} s, {spent:.2f} s CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
