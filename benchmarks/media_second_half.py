"""The second reader (`agent.media.split`) on a long upload with the dictation at its end.

The 10 MB MP3 of `proxy_upload_verdict.py` (10.5 minutes of other speech, then an enrolled
dictation), matched in process with and without the second reader, in interleaved pairs.
Printed per run: wall seconds, CPU seconds of the calling thread (the decode of the whole)
and of the process (both readers). On idle cores the time to verdict follows the longer of
the two threads; on a saturated machine the wall time is other people's load.

    python benchmarks/media_second_half.py [--pairs 3] [--keep-media DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from proxy_common import ROOT  # noqa: F401  (puts the checkout on sys.path)
from proxy_upload_verdict import long_recording

from agent.media import MediaService
from agent.media.split import SecondHalf
from agent.store import open_store
from tests.integration.proxy.conftest import enroll
from tests.support.media import DICTATIONS, MediaFactory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--keep-media", type=Path, default=None, help="cache generated media here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="phiwall-second-half-") as tmp_name:
        tmp = Path(tmp_name)
        factory = MediaFactory(args.keep_media or tmp / "media")
        factory.root.mkdir(parents=True, exist_ok=True)
        clinical = factory.speech(DICTATIONS[0])
        upload = long_recording(factory, clinical, 10.5, ".mp3", "-ac", "2", "-b:a", "128k").read_bytes()
        url = f"sqlite:///{tmp / 'bench.db'}"
        enroll(url, [clinical])
        store = open_store(url)
        media = MediaService(store)
        media.match_bytes(upload)  # warm-up
        original = SecondHalf.__dict__["start"]

        def without(*_: Any, **__: Any) -> None:
            return None

        def use(reader: bool) -> None:
            SecondHalf.start = original if reader else staticmethod(without)  # type: ignore[method-assign]

        runs: dict[str, list[tuple[float, float, float]]] = {"with": [], "without": []}
        ok = True
        for index in range(args.pairs):
            for mode in ("with", "without") if index % 2 == 0 else ("without", "with"):
                use(mode == "with")
                process, thread, wall = time.process_time(), time.thread_time(), time.perf_counter()
                outcome = media.match_bytes(upload)
                runs[mode].append(
                    (time.perf_counter() - wall, time.thread_time() - thread, time.process_time() - process)
                )
                ok = ok and outcome.match is not None
        use(True)
        store.dispose()
        print(f"{len(upload) / 2**20:.1f} MB MP3, dictation at the end; medians of {args.pairs} runs")
        print(f"{'second reader':<14} {'wall s':>7} {'decode thread CPU s':>20} {'process CPU s':>14}")
        for mode, values in runs.items():
            wall_s, thread_s, process_s = (statistics.median(v[i] for v in values) for i in range(3))
            print(f"{mode:<14} {wall_s:7.2f} {thread_s:20.2f} {process_s:14.2f}")
        print("every run matched the dictation" if ok else "A RUN DID NOT MATCH")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
