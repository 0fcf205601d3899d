"""Idle cost of watching 10,000 files: CPU and memory, inotify vs polling; restart cost.

Builds a folder tree of N files (default 10,000 in 100 sub-folders: small clinical notes and
40 real dictations), lets a `FolderWatcher` ingest it, then measures this process's CPU time
and RSS over an idle window. Baseline in the same process: RSS and CPU before the watcher
started (store open, media service loaded). Then a second watcher on the same store shows
what a restart costs when every file is unchanged (the ledger skips them all).

    .venv/bin/python benchmarks/watch_idle.py [--files 10000] [--idle 30]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from agent.media import MediaService
from agent.store import open_store
from agent.watch import FolderWatcher


def build_tree(root: Path, files: int, clips: int) -> None:
    per_dir = 100
    for i in range(files - clips):
        sub = root / f"patient-{i // per_dir:04d}"
        if i % per_dir == 0:
            sub.mkdir(parents=True)
        (sub / f"note-{i:05d}.txt").write_text(f"clinical note {i}\n")
    media_dir = root / "dictations"
    media_dir.mkdir()
    for j in range(clips):
        out = media_dir / f"dictation-{j:03d}.wav"
        subprocess.run(
            ["espeak-ng", "-w", str(out), f"Dictation {j}. Patient {j} seen today, plan unchanged."], check=True
        )


def idle_cost(process: psutil.Process, seconds: float) -> tuple[float, float]:
    cpu_before = sum(process.cpu_times()[:2])
    time.sleep(seconds)
    cpu = sum(process.cpu_times()[:2]) - cpu_before
    return cpu / seconds * 100.0, process.memory_info().rss / 2**20


def run(mode: str, root: Path, store_url: str, idle_s: float, process: psutil.Process) -> None:
    store = open_store(store_url)
    media = MediaService(store)
    base_cpu, base_rss = idle_cost(process, min(5.0, idle_s))
    poll = mode == "polling"
    watcher = FolderWatcher(store, [root], media=media, poll=poll, quiet_s=2.0, poll_interval_s=5.0)
    started = time.perf_counter()
    watcher.start()
    assert watcher.wait_idle(1800), watcher.health().message
    ingest = time.perf_counter() - started
    cpu, rss = idle_cost(process, idle_s)
    stats = watcher.stats
    print(
        f"{mode:8s} ready in {ingest:6.1f} s (scanned {stats.scanned}, enrolled {stats.enrolled}, "
        f"unchanged {stats.unchanged}, not media {stats.skipped}); idle CPU {cpu:.2f}% of one core "
        f"(baseline {base_cpu:.2f}%), RSS {rss:.0f} MiB (baseline {base_rss:.0f} MiB, +{rss - base_rss:.0f})"
    )
    watcher.stop()
    store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--idle", type=float, default=30.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="phiwall-watch-idle-"))
    process = psutil.Process()
    try:
        root = work / "clinical"
        build_tree(root, args.files, args.clips)
        url = f"sqlite:///{work / 'store.db'}"
        print(f"{args.files} files ({args.clips} dictations) in {len(list(root.iterdir()))} folders")
        run("inotify", root, url, args.idle, process)  # first run ingests everything
        run("inotify", root, url, args.idle, process)  # restart: everything unchanged
        run("polling", root, url, args.idle, process)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
