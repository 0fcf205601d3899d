"""What probing by decoding, split-upload joining and realtime rate guessing cost.

Through the real proxy (`python -m agent.proxy`) with an enrolled 20 s dictation, uploads to an
unapproved loopback "AI service" with httpx (raw `application/octet-stream` bodies) and
curl-like `split -b 256k` pieces; time to verdict measured at the client (send to answer),
medians of `--repeat` runs. The baseline is the same dictation as a plain MP3 (named by
libmagic, no probing) in the same process; `ratio` is each case over it.

Rows:
- hidden media (MP3 behind zeros or junk, WAV behind `%PDF`, W64, WavPack, TTA, AC-3, VOC,
  MXF, headerless 16 kHz PCM): blocked after probing;
- 300 KB of random bytes to the AI service (probed, unreadable, fails closed) and to a
  non-AI host (never probed);
- split pieces: per-piece time to verdict of a 96 kHz stereo WAV cut into 256 KB pieces, and
  the piece that was blocked;
- realtime: in-process, matching one 10 s window at the declared rate, with the two other
  rates a check tries in turn (the default), and at every plausible rate (what a check costs
  when the declared rate is wrong or the audio is not clinical).

    python benchmarks/proxy_probe_split.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trustme
from proxy_common import ROOT  # noqa: F401  (puts the checkout on sys.path)

from tests.integration.proxy.conftest import enroll
from tests.integration.proxy.harness import UNAPPROVED_HOST, ProxyProcess
from tests.integration.proxy.upstream import upstream
from tests.support.media import DICTATIONS, MediaFactory, ffmpeg


def media(factory: MediaFactory, clinical: Path) -> dict[str, bytes]:
    def enc(name: str, *args: str) -> bytes:
        out = factory.root / name
        if not out.exists():
            ffmpeg("-i", str(clinical), *args, str(out))
        return out.read_bytes()

    mxf = factory.root / "clin.mxf"
    if not mxf.exists():
        ffmpeg(
            "-f", "lavfi", "-i", "color=c=black:s=160x120:r=25", "-i", str(clinical), "-shortest",
            "-ar", "48000", "-c:a", "pcm_s16le", "-c:v", "mpeg2video", "-f", "mxf", str(mxf),
        )  # fmt: skip
    mp3 = enc("clin.mp3", "-ac", "1", "-b:a", "48k")
    return {
        "mp3 (baseline)": mp3,
        "mp3 after 200 KB zeros": bytes(200_000) + mp3,
        "mp3 after junk": os.urandom(3000) + enc("bare.mp3", "-ac", "1", "-b:a", "48k", "-id3v2_version", "0"),
        "wav after %PDF": b"%PDF-1.7\n" + os.urandom(2000) + clinical.read_bytes(),
        "w64": enc("clin.w64"),
        "wavpack": enc("clin.wv", "-c:a", "wavpack"),
        "tta": enc("clin.tta"),
        "ac3": enc("clin.ac3", "-ar", "48000", "-c:a", "ac3"),
        "voc": enc("clin.voc", "-c:a", "pcm_u8"),
        "mxf": mxf.read_bytes(),
        "pcm 16 kHz": enc("clin16k.pcm", "-ac", "1", "-ar", "16000", "-f", "s16le"),
    }


def timed_post(client: httpx.Client, url: str, data: bytes) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.post(url, content=data, headers={"content-type": "application/octet-stream"})
    return time.perf_counter() - started, response.status_code


def realtime_rates(store_url: str, clinical: Path, tmp: Path) -> None:
    from agent.media import MediaService
    from agent.proxy.realtime import alternate_rates
    from agent.store import open_store

    pcm = tmp / "window.pcm"
    ffmpeg("-i", str(clinical), "-t", "10", "-ac", "1", "-ar", "24000", "-f", "s16le", str(pcm))
    window = pcm.read_bytes()
    store = open_store(store_url)
    try:
        service = MediaService(store, agent_id="bench")
        service.match_pcm(window, sample_rate=24000)  # warm-up

        def cost(rates: list[int]) -> float:
            runs = []
            for _ in range(3):
                started = time.perf_counter()
                for rate in rates:
                    service.match_pcm(window, sample_rate=rate)
                runs.append(time.perf_counter() - started)
            return statistics.median(runs) * 1000

        declared = cost([24000])
        default = cost([24000, *alternate_rates(24000)[:2]])
        everything = cost([24000, *alternate_rates(24000)])
        print(
            f"realtime: one 10 s window at the declared rate {declared:.0f} ms; with 2 other rates in turn "
            f"(default) {default:.0f} ms (x{default / declared:.1f}); all 6 plausible rates {everything:.0f} ms "
            f"(x{everything / declared:.1f}); one check per 2.5 s of audio"
        )
    finally:
        store.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="phiwall-probe-") as tmp_name:
        tmp = Path(tmp_name)
        factory = MediaFactory(tmp / "media")
        factory.root.mkdir()
        clinical = factory.speech(DICTATIONS[0])
        cases = media(factory, clinical)
        ca = trustme.CA()
        ca_file = tmp / "upstream-ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        proxy = ProxyProcess(tmp / "proxy", upstream_ca=ca_file)
        proxy.root.mkdir()
        enroll(proxy.store_url, [clinical])
        proxy.start()
        ok = True
        try:
            with (
                upstream(UNAPPROVED_HOST, ca) as server,
                upstream("127.0.0.1", ca) as plain,
                httpx.Client(proxy=proxy.url, verify=str(proxy.ca_cert), timeout=120) as client,
            ):
                url = f"{server.https}/v1/files"
                print("{:<24} {:>8} {:>7} {:>9} {:>7}".format("upload", "size KB", "status", "client s", "ratio"))
                timed_post(client, url, cases["mp3 (baseline)"])  # warm-up: TLS, decoder, index
                baseline = None
                for name, data in cases.items():
                    runs = [timed_post(client, url, data) for _ in range(args.repeat)]
                    seconds = statistics.median(t for t, _ in runs)
                    baseline = baseline or seconds
                    status = runs[-1][1]
                    ok = ok and all(code == 403 for _, code in runs)
                    print(f"{name:<24} {len(data) >> 10:8d} {status:7d} {seconds:9.3f} {seconds / baseline:7.2f}")
                noise = os.urandom(300_000)
                for name, target in (("random -> AI service", url), ("random -> non-AI host", f"{plain.https}/x")):
                    runs = [timed_post(client, target, noise) for _ in range(args.repeat)]
                    seconds = statistics.median(t for t, _ in runs)
                    print(f"{name:<24} {len(noise) >> 10:8d} {runs[-1][1]:7d} {seconds:9.3f} {seconds / baseline:7.2f}")

                wav = factory.encode(clinical, ".wav", "-af", "adelay=1000:all=1", "-ac", "2", "-ar", "96000")
                data = wav.read_bytes()
                pieces = [data[i : i + (256 << 10)] for i in range(0, len(data), 256 << 10)]
                times, codes = [], []
                for piece in pieces:
                    with httpx.Client(proxy=proxy.url, verify=str(proxy.ca_cert), timeout=120) as fresh:
                        seconds, code = timed_post(fresh, url, piece)  # one connection per piece, like curl
                    times.append(seconds)
                    codes.append(code)
                first = codes.index(403) if 403 in codes else None
                ok = ok and first is not None and all(code == 403 for code in codes[first:])
                before = times[: first + 1] if first is not None else times
                after = times[first + 1 :] if first is not None else []
                print(
                    f"split -b 256k, 96 kHz stereo WAV: {len(pieces)} pieces, blocked at piece "
                    f"{(first or 0) + 1}; time to verdict per piece up to the block: median "
                    f"{statistics.median(before):.3f} s, max {max(before):.3f} s; later pieces refused in "
                    f"median {statistics.median(after) if after else float('nan'):.3f} s"
                )
        finally:
            proxy.stop()
        realtime_rates(proxy.store_url, clinical, tmp)
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
