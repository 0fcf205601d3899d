"""Time to verdict and proxy memory for large clinical uploads through the real proxy.

A 10 MB MP3 (about 10 minutes at 128 kbit/s) and a 100 MB WAV (about 10 minutes of 44.1 kHz
stereo), each a long non-clinical recording with an enrolled clinical dictation at the END,
the same MP3 with the dictation at the START (decoding stops once the sound so far proves the
match) and at 45 % (just before the middle, where the second reader does not look: the worst
case, proven by the decode of the whole from the start), and a 100 MB ZIP of
office files and photos (incompressible filler entries) with the dictation as an MP3 as its
LAST entry (the payload walker reads each filler entry's head only), uploaded with httpx as multipart
over HTTPS to an unapproved loopback "AI service" through `python -m agent.proxy`. Time to
verdict is measured at the client, from sending the request to receiving the 403 (it
includes transferring the upload through the proxy); `inspect ms` is the proxy's own
fingerprinting time from the event row; `asset` says whether the event names the enrolled
dictation (a block for another reason, e.g. the policy's action for unenrolled media, is a
failure of this benchmark, not a verdict). Peak RSS is the proxy process's, sampled every 10 ms.

    python benchmarks/proxy_upload_verdict.py [--repeat 3] [--keep-media DIR]

Targets: 10 MB MP3 verdict < 1 s, 100 MB ZIP verdict < 2 s on this machine.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import httpx
import psutil
import trustme
from proxy_common import ROOT  # noqa: F401  (puts the checkout on sys.path)

from tests.integration.proxy.conftest import enroll
from tests.integration.proxy.harness import UNAPPROVED_HOST, ProxyProcess
from tests.integration.proxy.upstream import upstream
from tests.support.media import DICTATIONS, OTHER_SPEECH, MediaFactory, ffmpeg


def zip_with_dictation_last(factory: MediaFactory, clinical: Path, megabytes: int = 100) -> Path:
    """A ZIP of `megabytes` MB: incompressible filler entries (photos, office files), then the
    dictation as an MP3 (the last entry: every entry before it is passed over first)."""
    out = factory.root / f"bundle-{megabytes}.zip"
    if out.exists():
        return out
    dictation = factory.encode(clinical, ".mp3", "-ac", "1", "-b:a", "64k").read_bytes()
    filler = random.Random(11)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(megabytes // 5):
            name = f"scans/photo{index:03d}.jpg" if index % 2 else f"reports/report{index:03d}.docx"
            archive.writestr(name, filler.randbytes(5 << 20))
        archive.writestr("dictations/dictation.mp3", dictation)
    return out


def long_recording(
    factory: MediaFactory, clinical: Path, minutes: float, suffix: str, *codec: str, at: float = 1.0
) -> Path:
    """`minutes` of non-clinical speech (looped) with the clinical dictation inserted at the
    fraction `at` of it (1.0: after it, 0.0: before it)."""
    out = factory.root / f"long-{minutes}-at{at:g}-{suffix.strip('.')}-{'-'.join(codec)}{suffix}"
    if out.exists():
        return out
    speech = str(factory.speech(" ".join(OTHER_SPEECH)))
    before, after = minutes * 60 * at, minutes * 60 * (1 - at)
    inputs: list[str] = []
    for seconds in (before, None, after):
        if seconds is None:
            inputs += ["-i", str(clinical)]
        elif seconds > 0:
            inputs += ["-stream_loop", "-1", "-t", f"{seconds:.1f}", "-i", speech]
    count = inputs.count("-i")
    chain = "".join(f"[{i}:a]aresample=44100[a{i}];" for i in range(count))
    concat = "".join(f"[a{i}]" for i in range(count)) + f"concat=n={count}:v=0:a=1[out]"
    ffmpeg(*inputs, "-filter_complex", chain + concat, "-map", "[out]", *codec, str(out))
    return out


class PeakRss:
    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep-media", type=Path, default=None, help="cache generated media here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="phiwall-verdict-") as tmp_name:
        tmp = Path(tmp_name)
        media_root = args.keep_media or tmp / "media"
        media_root.mkdir(parents=True, exist_ok=True)
        factory = MediaFactory(media_root)
        clinical = factory.speech(DICTATIONS[0])
        uploads = {
            "10 MB mp3": long_recording(factory, clinical, 10.5, ".mp3", "-ac", "2", "-b:a", "128k"),
            "100 MB wav": long_recording(factory, clinical, 9.5, ".wav", "-ac", "2", "-c:a", "pcm_s16le"),
            "10 MB first": long_recording(factory, clinical, 10.5, ".mp3", "-ac", "2", "-b:a", "128k", at=0.0),
            # Just before the middle: the worst place for the two readers (agent/media/split.py).
            "10 MB 45%": long_recording(factory, clinical, 10.5, ".mp3", "-ac", "2", "-b:a", "128k", at=0.45),
            "100 MB zip": zip_with_dictation_last(factory, clinical),
        }
        types = {".mp3": "audio/mpeg", ".wav": "audio/wav", ".zip": "application/zip"}
        ca = trustme.CA()
        ca_file = tmp / "upstream-ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        proxy = ProxyProcess(tmp / "proxy", upstream_ca=ca_file, max_inspect_mb=256)
        proxy.root.mkdir()
        enroll(proxy.store_url, [clinical])
        proxy.start()
        try:
            with (
                upstream(UNAPPROVED_HOST, ca) as server,
                httpx.Client(proxy=proxy.url, verify=str(proxy.ca_cert), timeout=300) as client,
            ):
                idle_rss = proxy.rss()
                print(f"proxy idle RSS {idle_rss / 2**20:.0f} MB")
                header = ("upload", "size MB", "verdict", "asset", "client s", "inspect ms", "peak RSS MB")
                print("{:<11} {:>8} {:>8} {:>6} {:>9} {:>11} {:>12}".format(*header))
                ok = True
                for name, path in uploads.items():
                    data = path.read_bytes()
                    timings, inspect_ms, peaks, verdicts, matched = [], [], [], [], []
                    for _ in range(args.repeat):
                        with PeakRss(proxy.proc.pid) as rss:  # type: ignore[union-attr]
                            started = time.perf_counter()
                            response = client.post(
                                f"{server.https}/v1/audio/transcriptions",
                                files={"file": (path.name, data, types[path.suffix])},
                                data={"model": "whisper-1"},
                            )
                            timings.append(time.perf_counter() - started)
                        peaks.append(rss.peak)
                        verdicts.append(response.headers.get("x-phiwall-verdict", f"http {response.status_code}"))
                        incident = response.headers.get("x-phiwall-incident")
                        if incident:
                            event = proxy.event(incident)
                            matched.append(event.asset_id is not None)
                            details = json.loads(event.details)
                            inspect_ms.append(float(details.get("inspect_ms", "nan")))
                    size_mb = len(data) / 2**20
                    inspect = statistics.median(inspect_ms) if inspect_ms else float("nan")
                    print(
                        f"{name:<11} {size_mb:8.1f} {verdicts[-1]:>8} {f'{sum(matched)}/{args.repeat}':>6} "
                        f"{statistics.median(timings):9.2f} "
                        f"{inspect:11.0f} {max(peaks) / 2**20:12.0f}"
                    )
                    ok = ok and all(v == "block" for v in verdicts) and sum(matched) == args.repeat
                    if name == "10 MB mp3":
                        ok = ok and statistics.median(timings) < 1.0
                    if name == "100 MB zip":
                        ok = ok and statistics.median(timings) < 2.0
                return 0 if ok else 1
        finally:
            proxy.stop()


if __name__ == "__main__":
    sys.exit(main())
