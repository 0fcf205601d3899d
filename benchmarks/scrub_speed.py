"""`phiwall scrub` speed and memory: audio and 720p video, as multiples of real time.

Media is made in the same process (espeak-ng speech repeated to the wanted length; the
scikit-image astronaut animated into a 1280x720 25 fps H.264 video with that speech as its
track), then scrubbed in-process with `agent.scrub.files.scrub_file`. The model load is timed
separately (paid once per `phiwall scrub` run, not per file). Figures: seconds of media per
second of wall time ("x real time"; targets: audio >= 20x, 720p video >= 1x) and this process's
peak RSS after each step. Also printed: the process's CPU seconds (all threads) per second of
media, which a busy shared machine disturbs far less than wall time: at or below 2.0 the work
fits this 2-core machine in real time if nothing else runs, at or below 1.0 it fits one core.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/scrub_speed.py              # 60 s audio, 10 s video
    PYTHONPATH=$PWD .venv/bin/python benchmarks/scrub_speed.py --audio-seconds 20 --video-seconds 4
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.scrub.files import scrub_file
from agent.scrub.models import FaceDetector, PoseEstimator
from agent.scrub.options import ScrubOptions
from tests.support.faces import animated_frames, read_audio, write_video

TEXT = (
    "Patient is a sixty two year old male presenting with chest pain radiating to the left arm "
    "for three hours. History of hypertension and type two diabetes."
)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def speech(tmp: Path, seconds: float, rate: int = 22050) -> np.ndarray:
    wav = tmp / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), TEXT], check=True)
    one = read_audio(wav, rate)
    return np.tile(one, int(np.ceil(seconds * rate / one.size)))[: int(seconds * rate)]


def timed(label: str, media_seconds: float, source: Path, target: Path, options: ScrubOptions) -> None:
    start, cpu_start = time.perf_counter(), cpu_seconds()
    result = scrub_file(source, target, options)
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    print(
        f"{label:<34} {media_seconds:6.1f} s media in {wall:6.2f} s = {media_seconds / wall:6.1f}x real time"
        f"   CPU {cpu / media_seconds:5.2f} s per media s   peak RSS {peak_rss_mb():6.0f} MB   ({result.describe()})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio-seconds", type=float, default=60.0)
    parser.add_argument("--video-seconds", type=float, default=10.0)
    parser.add_argument("--audio-only", action="store_true", help="only the audio rows (every --voice-method)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        import av

        audio = speech(tmp, args.audio_seconds)
        wav = tmp / "dictation.wav"
        with av.open(str(wav), "w", format="wav") as out:
            stream = out.add_stream("pcm_s16le", rate=22050, layout="mono")
            frame = av.AudioFrame.from_ndarray((audio[None, :] * 32767).astype(np.int16), format="s16", layout="mono")
            frame.sample_rate = 22050
            out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        timed("audio, voice anonymised", args.audio_seconds, wav, tmp / "a.wav", ScrubOptions())
        for method in ("psola", "target"):
            options = ScrubOptions(voice_method=method, faces="keep")  # type: ignore[arg-type]
            timed(f"audio, voice anonymised ({method})", args.audio_seconds, wav, tmp / f"{method}.wav", options)
        if args.audio_only:
            return
        fps = 25
        frames = animated_frames(1280, 720, int(args.video_seconds * fps))
        video = write_video(tmp / "ward.mp4", frames, fps=fps, audio=audio[: int(args.video_seconds * 22050)])
        del frames
        print(f"baseline peak RSS after making the media: {peak_rss_mb():.0f} MB")

        start = time.perf_counter()
        FaceDetector().close()
        PoseEstimator(video=True).close()
        print(f"model load (face + pose, once per run): {time.perf_counter() - start:.2f} s")

        timed("audio, voice anonymised -> m4a", args.audio_seconds, wav, tmp / "a.m4a", ScrubOptions())
        timed("720p video, faces blurred + voice", args.video_seconds, video, tmp / "v.mp4", ScrubOptions())
        timed(
            "720p video, re-encode only",
            args.video_seconds,
            video,
            tmp / "k.mp4",
            ScrubOptions(voice="keep", faces="keep"),
        )
        timed(
            "720p video, skeleton + voice muted",
            args.video_seconds,
            video,
            tmp / "s.mp4",
            ScrubOptions(voice="mute", people="skeleton"),
        )


if __name__ == "__main__":
    main()
