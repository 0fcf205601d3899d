#!/usr/bin/env python3
"""Detection quality on PhiWall's own harder cases (docs/detection.md "Figures"), through the product path.

    .venv/bin/python benchmarks/media_quality.py              # held-out corpus, seed 12
    .venv/bin/python benchmarks/media_quality.py --json out.json

The corpus (benchmarks/media_corpus.py) is generated with another seed than the one the
calibration was fitted on, so these figures are held out. Every query goes through
`MediaService.match_path` exactly as `phiwall match` does. Printed per transformation:
recall (right asset), wrong-asset matches; per negative class: false matches; then enrolment
speed (media seconds per CPU second, i.e. x real time per core) and match latency.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import media_corpus
from media_eval import ENROL_CPU, asset_paths, enrolled


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    spec = media_corpus.CorpusSpec(seed=args.seed)
    root, items = media_corpus.build(spec, log=lambda m: print(m, file=sys.stderr))

    cpu0 = time.process_time()
    with enrolled(root, items) as (service, enrol_wall, media_s):
        enrol_cpu = time.process_time() - cpu0
        names = asset_paths(service, root)
        rows: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # hit, wrong, total
        negatives: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # false, total
        latency: dict[str, list[float]] = defaultdict(list)
        false_list: list[str] = []
        for it in items:
            if it.role == "original":
                continue
            outcome = service.match_path(root / it.path)
            latency[it.kind].append(outcome.ms)
            match = outcome.match
            # A match that names no single asset (several fit equally) is blocked all the same.
            found = None if match is None else "(one of several)" if match.ambiguous else names.get(match.asset_id)
            if it.role == "negative":
                # Clips made from an enrolled video's exact picture source (another hue, other
                # sound) are the same pictures: reported apart, not as false matches.
                same = it.extra.get("same_source_as")
                neg = negatives[
                    f"{'same-pictures' if same else it.kind}:{it.kind}:{it.note}" if same else f"{it.kind}:{it.note}"
                ]
                neg[1] += 1
                if found:
                    neg[0] += 1
                    tag = "SAME-PICTURES" if same else "FALSE"
                    false_list.append(f"{tag} {it.path} -> {found} ({outcome.match.kind}, {outcome.match.score})")  # type: ignore[union-attr]
                continue
            row = rows[it.transform]
            row[2] += 1
            if match is not None and match.ambiguous:
                false_list.append(f"NOT NAMED {it.path} -> one of {1 + len(match.alternatives)}")
            elif found == it.source:
                row[0] += 1
            elif found:
                row[1] += 1
                false_list.append(f"WRONG {it.path} -> {found}")
    print(f"{'transformation':24} {'recall':>7} {'hits':>5} {'wrong':>5}  of")
    for name in sorted(rows):
        hit, wrong, total = rows[name]
        print(f"{name:24} {hit / total:7.3f} {hit:5d} {wrong:5d}  {total}")
    print(f"\n{'negative class':24} {'false':>7}  of")
    for name in sorted(negatives):
        false, total = negatives[name]
        print(f"{name:24} {false:7d}  {total}")
    for line in false_list:
        print(line)
    total_q = sum(r[2] for r in rows.values())
    hits = sum(r[0] for r in rows.values())
    wrong = sum(r[1] for r in rows.values())
    falses = sum(n[0] for k, n in negatives.items() if not k.startswith("same-pictures"))
    n_neg = sum(n[1] for k, n in negatives.items() if not k.startswith("same-pictures"))
    same_hits = sum(n[0] for k, n in negatives.items() if k.startswith("same-pictures"))
    same_total = sum(n[1] for k, n in negatives.items() if k.startswith("same-pictures"))
    print(
        f"\nrecall {hits / total_q:.3f} ({hits}/{total_q}), wrong-asset {wrong}, false matches {falses}/{n_neg} "
        f"(same-picture clips matched: {same_hits}/{same_total}); "
        f"enrolment {media_s / enrol_cpu:.0f}x real time per core ({media_s:.0f} s of media, "
        f"{enrol_cpu:.1f} s CPU, {enrol_wall:.1f} s wall)"
    )
    for kind, (seconds, cpu) in sorted(ENROL_CPU.items()):
        print(
            f"enrolment {kind:5}: {seconds / cpu:.0f}x real time per core ({seconds:.0f} s of media, {cpu:.1f} s CPU)"
        )
    for kind, values in sorted(latency.items()):
        values.sort()
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
        print(f"match latency {kind:5}: p50 {statistics.median(values):.1f} ms, p95 {p95:.1f} ms (n={len(values)})")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "seed": args.seed,
                    "recall": hits / total_q,
                    "wrong_asset": wrong,
                    "false_matches": falses,
                    "negatives": n_neg,
                    "per_transform": {k: {"recall": v[0] / v[2], "wrong": v[1], "n": v[2]} for k, v in rows.items()},
                    "per_negative_class": {k: {"false": v[0], "n": v[1]} for k, v in negatives.items()},
                    "enrol_x_realtime_per_core": media_s / enrol_cpu,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
