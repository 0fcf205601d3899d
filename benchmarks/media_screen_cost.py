"""What the filmed-screen search (`agent.media.screen`) adds to a video query that shows no screen.

Every video query searches its first `fingerprint.SCREEN_TRIES` grey copies for a filmed
screen. This fingerprints the same query videos with the search on and off
(`SCREEN_TRIES` 3 / 0), in interleaved rounds in one process, and prints the CPU time of
the calling thread per query (median over rounds) and the ratio on / off, then the CPU time
of the search alone on the query's first SCREEN_TRIES grey copies (what the difference
should be, without the run-to-run noise of a whole decode). The videos are
made here with ffmpeg's lavfi sources (fine cells, a test pattern, a gradient, a 1280x720
screen recording of a test pattern at 35 %), 20 s each, with a sound track, as a
clinician's upload would be. None shows a filmed screen; where the search takes a shape in
the picture for one (printed), every sampled picture is also straightened and hashed, which
the "on" column includes.

    python benchmarks/media_screen_cost.py [--rounds 5] [--work DIR]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from media_eval import ROOT  # noqa: F401  (puts the checkout on sys.path)

from agent.media import fingerprint as fp
from agent.media import screen
from agent.media.model import MediaLimits

SOURCES = {
    "cells": "cellauto=s=640x360:rate=25:rule=30:seed=77",
    "pattern": "testsrc2=s=640x360:rate=25",
    "gradient": "gradients=s=640x360:rate=25:seed=5:speed=0.03:c0=0x2a6f97:c1=0xf2b134",
}
PIP = "[0:v]scale=448:-2[s];color=c=0x303848:s=1280x720:r=25[b];[b][s]overlay=700:300:shortest=1"


def ff(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_videos(work: Path) -> list[Path]:
    made = []
    tone = ["-f", "lavfi", "-i", "sine=frequency=330:sample_rate=22050"]
    encode = ["-t", "20", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"]
    for name, source in SOURCES.items():
        out = work / f"{name}.mp4"
        if not out.exists():
            ff("-f", "lavfi", "-i", source, *tone, *encode, str(out))
        made.append(out)
    pip = work / "screen-recording.mp4"
    if not pip.exists():
        ff("-f", "lavfi", "-i", SOURCES["pattern"], *tone, "-filter_complex", PIP, *encode, str(pip))
    made.append(pip)
    return made


def query_cpu(path: Path) -> float:
    started = time.thread_time()
    fp.fingerprint(path, MediaLimits(), frame_fps=fp.QUERY_FPS, query=True, keep_pcm=True)
    return time.thread_time() - started


def search_cpu(path: Path, repeat: int) -> tuple[float, int]:
    """CPU seconds of `screen.find_screen` on the query's first SCREEN_TRIES grey copies, and
    how many of them it took a shape in for a screen."""
    details = fp.fingerprint(path, MediaLimits(), frame_fps=fp.QUERY_FPS, query=True).details[: fp.SCREEN_TRIES]
    spent = []
    found = 0
    for _ in range(repeat):
        started = time.thread_time()
        found = sum(screen.find_screen(d.gray) is not None for d in details)
        spent.append(time.thread_time() - started)
    return statistics.median(spent), found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", type=Path, default=None, help="keep the generated videos here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="phiwall-screen-cost-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        videos = make_videos(work)
        tries = fp.SCREEN_TRIES
        times: dict[tuple[str, bool], list[float]] = {}
        for _ in range(args.rounds):
            for search in (True, False):
                fp.SCREEN_TRIES = tries if search else 0
                for video in videos:
                    times.setdefault((video.stem, search), []).append(query_cpu(video))
        fp.SCREEN_TRIES = tries
        searches = {video.stem: search_cpu(video, 20) for video in videos}
    header = f"{'query (20 s, no screen)':26} {'search on ms':>13} {'off ms':>8} {'added ms':>9} {'ratio':>6}"
    print(f"{header} {'search alone ms':>16} {'screens seen':>13}")
    for video in videos:
        on = statistics.median(times[(video.stem, True)]) * 1000
        off = statistics.median(times[(video.stem, False)]) * 1000
        alone, seen = searches[video.stem]
        line = f"{video.stem:26} {on:13.1f} {off:8.1f} {on - off:9.1f} {on / off:6.3f} {alone * 1000:16.1f}"
        print(f"{line} {seen:>9} of {fp.SCREEN_TRIES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
