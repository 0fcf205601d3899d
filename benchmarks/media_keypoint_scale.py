"""The keypoint stage's cost against the number of enrolled videos: the brute-force Hamming
k-nearest-neighbour search over every enrolled keyframe (before) against the multi-index
shortlist (`agent/media/shortlist.py`, now), in the same process on the same bank.

    .venv/bin/python benchmarks/media_keypoint_scale.py [--videos 10 100 1000] [--keyframes 6]

Each enrolled "video" is `--keyframes` keyframes, each the ORB print (300 keypoints, 480 px
wide, as at enrolment) of its own generated picture (blurred noise, rectangles and discs;
nothing downloaded). Queries are 960x540 grey frames described as a query is (2,000
keypoints): an enrolled keyframe's picture turned 90° and shown at 35 % of the frame
(picture-in-picture), and an unrelated picture (a seed never enrolled). Printed per size:
the stage's CPU time per query frame (`time.process_time`: the shared machine's load
inflates wall time; p50 and max over the queries, `rectify.verify_frame`), its
ratio to brute force, the shortlist index memory and build time, and whether each query got
the right answer (the enrolled asset; nothing for the unrelated one). Describing the query
frames costs the same either way and is not counted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from agent.media import keypoints as kp
from agent.media.rectify import KeypointBank, verify_frame
from tests.support.pictures import U8
from tests.support.pictures import textured as picture

CACHE = Path.home() / ".cache/phiwall-keypoint-scale"


def embedded(img: U8, share: float) -> U8:
    turned = np.ascontiguousarray(np.rot90(img))
    scale = min(960 * share / turned.shape[1], 520 / turned.shape[0])
    w, h = int(turned.shape[1] * scale), int(turned.shape[0] * scale)
    canvas = picture(999_999, 960, 540) // 2 + 40  # unrelated busy background
    canvas[10 : 10 + h, 500 : 500 + w] = cv2.resize(turned, (w, h), interpolation=cv2.INTER_AREA)
    return np.asarray(canvas, dtype=np.uint8)


def keyframes(videos: int, per_video: int) -> list[kp.KeypointPrint]:
    """ORB prints of `videos` x `per_video` generated pictures (cached between runs)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    prints: list[kp.KeypointPrint] = []
    for v in range(videos):
        path = CACHE / f"v{v:05d}-{per_video}.npz"
        if path.exists():
            data = np.load(path)
            frames = tuple(kp.KeyFrame(float(i), 480, 270, data[f"p{i}"], data[f"d{i}"]) for i in range(int(data["n"])))
        else:
            found = [kp.describe(picture(v * 100 + i), float(i), kp.ENROL_FEATURES) for i in range(per_video)]
            frames = tuple(f for f in found if f is not None)
            arrays = {f"p{i}": f.points for i, f in enumerate(frames)} | {
                f"d{i}": f.descriptors for i, f in enumerate(frames)
            }
            np.savez(path, n=len(frames), **arrays)  # type: ignore[arg-type]
        prints.append(kp.KeypointPrint(frames))
    return prints


def answer(bank: KeypointBank, query: kp.KeyFrame, exhaustive: bool) -> tuple[float, str | None]:
    started = time.process_time()
    try:
        hits = verify_frame(bank, query, exhaustive=exhaustive)
    except cv2.error:  # BFMatcher takes at most 2^18 train descriptors: brute force fails beyond
        return float("nan"), "error"
    ms = (time.process_time() - started) * 1000.0
    best = max(hits, key=lambda h: h.inliers) if hits else None
    return ms, best.asset_id if best is not None and best.inliers >= 24 else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--keyframes", type=int, default=6, help="keyframes per enrolled video")
    ap.add_argument("--queries", type=int, default=6, help="query frames of each kind per size")
    args = ap.parse_args()
    prints = keyframes(max(args.videos), args.keyframes)
    print(
        f"{'videos':>7} {'keyframes':>9} {'descriptors':>11} {'index MB':>8} {'build s':>7} "
        f"{'brute p50/max ms':>17} {'shortlist p50/max ms':>21} {'ratio p50':>9} {'right brute/short':>17} "
        f"{'unrelated none brute/short':>26}"
    )
    for n in sorted(args.videos):
        bank = KeypointBank()
        bank.add([(f"video{v:05d}", prints[v]) for v in range(n)])
        started = time.perf_counter()
        stack = bank.stacked()
        build_s = time.perf_counter() - started
        rng = np.random.default_rng(n)
        targets = rng.choice(n, size=args.queries, replace=n < args.queries)
        matches = []
        for v in targets:
            i = int(rng.integers(0, prints[int(v)].count))
            frame = kp.describe(embedded(picture(int(v) * 100 + i), 0.35), 0.0, kp.QUERY_FEATURES)
            assert frame is not None
            matches.append((f"video{int(v):05d}", frame))
        unrelated = [
            kp.describe(embedded(picture(5_000_000 + q), 0.6), 0.0, kp.QUERY_FEATURES) for q in range(args.queries)
        ]
        timing: dict[bool, list[float]] = {True: [], False: []}
        right = {True: 0, False: 0}
        none = {True: 0, False: 0}
        # Interleaved, so machine load hits both alike.
        for (want, frame), other in zip(matches, unrelated, strict=True):
            assert other is not None
            for exhaustive in (True, False):
                ms, got = answer(bank, frame, exhaustive)
                timing[exhaustive].append(ms)
                right[exhaustive] += got == want
                ms, got = answer(bank, other, exhaustive)
                timing[exhaustive].append(ms)
                none[exhaustive] += got is None
        brute, short = timing[True], timing[False]
        q = len(matches)
        print(
            f"{n:7d} {len(stack.frames):9d} {stack.desc.shape[0]:11d} {stack.index.nbytes / 1e6:8.1f} {build_s:7.2f} "
            f"{statistics.median(brute):8.1f}/{max(brute):8.1f} "
            f"{statistics.median(short):10.1f}/{max(short):10.1f} "
            f"{statistics.median(short) / statistics.median(brute):9.3f} "
            f"{right[True]:>8}/{right[False]}:{q} {none[True]:>17}/{none[False]}:{q}"
        )


if __name__ == "__main__":
    main()
