"""Cost of opening each wrapper and encoding: the payload walker alone, in this process.

For every wrapper and encoding the evasion suite covers, a body is built around a 60 s
dictation (MP3, about 0.5 MB, made at run time with espeak-ng and ffmpeg) and handed to
`agent.payload.extract_payload` with the proxy's own probe (`guarded(looks_like_media)`).
Printed per case: the median walk time, the time of the plain body (the bare MP3 as a file
upload) in the same run, their difference (what the wrapper costs), and the peak memory the
walk allocated (tracemalloc) over the body's size. Then each bomb, with the bound that stopped
it, its time and its peak allocation. Fingerprinting is not included: it is the same for the
leaf whatever wrapped it (see proxy_upload_verdict.py).

    python benchmarks/payload_walk.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from proxy_common import ROOT  # noqa: F401  (puts the checkout on sys.path)

from agent.media import looks_like_media
from agent.payload import ExtractLimits, extract_payload
from agent.payload.sniff import guarded
from tests.integration.proxy.test_evasion import CASES
from tests.support.media import DICTATIONS, MediaFactory
from tests.unit.payload import wrappers

PROBE = guarded(looks_like_media)
LIMITS = ExtractLimits()


def walk_once(body: bytes, content_type: str | None) -> tuple[float, int]:
    """(seconds, parts found): timed without tracemalloc, which slows allocation-heavy code."""
    started = time.perf_counter()
    result = extract_payload(body, content_type, None, LIMITS, PROBE)
    return time.perf_counter() - started, len(result.parts)


def peak_of(body: bytes, content_type: str | None) -> int:
    """Peak bytes the walk allocates (a separate, traced run)."""
    tracemalloc.start()
    extract_payload(body, content_type, None, LIMITS, PROBE)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def timed(body: bytes, content_type: str | None, repeat: int) -> tuple[float, int, int]:
    runs = [walk_once(body, content_type) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), peak_of(body, content_type), runs[-1][1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="phiwall-walk-") as tmp_name:
        factory = MediaFactory(Path(tmp_name))
        clinical = factory.speech(DICTATIONS[0])
        mp3 = factory.encode(clinical, ".mp3", "-ac", "1", "-b:a", "48k").read_bytes()
        wav = clinical.read_bytes()
        plain_body, plain_headers = CASES["zip-stored"](mp3)  # warm-up, then the baseline below
        timed(plain_body, plain_headers.get("content-type"), 1)
        baseline_body = b"--XB\r\nContent-Disposition: form-data; name=file\r\nContent-Type: audio/mpeg\r\n\r\n"
        baseline_body += mp3 + b"\r\n--XB--\r\n"
        base_s, _, _ = timed(baseline_body, "multipart/form-data; boundary=XB", args.repeat)
        sizes = f"MP3 {len(mp3) / 1024:.0f} KB, WAV {len(wav) / 1024:.0f} KB"
        print(f"media: {sizes}; plain upload walk {base_s * 1e3:.2f} ms")
        print(
            "{:<26} {:>9} {:>9} {:>10} {:>13} {:>6}".format(
                "case", "body KB", "walk ms", "extra ms", "peak / body", "parts"
            )
        )
        ok = True
        for name, build in CASES.items():
            body, headers = build(wav if name == "wav-behind-pdf-prefix" else mp3)
            seconds, peak, parts = timed(body, headers.get("content-type"), args.repeat)
            ok = ok and parts >= 1
            print(
                f"{name:<26} {len(body) / 1024:9.0f} {seconds * 1e3:9.2f} {(seconds - base_s) * 1e3:10.2f} "
                f"{peak / len(body):13.2f} {parts:>6}"
            )
        print()
        print("{:<34} {:>9} {:>9} {:>10}  {}".format("bomb", "body KB", "walk ms", "peak MB", "stopped by"))
        bombs = {
            "zip, 4 x 200 MB of text": wrappers.zip_of({f"{i}.txt": b"A" * (200 << 20) for i in range(4)}),
            "gzip file, 1 GB of zeros": wrappers.compressed(bytes(1 << 30), "gzip"),
            "xz file, 1 GB of zeros": wrappers.compressed(bytes(1 << 30), "xz"),
            "zstd file, 1 GB of zeros": wrappers.compressed(bytes(1 << 30), "zstd"),
            "tar.gz, 600 MB text entry": wrappers.tar_of({"a.txt": b"A" * (600 << 20)}),
            "7z, 600 MB text entry": wrappers.libarchive_of({"a.txt": b"A" * (600 << 20)}, "7zip"),
            "zip, 20 000 entries": wrappers.zip_of({f"{i}.txt": b"x" for i in range(20_000)}),
            "zip nested 8 deep": nested_zip(mp3, 8),
        }
        for name, body in bombs.items():
            started = time.perf_counter()
            result = extract_payload(body, None, None, LIMITS, PROBE)
            elapsed = time.perf_counter() - started
            peak = peak_of(body, None)
            bound = next((e.split("(bound ")[1].rstrip(")") for e in result.errors if "(bound " in e), "none")
            ok = ok and bound != "none"
            print(f"{name:<34} {len(body) / 1024:9.0f} {elapsed * 1e3:9.0f} {peak / 2**20:10.0f}  {bound}")
        return 0 if ok else 1


def nested_zip(media: bytes, depth: int) -> bytes:
    body = media
    for _ in range(depth):
        body = wrappers.zip_of({"inner.zip": body})
    return body


if __name__ == "__main__":
    sys.exit(main())
