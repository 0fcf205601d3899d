"""Watcher latency: time from a file's last write to its prints being in the index (store).

A real `FolderWatcher` with the real `MediaService` on a real folder. For each clip (distinct
espeak-ng dictations, 10-20 s), the benchmark writes the file, closes it, and polls the
store for its `watched_file` row. Baseline in the same process: `MediaService.enroll_path`
on the same files directly, so the ratio shows what watching adds on top of the quiet period.

    .venv/bin/python benchmarks/watch_latency.py [--files 8] [--quiet 2.0]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from sqlmodel import select

from agent.media import MediaService
from agent.store import WatchedFile, open_store
from agent.watch import FolderWatcher

TEXT = (
    "Dictation number {i}. The patient was seen in clinic {i} days after discharge. Wound healing well, "
    "no signs of infection, blood pressure stable. Continue the current medication and review in {j} weeks."
)


def make_clips(directory: Path, count: int) -> list[Path]:
    clips = []
    for i in range(count):
        out = directory / f"clip{i}.wav"
        subprocess.run(["espeak-ng", "-w", str(out), TEXT.format(i=i + 3, j=i + 2)], check=True)
        clips.append(out)
    return clips


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--quiet", type=float, default=2.0, help="watch.quiet_seconds")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="phiwall-watch-bench-"))
    try:
        clips = make_clips(work, args.files)
        # Baseline: direct enrolment of the same files in a separate store.
        base_store = open_store(f"sqlite:///{work / 'baseline.db'}")
        base_media = MediaService(base_store)
        direct = []
        for clip in clips:
            started = time.perf_counter()
            assert base_media.enroll_path(clip).error is None
            direct.append(time.perf_counter() - started)
        base_store.dispose()

        store = open_store(f"sqlite:///{work / 'watched.db'}")
        folder = work / "dictations"
        folder.mkdir()
        watcher = FolderWatcher(store, [folder], media=MediaService(store), quiet_s=args.quiet, tick_s=0.1)
        watcher.start()
        assert watcher.wait_idle(30)
        latencies = []
        for clip in clips:
            target = folder / clip.name
            data = clip.read_bytes()
            with target.open("wb") as fh:
                fh.write(data)
            last_write = time.perf_counter()
            while True:
                with store.session() as session:
                    row = session.get(WatchedFile, str(target))
                if row is not None:
                    break
                time.sleep(0.01)
            latencies.append(time.perf_counter() - last_write)
        with store.session() as session:
            enrolled = [r for r in session.exec(select(WatchedFile)).all() if r.status == "enrolled"]
        watcher.stop()
        store.dispose()
        assert len(enrolled) == len(clips)
        direct_ms = statistics.median(direct) * 1000
        latency_ms = statistics.median(latencies) * 1000
        print(f"files: {len(clips)} dictations, quiet period {args.quiet:.1f} s")
        print(f"direct enroll_path (baseline): median {direct_ms:.0f} ms, max {max(direct) * 1000:.0f} ms")
        print(f"last write -> prints in the store: median {latency_ms:.0f} ms, max {max(latencies) * 1000:.0f} ms")
        overhead = latency_ms - args.quiet * 1000 - direct_ms
        print(f"watching overhead beyond quiet period + enrolment: {overhead:.0f} ms (median)")
        print(f"ratio latency / (quiet + direct enrolment): {latency_ms / (args.quiet * 1000 + direct_ms):.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
