"""Video geometry: per-case recall on turned, mirrored, embedded, cropped, captioned and
re-filmed copies of enrolled silent videos, and false / wrong-asset matches over >= 1,000
distractors (frames and clips of other videos, including other videos made from the same
picture sources: the same ffmpeg pattern with another seed or hue).

    .venv/bin/python benchmarks/media_geometry.py [--work DIR] [--distractor-frames 100]

All media is made here with ffmpeg's lavfi sources (nothing downloaded), under --work
(default ~/.cache/phiwall-media-geometry, reused between runs).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from collections import defaultdict
from pathlib import Path

from agent.media import MediaService
from agent.store import open_store

SIZE = "480x360"
SECONDS = 10
# (name, lavfi source, hue): enrolled. The two testsrc2 videos share their pictures and differ
# only in hue; so do the distractors below made from the same sources. `gradients` gets its
# colours here: FFmpeg 5.1 draws them at random whatever the seed.
ENROLLED = [
    ("life-a", "life=s={s}:rate=25:ratio=0.3:seed=101:mold=10:life_color=#30C060", 0),
    ("life-b", "life=s={s}:rate=25:ratio=0.2:seed=202:mold=10:life_color=#C04080", 0),
    ("cell-a", "cellauto=s={s}:rate=25:rule=30:seed=303", 0),
    ("cell-b", "cellauto=s={s}:rate=25:rule=110:seed=404", 0),
    ("testsrc2-h0", "testsrc2=s={s}:rate=25", 0),
    ("testsrc2-h140", "testsrc2=s={s}:rate=25", 140),
    ("grad-a", "gradients=s={s}:rate=25:seed=505:speed=0.05:c0=0x2a6f97:c1=0xf2b134", 0),
    ("mandel", "mandelbrot=s={s}:rate=25", 0),
]
DISTRACTOR_SOURCES = [
    ("life-x", "life=s={s}:rate=25:ratio=0.3:seed=9101:mold=10:life_color=#30C060", 0),
    ("life-y", "life=s={s}:rate=25:ratio=0.2:seed=9202:mold=10:life_color=#C04080", 0),
    ("cell-x", "cellauto=s={s}:rate=25:rule=30:seed=9303", 0),
    ("cell-y", "cellauto=s={s}:rate=25:rule=110:seed=9404", 0),
    ("testsrc2-h70", "testsrc2=s={s}:rate=25", 70),
    ("testsrc2-h250", "testsrc2=s={s}:rate=25", 250),
    ("grad-x", "gradients=s={s}:rate=25:seed=9505:speed=0.05:c0=0x8e3b46:c1=0x7fc8a9", 0),
    ("testsrc", "testsrc=s={s}:rate=25", 0),
    ("smpte", "smptehdbars=s={s}:rate=25", 0),
    ("mandel-zoom", "mandelbrot=s={s}:rate=25:start_scale=0.5", 0),
]
BG = "color=c=0x303848:s=1280x720:r=25"
REFILM = (
    "pad=iw*1.3:ih*1.3:(ow-iw)/2:(oh-ih)/2:color=0x202020,"
    "perspective=x0=60:y0=30:x1=W-20:y1=0:x2=0:y2=H-10:x3=W-70:y3=H-40,gblur=sigma=1.5,eq=brightness=0.08:contrast=0.9"
)
CAPTION = (
    "drawbox=x=0:y=ih*0.78:w=iw:h=ih*0.22:color=black@0.8:t=fill,"
    "drawbox=x=iw*0.05:y=ih*0.05:w=iw*0.2:h=ih*0.12:color=white@0.7:t=fill"
)
# case -> (-vf or -filter_complex graph, uses a background input)
EDITS: dict[str, tuple[str, bool]] = {
    "plain": ("null", False),
    "rotate90": ("transpose=1", False),
    "rotate180": ("transpose=1,transpose=1", False),
    "rotate270": ("transpose=2", False),
    "mirror-h": ("hflip", False),
    "mirror-v": ("vflip", False),
    "pip30": ("[0:v]scale=384:-2[s];[1:v][s]overlay=760:340:shortest=1", True),
    "pip40": ("[0:v]scale=512:-2[s];[1:v][s]overlay=80:60:shortest=1", True),
    "crop25-corner": ("crop=iw*0.75:ih*0.75:iw*0.25:ih*0.25", False),
    "caption-logo": (CAPTION, False),
    "refilmed": (REFILM, False),
}
FRAME_CASES = ("rotate90", "mirror-h", "pip30", "crop25-corner", "refilmed")


def ff(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def source_video(out: Path, src: str, hue: int, seconds: float) -> Path:
    if not out.exists():
        vf = f"hue=h={hue},format=yuv420p" if hue else "format=yuv420p"
        ff(
            "-f",
            "lavfi",
            "-i",
            src.format(s=SIZE),
            "-t",
            str(seconds),
            "-vf",
            vf,
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            str(out),
        )
    return out


def edited(
    src: Path, out: Path, edit: str, *, start: float = 0.0, length: float | None = None, frames: str = ""
) -> Path:
    if out.exists():
        return out
    graph, background = EDITS[edit]
    pre = ["-ss", f"{start:.2f}"] + (["-t", f"{length:.2f}"] if length else [])
    inputs = [*pre, "-i", str(src)] + (["-f", "lavfi", "-i", BG] if background else [])
    flag = "-filter_complex" if background else "-vf"
    if frames:  # still pictures: one per second
        graph = f"{graph},fps=1" if not background else f"{graph}[o];[o]fps=1"
        ff(*inputs, flag, graph, "-q:v", "4", frames)
        out.touch()
    else:
        ff(
            *inputs,
            flag,
            graph,
            "-an",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "28",
            "-pix_fmt",
            "yuv420p",
            str(out),
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache/phiwall-media-geometry")
    ap.add_argument("--distractor-frames", type=int, default=100, help="frames per distractor source (10 sources)")
    args = ap.parse_args()
    work: Path = args.work
    for sub in ("orig", "query", "distract"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    originals = {name: source_video(work / "orig" / f"{name}.mp4", src, hue, SECONDS) for name, src, hue in ENROLLED}
    queries: list[tuple[str, str, Path]] = []  # (case, enrolled name, file)
    for name, path in originals.items():
        for edit in EDITS:
            if edit == "plain":
                continue
            queries.append((edit, name, edited(path, work / "query" / f"{name}__{edit}.mp4", edit)))
        queries.append(
            ("excerpt2s-silent", name, edited(path, work / "query" / f"{name}__x2.mp4", "plain", start=3, length=2))
        )
        for edit in FRAME_CASES:
            marker = work / "query" / f"{name}__{edit}_frames.done"
            edited(path, marker, edit, start=4.3, length=1.0, frames=str(work / "query" / f"{name}__{edit}_%02d.jpg"))
            frame = work / "query" / f"{name}__{edit}_01.jpg"
            queries.append((f"frame {edit}", name, frame))
    distractors: list[Path] = []
    short: list[Path] = []  # the 2 s excerpts among them
    n = args.distractor_frames
    for name, src, hue in DISTRACTOR_SOURCES:
        long = source_video(work / "distract" / f"{name}.mp4", src, hue, n + 2)
        for i, edit in enumerate(("rotate90", "pip30", "refilmed", "crop25-corner", "mirror-h", "caption-logo")):
            clip = edited(long, work / "distract" / f"{name}__{edit}.mp4", edit, start=5 + 7 * i, length=6)
            distractors.append(clip)
        edit = ("pip30", "refilmed", "rotate90", "caption-logo")[(len(distractors) - 3 * len(short)) % 4]
        # 2 s silent excerpts: short queries are sampled again more densely (service.SHORT_QUERY_FRAMES).
        for i, start in enumerate((2, 21, 40)):
            short.append(edited(long, work / "distract" / f"{name}__x2_{i}.mp4", "plain", start=start, length=2))
            distractors.append(short[-1])
        marker = work / "distract" / f"{name}__frames.done"
        edited(long, marker, edit, start=1, length=n, frames=str(work / "distract" / f"{name}__f%03d.jpg"))
        distractors.extend(sorted((work / "distract").glob(f"{name}__f*.jpg"))[:n])

    db = work / "bench.db"
    db.unlink(missing_ok=True)
    store = open_store(f"sqlite:///{db}")
    service = MediaService(store)
    started = time.perf_counter()
    ids = {name: service.enroll_path(path).asset_id for name, path in originals.items()}
    enrol_s = time.perf_counter() - started
    service = MediaService(store)  # as a fresh process would: prints from the store
    results: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    wrong_found: list[str] = []
    undecided: list[str] = []
    latencies: list[float] = []
    for case, name, path in queries:
        outcome = service.match_path(path)
        latencies.append(outcome.ms)
        row = results[case]
        row[2] += 1
        m = outcome.match
        if m is not None and m.ambiguous:
            # Blocked as enrolled media, but not named: neither a hit nor a wrong asset.
            undecided.append(f"{path.name} -> one of {1 + len(m.alternatives)} ({m.method}, score {m.score})")
        elif m is not None:
            row[0 if m.asset_id == ids[name] else 1] += 1
            if m.asset_id != ids[name]:
                wrong_found.append(f"{path.name} -> {Path(m.path).name} ({m.method}, score {m.score})")
    false = []
    d_lat: list[float] = []
    for path in distractors:
        outcome = service.match_path(path)
        d_lat.append(outcome.ms)
        m = outcome.match
        if m is not None:
            false.append(f"{path.name} -> {Path(m.path).name} ({m.method}, score {m.score})")
    print(f"{'case':22} recall  wrong  (of)")
    hits = total = wrong = 0
    for case, (h, w, t) in sorted(results.items()):
        print(f"{case:22} {h / t:.3f}  {w:5d}  ({t})")
        hits, wrong, total = hits + h, wrong + w, total + t
    print(f"overall recall {hits / total:.3f} ({hits}/{total}), wrong-asset {wrong}")
    print(f"false matches {len(false)} of {len(distractors)} distractors; queries not named: {len(undecided)}")
    for line in wrong_found + false + undecided:
        print(f"  {line}")
    q = statistics.quantiles(latencies, n=20)
    dq = statistics.quantiles(d_lat, n=20)
    print(
        f"match latency, queries p50 {statistics.median(latencies):.0f} ms p95 {q[18]:.0f} ms; "
        f"distractors p50 {statistics.median(d_lat):.0f} ms p95 {dq[18]:.0f} ms"
    )
    print(
        f"enrolment {len(originals) * SECONDS / enrol_s:.0f}x real time "
        f"({enrol_s:.1f} s for {len(originals) * SECONDS} s)"
    )


if __name__ == "__main__":
    main()
