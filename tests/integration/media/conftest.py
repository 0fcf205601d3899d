"""Real media for the media tests, made once per session: espeak-ng dictations, ffmpeg video,
and a store with some of them enrolled (the "clinic").

Built on the shared `media_factory` (tests/support/media.py); the transformations and hard
negatives here are this area's own.
"""

from __future__ import annotations

import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from agent.media import MediaService
from agent.store import Store, open_store
from tests.support.media import DICTATIONS, OTHER_SPEECH, MediaFactory, ffmpeg, require_tools

VIDEO_SPEECH = (
    "Video consultation. The patient shows the rash on her left forearm, which started after a new "
    "detergent. No fever. Plan is hydrocortisone cream twice daily and a photo review in one week."
)


@dataclass
class Clinic:
    """Enrolled originals and a store holding them."""

    store: Store
    service: MediaService
    dictations: list[Path]  # enrolled audio; dictations[0] and [1] are speech in different voices
    dictation_wavs: list[Path]  # their sources (22.05 kHz WAV), to derive queries from
    video: Path  # enrolled: testsrc2 with hue 40, with a spoken sound track
    silent_video: Path  # enrolled: mandelbrot without sound
    factory: MediaFactory

    def asset_of(self, path: Path) -> str:
        return asset_of(self.service, path)


def asset_of(service: MediaService, path: Path) -> str:
    """The id of the asset `service` enrolled from `path`."""
    for asset_id, info in service.index.state.assets.items():
        if info.path == str(path):
            return asset_id
    raise KeyError(path)


def make(factory: MediaFactory, name: str, *args: str) -> Path:
    """ffmpeg `args` (inputs and options) into `root/name`, once per session."""
    out = factory.root / name
    if not out.exists():
        tmp = out.with_name(out.stem + ".part" + out.suffix)
        ffmpeg(*args, str(tmp))
        tmp.replace(out)
    return out


def lavfi_video(factory: MediaFactory, name: str, source: str, seconds: float, speech: Path | None, hue: int) -> Path:
    args = ["-f", "lavfi", "-i", source]
    if speech is not None:
        args += ["-i", str(speech), "-c:a", "aac", "-b:a", "96k"]
    args += ["-t", f"{seconds}", "-vf", f"hue=h={hue},format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast"]
    return make(factory, name, *args)


def mix_noise(factory: MediaFactory, src_wav: Path, name: str, snr_db: float, seed: int = 0) -> Path:
    """`src_wav` with white noise at `snr_db` (speech power over noise power), as WAV."""
    out = factory.root / name
    if out.exists():
        return out
    with wave.open(str(src_wav), "rb") as handle:
        rate = handle.getframerate()
        speech = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").astype(np.float64)
    active = speech[np.abs(speech) > 0.02 * np.abs(speech).max()]
    noise = np.random.default_rng(seed).standard_normal(speech.size)
    noise *= np.sqrt(np.mean(active**2) / 10 ** (snr_db / 10))
    mixed = np.clip(speech + noise, -32768, 32767).astype("<i2")
    with wave.open(str(out), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(mixed.tobytes())
    return out


def tones(factory: MediaFactory, name: str, seconds: float) -> Path:
    """Two tones with a tremolo: sound that is not speech."""
    expr = "0.3*sin(2*PI*440*t)*(1+0.5*sin(2*PI*4*t))+0.2*sin(2*PI*660*t)"
    return make(factory, name, "-f", "lavfi", "-i", f"aevalsrc={expr}:s=22050:d={seconds}")


def pcm_s16le(factory: MediaFactory, src: Path, rate: int, start: float, seconds: float) -> bytes:
    """Headerless mono s16le PCM of an excerpt, as a realtime API would send it."""
    out = make(
        factory,
        f"pcm_{src.stem}_{rate}_{start}_{seconds}.raw",
        "-ss",
        f"{start}",
        "-t",
        f"{seconds}",
        "-i",
        str(src),
        "-ac",
        "1",
        "-ar",
        str(rate),
        "-f",
        "s16le",
    )
    return out.read_bytes()


@pytest.fixture(scope="session")
def clinic(media_factory: MediaFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    require_tools("espeak-ng", "ffmpeg")
    f = media_factory
    wavs = [f.speech(DICTATIONS[0], voice="en-us"), f.speech(DICTATIONS[1], voice="en-gb", speed=150)]
    dictations = [f.encode(wavs[0], ".m4a", "-c:a", "aac", "-b:a", "96k"), f.encode(wavs[1], ".mp3", "-b:a", "128k")]
    video = lavfi_video(
        f, "visit.mp4", "testsrc2=s=480x360:rate=25", 12.0, f.speech(VIDEO_SPEECH, voice="en-us+f3"), 40
    )
    silent = lavfi_video(f, "silent_visit.mp4", "mandelbrot=s=480x360:rate=25", 10.0, None, 0)
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('clinic') / 'store.db'}")
    service = MediaService(store, agent_id="test-clinic")
    for path in [*dictations, video, silent]:
        outcome = service.enroll_path(path)
        assert outcome.error is None, outcome
        assert outcome.new, outcome
    yield Clinic(store, service, dictations, wavs, video, silent, f)
    store.dispose()


def other_speech(factory: MediaFactory) -> Sequence[Path]:
    """Never enrolled: unrelated speech, and a clinical dictation in an enrolled speaker's voice."""
    return [
        factory.encode(factory.speech(OTHER_SPEECH[0], voice="en-us"), ".ogg", "-c:a", "libopus", "-b:a", "32k"),
        factory.encode(factory.speech(OTHER_SPEECH[1], voice="en-gb", speed=150), ".mp3", "-b:a", "64k"),
        factory.encode(factory.speech(DICTATIONS[2], voice="en-us", speed=168, pitch=56), ".m4a"),
    ]
