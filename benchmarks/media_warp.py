#!/usr/bin/env python3
"""Speed, tempo and pitch edits (issue 12, audio): recall per case and false matches over
distractors edited the same way, through `MediaService.match_path`.

    .venv/bin/python benchmarks/media_warp.py                       # 12 dictations, 250 x 4 distractors
    .venv/bin/python benchmarks/media_warp.py --real-dir DIR        # add real speech (WAV) as distractors
    .venv/bin/python benchmarks/media_warp.py --dictations 4 --distractors 25   # quick look

Originals: clinical dictations spoken by espeak-ng (random voice, rate and pitch), ~30 s.
Queries: a 20 s excerpt of each under every edit (tempo with pitch kept via ffmpeg atempo;
resampled speed via asetrate; pitch shift with tempo kept via rubberband), as MP3.
Distractors (never enrolled): other speech of the same length under the same four edit
families (unedited, a random tempo, speed and pitch of the ranges above): half clinical text
from the same templates (same-template scripts, hard negatives), half other text, in other
voices; with `--real-dir`, every WAV under it (real human speech, e.g. the pocketsphinx sdist's
test audio) is cut into 15 s pieces that join the distractors. None of this media was used to
set the warp grid or the gain rule (those were set on an earlier, separate corpus), so the
figures are held out. Prints recall per case, wrong-asset and false matches, and the match
latency of queries and distractors.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import media_corpus
from media_corpus import VOICES, espeak, ff, speech_text

from agent.media import MediaService
from agent.store import open_store

TEMPO = [0.5, 0.75, 1.25, 1.5, 2.0]
SPEED = [0.75, 0.9, 1.1, 1.25, 1.5]
PITCH = [-3, -2, 2, 3]


def _filter(family: str, factor: float) -> str:
    if family == "tempo":
        chain, left = [], factor
        while left > 2.0 or left < 0.5:  # atempo takes 0.5..2 per stage
            step = 2.0 if left > 2.0 else 0.5
            chain.append(f"atempo={step}")
            left /= step
        return ",".join([*chain, f"atempo={left:.4f}"])
    if family == "speed":
        return f"asetrate=22050*{factor:.4f},aresample=22050"
    if family == "pitch":
        return f"rubberband=pitch={2 ** (factor / 12):.5f}"
    return "anull"


def _edit(src: Path, out: Path, family: str, factor: float, start: float, seconds: float) -> Path:
    if not out.exists():
        ff("-ss", f"{start:.2f}", "-t", f"{seconds:.2f}", "-i", str(src), "-ac", "1", "-ar", "22050",
           "-af", _filter(family, factor), "-b:a", "64k", str(out))  # fmt: skip
    return out


def build(root: Path, dictations: int, distractors: int, seed: int, real_dir: Path | None) -> dict[str, object]:
    rnd = random.Random(seed)
    (root / "orig").mkdir(parents=True, exist_ok=True)
    (root / "query").mkdir(exist_ok=True)
    (root / "neg").mkdir(exist_ok=True)
    originals, queries = [], []
    for i in range(dictations):
        orig = root / "orig" / f"dict{i:03d}.wav"
        if not orig.exists():
            voice = (rnd.choice(VOICES), rnd.randint(140, 175), rnd.randint(30, 70))
            espeak(speech_text(rnd, 32, True), *voice, orig)
        originals.append(orig)
        duration = media_corpus.probe_duration(orig)
        for family, factors in (("tempo", TEMPO), ("speed", SPEED), ("pitch", PITCH)):
            for factor in factors:
                start = rnd.uniform(0, max(0.0, duration - 20.0))
                out = root / "query" / f"dict{i:03d}_{family}_{factor}.mp3"
                unit = " st" if family == "pitch" else "x"
                case = f"{family} {'+' if family == 'pitch' and factor > 0 else ''}{factor}{unit}"
                queries.append({"path": _edit(orig, out, family, factor, start, 20.0), "source": orig, "case": case})
    sources: list[tuple[Path, float]] = []
    for j in range(distractors):
        src = root / "neg" / f"neg{j:04d}.wav"
        if not src.exists():
            voice = (rnd.choice(VOICES), rnd.randint(130, 185), rnd.randint(20, 80))
            espeak(speech_text(rnd, 16, clinical=j % 2 == 0), *voice, src)
        sources.append((src, 0.0))
    if real_dir is not None:
        for wav in sorted(real_dir.rglob("*.wav")):
            length = media_corpus.probe_duration(wav)
            sources += [(wav, s) for s in np.arange(0.0, max(1.0, length - 5.0), 15.0)]
    for k, (src, start) in enumerate(sources):
        for family, factors in (("none", [1.0]), ("tempo", TEMPO), ("speed", SPEED), ("pitch", PITCH)):
            factor = float(rnd.choice(factors))
            out = root / "neg" / f"d{k:04d}_{family}.mp3"
            real = "real " if src.parent != root / "neg" else ""
            queries.append({"path": _edit(src, out, family, factor, start, 15.0), "source": None,
                            "case": f"distractor {real}{family}"})  # fmt: skip
    return {"originals": originals, "queries": queries}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dictations", type=int, default=12)
    ap.add_argument("--distractors", type=int, default=250, help="espeak distractors (each under 4 edits)")
    ap.add_argument("--real-dir", type=Path, help="WAV files of real speech to add as distractors")
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache/phiwall-media-bench")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    root = args.cache / f"warp-bench-{args.seed}-{args.dictations}-{args.distractors}"
    started = time.perf_counter()
    corpus = build(root, args.dictations, args.distractors, args.seed, args.real_dir)
    print(f"corpus ready in {time.perf_counter() - started:.0f} s: {root}", file=sys.stderr)

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/warp.db")
        service = MediaService(store)
        names: dict[str, Path] = {}
        for orig in corpus["originals"]:  # type: ignore[attr-defined]
            enrolled = service.enroll_path(orig)
            assert enrolled.asset_id is not None, enrolled.error
            names[enrolled.asset_id] = orig
        rows: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # hit, wrong, total
        latency: dict[str, list[float]] = defaultdict(list)
        for q in corpus["queries"]:  # type: ignore[attr-defined]
            outcome = service.match_path(q["path"])
            found = names.get(outcome.match.asset_id) if outcome.match else None
            row = rows[q["case"]]
            row[2] += 1
            if q["source"] is None:
                row[1] += found is not None
                latency["distractor"].append(outcome.ms)
            else:
                row[0] += found == q["source"]
                row[1] += found is not None and found != q["source"]
                latency["query"].append(outcome.ms)
        store.dispose()

    figures: dict[str, object] = {"cases": {}, "latency_ms": {}}
    print(f"{'case':26} {'recall':>7} {'wrong':>6} {'false':>6} {'of':>5}")
    for case in sorted(rows):
        hit, bad, total = rows[case]
        if case.startswith("distractor"):
            print(f"{case:26} {'':>7} {'':>6} {bad:6d} {total:5d}")
        else:
            print(f"{case:26} {hit / total:7.3f} {bad:6d} {'':>6} {total:5d}")
        figures["cases"][case] = {"hits": hit, "bad": bad, "total": total}  # type: ignore[index]
    for kind, values in latency.items():
        p50, p95 = np.percentile(values, 50), np.percentile(values, 95)
        print(f"match latency, {kind}: p50 {p50:.0f} ms, p95 {p95:.0f} ms ({len(values)} files)")
        figures["latency_ms"][kind] = {"p50": p50, "p95": p95}  # type: ignore[index]
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
