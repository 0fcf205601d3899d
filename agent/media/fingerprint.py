"""From media to prints in one decoding pass: chromaprint items and speech landmarks for the
sound, picture hashes for sampled frames (or the one picture of a still image)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from agent.errors import MediaError
from agent.media import landmarks
from agent.media.chroma import ChromaprintStream
from agent.media.decode import AUDIO_RATE, DecodeReport, Picture, decode
from agent.media.frames import CHROMA_CELLS, SCALES, hash_picture
from agent.media.model import MediaLimits

ENROL_FPS = 4.0  # enrolled videos: a frame every 0.25 s, so any query frame is near one
QUERY_FPS = 2.0  # queries need fewer frames: agreement over several is what counts

U32Array = npt.NDArray[np.uint32]


@dataclass(frozen=True)
class AudioPrint:
    """The sound of a recording: chromaprint items (~8/s) and landmark hashes with anchor frames."""

    chroma: U32Array
    hashes: U32Array
    times: U32Array  # landmark anchor frames (23.2 ms units)
    seconds: float


@dataclass(frozen=True)
class FramePrint:
    """The pictures of a recording: per sampled frame its time, pHash per scale, colour signature."""

    times: npt.NDArray[np.float32]
    hashes: npt.NDArray[np.uint64]  # (frames, len(SCALES))
    chroma: npt.NDArray[np.int8]  # (frames, 2 * CHROMA_CELLS)

    @property
    def count(self) -> int:
        return int(self.times.size)


@dataclass(frozen=True)
class MediaPrints:
    kind: str  # "audio" | "video" | "image"
    audio: AudioPrint | None
    frames: FramePrint | None
    report: DecodeReport


class _Collector:
    def __init__(self, with_audio: bool) -> None:
        self.chroma = ChromaprintStream() if with_audio else None
        self.landmarks = landmarks.LandmarkStream() if with_audio else None
        self.pictures: list[tuple[float, tuple[int, ...], npt.NDArray[np.int8]]] = []

    def audio(self, samples: npt.NDArray[np.int16]) -> None:
        if self.chroma is not None and self.landmarks is not None:
            self.chroma.feed(samples)
            self.landmarks.feed(samples)

    def picture(self, picture: Picture) -> None:
        hashed = hash_picture(picture)
        if hashed is not None:
            self.pictures.append((hashed.t, hashed.hashes, hashed.chroma))

    def audio_print(self) -> AudioPrint | None:
        if self.chroma is None or self.landmarks is None or self.landmarks.samples == 0:
            if self.chroma is not None:
                self.chroma.close()
            return None
        seconds = self.landmarks.samples / AUDIO_RATE
        hashes, times = landmarks.pair_hashes(self.landmarks.finish())
        return AudioPrint(chroma=self.chroma.finish(), hashes=hashes, times=times, seconds=seconds)

    def frame_print(self) -> FramePrint | None:
        if not self.pictures:
            return None
        return FramePrint(
            times=np.array([p[0] for p in self.pictures], dtype=np.float32),
            hashes=np.array([p[1] for p in self.pictures], dtype=np.uint64).reshape(-1, len(SCALES)),
            chroma=np.stack([p[2] for p in self.pictures]).astype(np.int8).reshape(-1, 2 * CHROMA_CELLS),
        )


def fingerprint(
    source: Path | bytes,
    limits: MediaLimits,
    *,
    frame_fps: float = QUERY_FPS,
    pcm: tuple[str, int, int] | None = None,
) -> MediaPrints:
    """Decode `source` once and compute every print it supports."""
    collector = _Collector(with_audio=True)
    try:
        report = decode(source, collector, limits, frame_fps=frame_fps, pcm=pcm)
    except BaseException:
        if collector.chroma is not None:
            collector.chroma.close()
        raise
    audio = collector.audio_print() if report.has_audio else None
    if audio is None and collector.chroma is not None:
        collector.chroma.close()
    frames = collector.frame_print()
    if report.is_image:
        kind = "image"
    elif report.has_video and report.pictures:
        kind = "video"
    elif report.has_audio:
        kind = "audio"
    else:
        raise MediaError(report.problem or "no decodable audio or pictures")
    return MediaPrints(kind=kind, audio=audio, frames=frames, report=report)
