#!/usr/bin/env python3
"""How audio matching scales with the hours enrolled: latency, index memory, build and load time.

    .venv/bin/python benchmarks/media_scale.py                  # 10, 100, 1000 hours
    .venv/bin/python benchmarks/media_scale.py --hours 10 100   # a quicker run
    .venv/bin/python benchmarks/media_scale.py --store-hours 100  # also time start-up from SQLite
    .venv/bin/python benchmarks/media_scale.py --compare-plain  # packed vs plain uint32 rows, paired
    .venv/bin/python benchmarks/media_scale.py --spill-dir /var/tmp  # gap streams and verification
                                                  # items memory-mapped from disk (agent.media.spill)
    .venv/bin/python benchmarks/media_scale.py --segment-dir /var/tmp/seg  # as the service does by
        # default (agent.media.segfile): segments saved, mapped back; warm and evicted latency,
        # process memory, restore time

Index content: synthetic prints with the statistics of real ones. Landmark hashes are drawn
from the empirical hash distribution of PhiWall's own generated speech corpus (so posting
lists are as long as real speech makes them), at the real rate of hashes per second;
chromaprint items are drawn from the corpus's real items. Into that haystack go the real
prints of held-out dictations, and 10 s real excerpts of those (mp3-transcoded) are the
queries: every query must still find its recording (recall is printed next to latency).

Printed per index size: entries, index memory (every byte the index arrays hold, and per
1,000 h; with --spill-dir also the part of it on the heap, the rest being mapped files),
build time, search latency p50/p95 for the prints of a 10 s query, the full `match_pcm`
latency p50/p95 (decoding 10 s of 16 kHz PCM + fingerprinting + search), and recall.
Baseline for the ratios: the smallest index in the same run.

With --segment-dir, each index is saved as segment files and used mapped from them (the
service's default beside a SQLite store); a second line per size gives the process memory
(RSS, USS, PSS growth over the empty process), the time to save and to restore the segments
(the restart), and latency with the mapped pages evicted before every query
(madvise(MADV_DONTNEED) on the mapping, then posix_fadvise(POSIX_FADV_DONTNEED) on the files,
so every page a query touches is read from the disk again).
"""

from __future__ import annotations

import argparse
import gc
import json
import mmap
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import media_corpus
from media_eval import ROOT  # noqa: F401  (puts the checkout on sys.path)

from agent.media import MediaService, segfile, spill
from agent.media.fingerprint import AudioPrint, fingerprint
from agent.media.index import AssetInfo, IndexState, MediaIndex, search_audio
from agent.media.landmarks import FRAME_SECONDS, HASH_BITS
from agent.media.model import MediaLimits
from agent.media.postings import InvertedLists
from agent.media.repository import save
from agent.store import open_store

ASSET_MINUTES = 10.0  # synthetic recordings are 10 minutes long


def real_prints(seed: int) -> list[tuple[str, AudioPrint]]:
    spec = media_corpus.CorpusSpec(seed=seed)
    base = media_corpus.cache_root() / spec.tag() / "base.json"
    if base.exists():  # only the originals are used: no need to derive the queries
        root, items = base.parent, [media_corpus.Item(**d) for d in json.loads(base.read_text())]
    else:
        root, items = media_corpus.build(spec, log=lambda m: print(m, file=sys.stderr))
    out = []
    for it in items:
        if it.role == "original" and it.kind == "audio":
            p = fingerprint(root / it.path, MediaLimits())
            if p.audio is not None:
                out.append((str(root / it.path), p.audio))
    return out


class Haystack:
    """Draws synthetic recordings with the corpus's statistics."""

    def __init__(self, pool: list[AudioPrint], seed: int = 5) -> None:
        hashes = np.concatenate([p.hashes for p in pool])
        seconds = sum(p.seconds for p in pool)
        counts = np.bincount(hashes, minlength=1 << HASH_BITS).astype(np.float64)
        self.cdf = np.cumsum(counts / counts.sum())
        self.rate = hashes.size / seconds
        self.items = np.concatenate([p.chroma for p in pool])
        self.rng = np.random.default_rng(seed)

    def recording(self, seconds: float) -> AudioPrint:
        n = int(self.rate * seconds)
        hashes = np.searchsorted(self.cdf, self.rng.random(n)).astype(np.uint32)
        frames = int(seconds / FRAME_SECONDS)
        times = np.sort(self.rng.integers(0, frames, n)).astype(np.uint32)
        start = int(self.rng.integers(0, max(1, self.items.size - int(seconds * 8.1))))
        chroma = self.items[start : start + int(seconds * 8.07)]
        return AudioPrint(chroma=chroma.astype(np.uint32), hashes=hashes, times=times, seconds=seconds)


def build_index(hours: float, haystack: Haystack, real: list[tuple[str, AudioPrint]]) -> tuple[MediaIndex, float]:
    count = int(hours * 60 / ASSET_MINUTES)
    entries: list[tuple[AssetInfo, AudioPrint | None, None]] = []
    for i in range(count):
        p = haystack.recording(ASSET_MINUTES * 60)
        entries.append((AssetInfo(f"syn{i:06d}", "audio", f"/syn/{i}.wav", p.seconds, True, False), p, None))
    for path, p in real:
        entries.append((AssetInfo(path, "audio", path, p.seconds, True, False), p, None))
    index = MediaIndex()
    started = time.perf_counter()
    index.add(entries)
    return index, time.perf_counter() - started


def queries(real: list[tuple[str, AudioPrint]], per_recording: int = 2) -> list[tuple[str, bytes]]:
    """10 s excerpts of the held-out dictations, through mp3, as 16 kHz s16le PCM."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (path, p) in enumerate(real):
            for j in range(per_recording):
                start = (p.seconds - 10) * (j + 1) / (per_recording + 1)
                mp3 = Path(tmp) / f"{k}_{j}.mp3"
                media_corpus.ff("-ss", f"{start:.2f}", "-t", "10", "-i", path, "-b:a", "48k", str(mp3))
                raw = Path(tmp) / f"{k}_{j}.raw"
                media_corpus.ff("-i", str(mp3), "-ac", "1", "-ar", "16000", "-f", "s16le", str(raw))
                out.append((path, raw.read_bytes()))
    return out


def plain_rows(lists: InvertedLists) -> InvertedLists:
    """The same lists as plain uint32 rows (the layout before packing), for a paired timing."""
    if lists.packed is None or lists.offsets is None:
        return lists
    _, positions = lists.entries()
    return InvertedLists(lists.key_bits, positions, lists.offsets.astype(np.int64), None)


def plain_state(state: IndexState) -> IndexState:
    audio = tuple(replace(s, lm=plain_rows(s.lm), cp=plain_rows(s.cp)) for s in state.audio)
    return replace(state, audio=audio)


def paired(state: IndexState, queries: list[AudioPrint]) -> str:
    """Search latency on packed and on plain rows, queries interleaved so load hits both alike."""
    plain = plain_state(state)
    times: dict[str, list[float]] = {"packed": [], "plain": []}
    for _ in range(3):
        for query in queries:
            for name, s in (("packed", state), ("plain", plain)):
                t = time.perf_counter()
                search_audio(s, query)
                times[name].append((time.perf_counter() - t) * 1000)
    return "; ".join(f"{n} {statistics.median(v):.1f} / {pct(v, 0.95):.1f} ms" for n, v in times.items())


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def memory() -> tuple[float, float, float]:
    """This process's RSS, USS and PSS in MB."""
    info = psutil.Process().memory_full_info()
    return info.rss / 2**20, info.uss / 2**20, getattr(info, "pss", 0) / 2**20


def mapped_state(state: IndexState, directory: Path) -> tuple[IndexState, float, float]:
    """The state with its audio segments saved and mapped back (as `MediaIndex` does beside a
    store), the seconds to save, and the seconds to restore them as a restart would."""
    for old in directory.glob("audio-*.seg"):
        old.unlink()
    files = segfile.SegmentFiles(directory, lambda ids: dict.fromkeys(ids, "bench"))
    started = time.perf_counter()
    audio = tuple(files.keep(s) for s in state.audio)
    saved = time.perf_counter() - started
    ids = {a for s in audio for a in s.asset_ids}
    started = time.perf_counter()
    restored = files.restore(ids, dict.fromkeys(ids, "bench"))
    restore_s = time.perf_counter() - started
    assert sum(s.size for s in restored) == sum(s.size for s in audio)
    del restored
    return replace(state, audio=audio), saved, restore_s


def evict(state: IndexState, directory: Path) -> None:
    """Drop the mapped pages from this process and from the page cache."""
    for segment in state.audio:
        for array in (
            segment.cp_items,
            segment.lm.packed and segment.lm.packed.words,
            segment.cp.packed and segment.cp.packed.words,
        ):
            handle = getattr(array, "_mmap", None)
            if isinstance(handle, mmap.mmap):
                handle.madvise(mmap.MADV_DONTNEED)
    for path in directory.glob("audio-*.seg"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def time_store_load(hours: float, haystack: Haystack) -> tuple[float, float, float]:
    """Seconds to write `hours` of prints to SQLite and to start a MediaService on them."""
    from agent.media.decode import DecodeReport
    from agent.media.fingerprint import MediaPrints

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/scale.db")
        started = time.perf_counter()
        for i in range(int(hours * 60 / ASSET_MINUTES)):
            p = haystack.recording(ASSET_MINUTES * 60)
            prints = MediaPrints("audio", p, None, DecodeReport(has_audio=True, audio_s=p.seconds))
            save(
                store,
                asset_id=f"{i:064d}",
                prints=prints,
                mime="audio/wav",
                path=f"/syn/{i}.wav",
                size=1,
                origin_agent_id="",
            )
        written = time.perf_counter() - started
        started = time.perf_counter()
        service = MediaService(store)
        loaded = time.perf_counter() - started
        assert service.stats().assets == int(hours * 60 / ASSET_MINUTES)
        del service
        gc.collect()
        started = time.perf_counter()
        service = MediaService(store)  # a restart: the segments saved by the first start
        restarted = time.perf_counter() - started
        assert service.stats().assets == int(hours * 60 / ASSET_MINUTES)
        store.dispose()
    return written, loaded, restarted


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--store-hours", type=float, nargs="*", default=[10, 100])
    ap.add_argument("--compare-plain", action="store_true", help="also time search on plain uint32 rows")
    ap.add_argument("--spill-dir", type=Path, help="memory-map the big index arrays from files here")
    ap.add_argument("--segment-dir", type=Path, help="save segments here and search them mapped (segfile)")
    args = ap.parse_args(argv)
    if args.spill_dir:
        spill.configure(args.spill_dir)

    pool = [p for _, p in real_prints(11)]
    real = real_prints(12)[:8]
    haystack = Haystack(pool)
    probes = queries(real)
    minutes = sum(p.seconds for p in pool) / 60
    print(f"haystack: {haystack.rate:.1f} landmark hashes/s drawn from {minutes:.0f} min of speech; ", end="")
    print(f"{len(probes)} queries of 10 s from {len(real)} held-out dictations")
    columns = [("hours", 6), ("entries", 12), ("index MB", 9), ("MB/1000h", 9), ("heap/1000h", 10), ("build s", 8)]
    columns += [("search p50/p95 ms", 18), ("match_pcm p50/p95 ms", 21), ("recall", 7)]
    print(" ".join(f"{name:>{width}}" for name, width in columns))
    base_search = None
    scratch = tempfile.TemporaryDirectory()
    service = MediaService(open_store(f"sqlite:///{scratch.name}/empty.db"))
    if args.segment_dir:
        args.segment_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for hours in args.hours:
        gc.collect()
        before = memory()
        index, built = build_index(hours, haystack, real)
        state = index.state
        if args.segment_dir:
            state, saved_s, restore_s = mapped_state(state, args.segment_dir)
            index._state = state  # the service searches the mapped segments
            gc.collect()
        entries = sum(s.size for s in state.audio)
        searches: list[float] = []
        full: list[float] = []
        hits = 0
        prints: list[AudioPrint] = []
        service.index = index  # the service's own code path, over this in-memory index
        for path, pcm in probes:
            query = fingerprint(pcm, MediaLimits(), pcm=("s16le", 16000, 1)).audio
            assert query is not None
            prints.append(query)
            for _ in range(3):
                t = time.perf_counter()
                found = search_audio(state, query)
                searches.append((time.perf_counter() - t) * 1000)
            outcome = service.match_pcm(pcm, sample_rate=16000)
            full.append(outcome.ms)
            hits += bool(outcome.match and outcome.match.asset_id == path and found and found[0].asset_id == path)
        nbytes = state.nbytes
        p50, p95 = statistics.median(searches), pct(searches, 0.95)
        base_search = base_search or p50
        mb = nbytes / 2**20
        heap = (nbytes - state.mapped_nbytes) / 2**20
        print(
            f"{hours:6.0f} {entries:12,d} {mb:9.0f} {mb / hours * 1000:9.0f} {heap / hours * 1000:10.0f} {built:8.1f} "
            f"{p50:8.1f} / {p95:6.1f}  {statistics.median(full):9.1f} / {pct(full, 0.95):7.1f} "
            f"{hits / len(probes):7.3f}   (search x{p50 / base_search:.1f} of the smallest)"
        )
        if args.compare_plain:
            print(f"       paired search p50 / p95: {paired(state, prints)}")
        if args.segment_dir:
            after = memory()
            growth = " / ".join(f"{(a - b) / hours * 1000:.0f}" for a, b in zip(after, before, strict=True))
            cold: list[float] = []
            cold_full: list[float] = []
            for (_, pcm), query in zip(probes, prints, strict=True):
                evict(state, args.segment_dir)
                t = time.perf_counter()
                search_audio(state, query)
                cold.append((time.perf_counter() - t) * 1000)
                evict(state, args.segment_dir)
                cold_full.append(service.match_pcm(pcm, sample_rate=16000).ms)
            print(
                f"       mapped {state.mapped_nbytes / 2**20:.0f} MB; process growth RSS / USS / PSS per 1,000 h "
                f"{growth} MB; save {saved_s:.1f} s, restore {restore_s:.1f} s; evicted: search "
                f"{statistics.median(cold):.1f} / {pct(cold, 0.95):.1f} ms, match_pcm "
                f"{statistics.median(cold_full):.1f} / {pct(cold_full, 0.95):.1f} ms"
            )
        service.index = MediaIndex()
        del index, state
    for hours in args.store_hours:
        written, loaded, restarted = time_store_load(hours, haystack)
        print(f"store: {hours:.0f} h of prints written to SQLite in {written:.1f} s; ", end="")
        print(f"MediaService start-up load {loaded:.1f} s (build and save), restart {restarted:.1f} s (restore)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
