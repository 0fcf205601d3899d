"""What `max_unknown_held` costs the walk of a 100 MB deflated ZIP, before and after its checks were sped up.

Past `max_unknown_held` (32 MB) every further unread leaf gets the probe's own two tests
(`agent.payload.leaves.probe_head`: media markers in its first MB, then the PCM test) before
only its head is kept. Measured in this process, interleaved, on the ZIP of
`payload_zip_memory.py` (20 incompressible 5 MB entries and an MP3 last, deflated):

- `unbounded`: `max_unknown_held` set beyond the ZIP (no checks: the walk's speed without the bound);
- `bound, before`: the bound with the tests as they were (`np.dot` in the PCM test, which hands
  1-D products to OpenBLAS's thread pool; one `re` scan of 1 MB per marker pattern);
- `bound, after`: the bound with this checkout's tests (`einsum`; marker literals found with
  `bytes.find`, patterns tried only there).

Printed: the median walk time, its ratio to `unbounded`, and what the extraction holds
(the bound must still hold: the held MB stay the same before and after).

    python benchmarks/payload_unknown_held.py [--repeat 5] [--megabytes 100]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from payload_zip_memory import build_zip
from proxy_common import ROOT  # noqa: F401  (puts the checkout on sys.path)

from agent.media import looks_like_media
from agent.media import probe as probe_module
from agent.payload import ExtractLimits, extract_payload
from agent.payload.sniff import guarded
from tests.support.media import DICTATIONS, MediaFactory

PROBE = guarded(looks_like_media)


def _blas_dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b))


def _scan_markers(
    data: bytes | memoryview, *, window: int = probe_module.MARKER_WINDOW, limit: int = probe_module.MAX_MARKERS
) -> list[probe_module.Marker]:
    """`find_markers` as it was: each pattern scanned with `re` over the window (the sync and
    AC-3 checks after it are unchanged, copied here)."""
    base = probe_module.leading_run(data)
    region = bytes(data[base : base + window])
    found: dict[int, str] = {}
    for pattern, back, label, _literal in probe_module._MARKERS:
        for match in pattern.finditer(region):
            if match.start() - back >= 0:
                found.setdefault(match.start() - back, label)
                break
    for checks, match in enumerate(probe_module._SYNC.finditer(region)):
        if checks >= probe_module.MAX_SYNC_CHECKS:
            break
        start = match.start()
        length = probe_module.mpeg_frame_length(region[start : start + 8])
        if length is not None and probe_module.mpeg_frame_length(region[start + length : start + length + 8]):
            found.setdefault(start, "mpeg-frame")
            break
    for match in probe_module._AC3_SYNC.finditer(region):
        start = match.start()
        length = probe_module._ac3_frame_length(region[start : start + 6])
        if length is not None and region[start + length : start + length + 2] == b"\x0b\x77":
            found.setdefault(start, "ac3")
            break
    return [probe_module.Marker(base + offset, label) for offset, label in sorted(found.items())[:limit]]


@contextmanager
def before() -> Iterator[None]:
    """The probe's tests as they were (see the module docstring)."""
    saved_dot, saved_find = probe_module._dot, probe_module.find_markers
    probe_module._dot = _blas_dot
    probe_module.find_markers = _scan_markers
    try:
        yield
    finally:
        probe_module._dot, probe_module.find_markers = saved_dot, saved_find


@contextmanager
def after() -> Iterator[None]:
    yield


def walk(body: bytes, limits: ExtractLimits) -> tuple[float, int, int, list[str]]:
    started = time.perf_counter()
    result = extract_payload(body, "application/zip", None, limits, PROBE)
    seconds = time.perf_counter() - started
    held = sum(len(part.data) for part in [*result.parts, *result.unknown])
    return seconds, held, len(result.parts), result.errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--megabytes", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="phiwall-held-") as tmp_name:
        tmp = Path(tmp_name)
        factory = MediaFactory(tmp)
        dictation = factory.encode(factory.speech(DICTATIONS[0]), ".mp3", "-ac", "1", "-b:a", "64k").read_bytes()
        path = tmp / "deflated.zip"
        build_zip(path, dictation, args.megabytes, zipfile.ZIP_DEFLATED)
        body = path.read_bytes()
    bounded = ExtractLimits()
    unbounded = dataclasses.replace(bounded, max_unknown_held=1 << 40)
    variants: dict[str, tuple[Callable[[], object], ExtractLimits]] = {
        "unbounded": (after, unbounded),
        "bound, before": (before, bounded),
        "bound, after": (after, bounded),
    }
    extract_payload(b"{}", "application/json", None, bounded, PROBE)  # imports warm
    times: dict[str, list[float]] = {name: [] for name in variants}
    held: dict[str, int] = {}
    for _ in range(args.repeat):
        for name, (context, limits) in variants.items():
            with context():  # type: ignore[attr-defined]
                seconds, held[name], parts, errors = walk(body, limits)
            if parts != 1:  # on a very loaded machine the walk can pass max_expand_s
                print(f"{name}: the dictation was not found: {'; '.join(errors)[:160]}")
            times[name].append(seconds)
    load = os.getloadavg()
    print(f"{args.megabytes} MB deflated ZIP, {args.repeat} interleaved runs; load average {load[0]:.1f} {load[1]:.1f}")
    print("{:<16} {:>8} {:>9} {:>8}".format("variant", "walk s", "/ unbound", "held MB"))
    base = statistics.median(times["unbounded"])
    for name, runs in times.items():
        median = statistics.median(runs)
        print(f"{name:<16} {median:8.2f} {median / base:9.2f} {held[name] / 2**20:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
