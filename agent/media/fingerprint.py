"""From media to prints in one decoding pass: chromaprint items and speech landmarks for the
sound, picture hashes for sampled frames (or the one picture of a still image)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from agent.errors import MediaError
from agent.media import landmarks
from agent.media.chroma import ChromaprintStream
from agent.media.decode import AUDIO_RATE, DecodeReport, Picture, decode
from agent.media.frames import CHROMA_CELLS, LAYOUT_CELLS, SCALES, PictureHashes, hash_picture
from agent.media.model import MediaLimits

ENROL_FPS = 4.0  # enrolled videos: a frame every 0.25 s, so any query frame is near one
QUERY_FPS = 2.0  # queries need fewer frames: agreement over several is what counts
DENSE_TRIGGER_BITS = 14  # samples 0.25 s apart further apart than this: hash every frame
PROBE_FIRST_S = 30.0  # a query's sound is first probed for a proven match after this much audio
KEEP_PCM_S = 60.0  # queries keep this much decoded sound for warp hypotheses (`agent.media.warp`)

AudioProbe = Callable[["AudioPrint"], bool]

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
    layout: npt.NDArray[np.int8]  # (frames, LAYOUT_CELLS): 8x8 luminance layout

    @property
    def count(self) -> int:
        return int(self.times.size)


@dataclass(frozen=True)
class MediaPrints:
    kind: str  # "audio" | "video" | "image"
    audio: AudioPrint | None
    frames: FramePrint | None
    report: DecodeReport
    # Queries only: the first KEEP_PCM_S of decoded 11,025 Hz mono sound, for warp hypotheses.
    pcm: npt.NDArray[np.int16] | None = None


class _Collector:
    """Receives decoded audio and pictures; decides which frames to hash.

    Frames are sampled every 1/fps seconds. When enrolling (`adaptive`), if two consecutive
    samples differ a lot, the picture changes faster than the sampling (chaotic or fast
    motion): every frame is hashed until it calms down, so that any single frame a user might
    upload is in the index.
    """

    def __init__(
        self, with_audio: bool, fps: float, adaptive: bool, probe: AudioProbe | None = None, keep_pcm: bool = False
    ) -> None:
        self.chroma = ChromaprintStream() if with_audio else None
        self.landmarks = landmarks.LandmarkStream() if with_audio else None
        self.pictures: list[PictureHashes] = []
        self.step = 1.0 / fps
        self.adaptive = adaptive
        self.next_t = 0.0
        self.dense = False
        self.on_grid = False
        self.last_grid_hash: int | None = None
        self.probe = probe
        self.proven = False
        self.next_probe_frames = round(PROBE_FIRST_S / landmarks.FRAME_SECONDS)
        self.keep_samples = round(KEEP_PCM_S * AUDIO_RATE) if keep_pcm else 0
        self.kept: list[npt.NDArray[np.int16]] = []
        self.kept_samples = 0

    def audio(self, samples: npt.NDArray[np.int16]) -> None:
        if self.chroma is not None and self.landmarks is not None:
            self.chroma.feed(samples)
            self.landmarks.feed(samples)
            if self.kept_samples < self.keep_samples:
                piece = samples[: self.keep_samples - self.kept_samples].copy()
                self.kept.append(piece)
                self.kept_samples += int(piece.size)
            if self.probe is not None and not self.proven and self.landmarks.settled_frames >= self.next_probe_frames:
                self._probe(self.probe, self.landmarks)

    def _probe(self, probe: AudioProbe, stream: landmarks.LandmarkStream) -> None:
        """Offer the settled prefix of the sound to `probe`. Probes come at doubling lengths,
        so all of them together cost at most about two searches of the whole query."""
        settled = stream.settled_frames
        hashes, times = landmarks.pair_hashes(stream.settled())  # a subset of the final hashes
        prefix = AudioPrint(
            chroma=np.zeros(0, dtype=np.uint32),
            hashes=hashes,
            times=times,
            seconds=settled * landmarks.FRAME_SECONDS,
        )
        self.proven = probe(prefix)
        self.next_probe_frames = 2 * settled

    def satisfied(self) -> bool:
        return self.proven

    def wants_picture(self, t: float) -> bool:
        self.on_grid = t + 1e-6 >= self.next_t
        if self.on_grid:
            # Re-anchor on the sampling grid so dropped or late frames do not shift it.
            self.next_t = (int(t / self.step + 1e-6) + 1) * self.step
        return self.on_grid or self.dense

    def picture(self, picture: Picture) -> None:
        hashed = hash_picture(picture)
        if hashed is not None:
            self.pictures.append(hashed)
        if self.on_grid and self.adaptive:
            current = hashed.hashes[0] if hashed is not None else None
            previous = self.last_grid_hash
            self.dense = (
                current is not None and previous is not None and (current ^ previous).bit_count() > DENSE_TRIGGER_BITS
            )
            self.last_grid_hash = current

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
            times=np.array([p.t for p in self.pictures], dtype=np.float32),
            hashes=np.array([p.hashes for p in self.pictures], dtype=np.uint64).reshape(-1, len(SCALES)),
            chroma=np.stack([p.chroma for p in self.pictures]).astype(np.int8).reshape(-1, 2 * CHROMA_CELLS),
            layout=np.stack([p.layout for p in self.pictures]).astype(np.int8).reshape(-1, LAYOUT_CELLS),
        )


def fingerprint(
    source: Path | bytes,
    limits: MediaLimits,
    *,
    frame_fps: float = QUERY_FPS,
    adaptive: bool = False,
    pcm: tuple[str, int, int] | None = None,
    probe: AudioProbe | None = None,
    keep_pcm: bool = False,
) -> MediaPrints:
    """Decode `source` once and compute every print it supports (`adaptive`: see _Collector).

    `probe`, for queries: called with the sound decoded so far (landmarks only) after
    PROBE_FIRST_S and then at doubling lengths; when it returns True (it found a match beyond
    doubt), decoding stops and the prints cover only what was decoded (report.satisfied).
    `keep_pcm`, for queries: keep the first KEEP_PCM_S of decoded sound in `MediaPrints.pcm`.
    """
    collector = _Collector(with_audio=True, fps=frame_fps, adaptive=adaptive, probe=probe, keep_pcm=keep_pcm)
    try:
        report = decode(source, collector, limits, pcm=pcm)
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
    kept = np.concatenate(collector.kept) if audio is not None and collector.kept else None
    return MediaPrints(kind=kind, audio=audio, frames=frames, report=report, pcm=kept)
