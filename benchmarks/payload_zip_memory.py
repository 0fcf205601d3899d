"""Peak memory of the payload walk over a 100 MB ZIP, before and after (another git ref vs this checkout).

The ZIP is the one `proxy_upload_verdict.py` uploads: 20 incompressible 5 MB entries (photos,
office files) and the dictation as an MP3 last, written by `zipfile` with deflate; and the same
entries stored (what the `zip` tool and most archivers do with incompressible files). Each
(payload core, ZIP) pair runs in a fresh child process, which reads the ZIP, then walks it in a
worker thread as the proxy does (`extract_payload` with the proxy's probe). Printed per run:
the RSS the walk added at its peak (`ru_maxrss` minus the RSS before the walk), what the
extraction still holds when it returns (parts + unknown leaves), the walk's time and what it
found. Peak RSS is the figure that matters to the proxy: glibc keeps freed multi-megabyte
buffers mapped, so transient copies count even after they are freed.

    python benchmarks/payload_zip_memory.py [--baseline main] [--megabytes 100]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import psutil
from payload_baseline import export
from proxy_common import ROOT

from tests.support.media import DICTATIONS, MediaFactory


def build_zip(path: Path, dictation: bytes, megabytes: int, method: int) -> None:
    filler = random.Random(11)
    with zipfile.ZipFile(path, "w", method) as archive:
        for index in range(megabytes // 5):
            name = f"scans/photo{index:03d}.jpg" if index % 2 else f"reports/report{index:03d}.docx"
            archive.writestr(name, filler.randbytes(5 << 20))
        archive.writestr("dictations/dictation.mp3", dictation)


def child(package: str, source: str | None, zip_path: Path) -> None:
    """One walk in this (fresh) process; prints one JSON line."""
    if source is not None:
        sys.path.insert(0, source)
    payload = __import__(package, fromlist=["extract_payload"])
    from agent.media import looks_like_media
    from agent.payload.sniff import guarded

    probe = guarded(looks_like_media)
    body = zip_path.read_bytes()
    limits = payload.ExtractLimits()
    payload.extract_payload(b"{}", "application/json", None, limits, probe)  # imports and caches warm
    before = psutil.Process().memory_info().rss
    out: dict[str, object] = {}

    def walk() -> None:
        started = time.perf_counter()
        result = payload.extract_payload(body, "application/zip", None, limits, probe)
        out["s"] = time.perf_counter() - started
        out["parts"] = len(result.parts)
        out["unknown"] = len(result.unknown)
        out["held"] = sum(len(part.data) for part in [*result.parts, *result.unknown])
        out["errors"] = [error[:80] for error in result.errors]
        out["after"] = psutil.Process().memory_info().rss - before

    worker = threading.Thread(target=walk)
    worker.start()
    worker.join()
    out["peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    print(json.dumps(out))


def run(package: str, source: str | None, zip_path: Path) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", package, "--zip", str(zip_path)]
    if source is not None:
        command += ["--source", source]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="main", help="git ref of the 'before' payload core")
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--zip", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.source, args.zip)
        return 0
    source, package = export(args.baseline)
    with tempfile.TemporaryDirectory(prefix="phiwall-zipmem-") as tmp_name:
        tmp = Path(tmp_name)
        factory = MediaFactory(tmp)
        dictation = factory.encode(factory.speech(DICTATIONS[0]), ".mp3", "-ac", "1", "-b:a", "64k").read_bytes()
        zips = {"deflated": tmp / "deflated.zip", "stored": tmp / "stored.zip"}
        build_zip(zips["deflated"], dictation, args.megabytes, zipfile.ZIP_DEFLATED)
        build_zip(zips["stored"], dictation, args.megabytes, zipfile.ZIP_STORED)
        print(f"{args.megabytes} MB ZIP, 20 incompressible entries + the dictation MP3 last; fresh process per row")
        columns = ("payload core", "zip", "peak MB", "held MB", "walk s", "parts", "unknown")
        print("{:<22} {:<9} {:>8} {:>8} {:>7} {:>6} {:>8}".format(*columns))
        variants = {f"before ({args.baseline})": (package, str(source)), "after": ("agent.payload", None)}
        for label, (pkg, src) in variants.items():
            for kind, path in zips.items():
                row = run(pkg, src, path)
                peak = int(row["peak"]) / 2**20  # type: ignore[call-overload]
                held = int(row["held"]) / 2**20  # type: ignore[call-overload]
                print(
                    f"{label:<22} {kind:<9} {peak:8.0f} {held:8.0f} {float(row['s']):7.2f} "  # type: ignore[arg-type]
                    f"{row['parts']:>6} {row['unknown']:>8}"
                )
                for error in row["errors"]:  # type: ignore[attr-defined]
                    print(f"{'':<32} error: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
