"""From media to prints in one decoding pass: chromaprint items and speech landmarks for the
sound, picture hashes for sampled frames (or the one picture of a still image)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from agent.errors import MediaError
from agent.media import band, inset, landmarks, screen
from agent.media import keypoints as kp
from agent.media.chroma import ChromaprintStream
from agent.media.decode import AUDIO_RATE, DecodeReport, Picture, decode
from agent.media.frames import (
    CHROMA_CELLS,
    LAYOUT_CELLS,
    SCALES,
    PictureHashes,
    chroma_signature,
    content_box,
    hash_picture,
)
from agent.media.model import MediaLimits

ENROL_FPS = 4.0  # enrolled videos: a frame every 0.25 s, so any query frame is near one
SCREEN_TRIES = 3  # grey copies searched for a filmed screen
SCREEN_INSET_PX = 3.0  # the dilated outline of a filmed screen sits this far outside its picture (grey copy)
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
class Detail:
    """A query frame kept for local features: a larger grey copy and the small Y/U/V picture."""

    t: float
    gray: npt.NDArray[np.uint8]
    yuv: npt.NDArray[np.uint8]
    # U and V at half the grey copy's size (None: only `yuv`): the colour check of a picture
    # shown at a third of the frame reads its hues there, not from a 160 px picture in which
    # it is ~50 px wide and neighbouring colour bars blur into each other.
    chroma: npt.NDArray[np.uint8] | None = None


@dataclass(frozen=True)
class MediaPrints:
    kind: str  # "audio" | "video" | "image"
    audio: AudioPrint | None
    frames: FramePrint | None
    report: DecodeReport
    keypoints: kp.KeypointPrint | None = None  # enrolment: local features of a few keyframes
    variants: tuple[FramePrint, ...] = ()  # queries: the frames turned and flipped (DIHEDRAL[1:])
    details: tuple[Detail, ...] = ()  # queries: a few frames kept larger (local features)
    # Queries: every sampled picture cropped to the outlined rectangle (`inset.find_inset`)
    # found in the first grey copy that has one: a picture-in-picture hashed on its own.
    inset: FramePrint | None = None
    # Queries: the quadrilateral of a filmed screen (`screen.find_screen`, in the grey copies'
    # pixels, moved inside its outline) when one of the first SCREEN_TRIES grey copies shows
    # one, and every sampled picture from there on straightened from it.
    screen_quad: screen.Quad | None = None
    screen: FramePrint | None = None
    # Queries only: the first KEEP_PCM_S of decoded 11,025 Hz mono sound, for warp hypotheses.
    pcm: npt.NDArray[np.int16] | None = None
    # Queries: a smooth video's pictures past the full-width band (caption bar) that most of
    # them show (`band.find_band`); None when there is no band or the picture has texture.
    band_print: band.BandPrint | None = None
    # Queries: a smooth video's pictures, whole (`window.py`: crops towards a corner); None
    # when the picture has texture or a band.
    smooth_print: band.SmoothPrint | None = None


# The 8 turns and flips of a picture (the dihedral group), identity first, as operations on
# the last two axes (h, w) of pictures (planes, h, w) or of grids (pictures, ..., n, n).
DIHEDRAL: tuple[Callable[[npt.NDArray[Any]], npt.NDArray[Any]], ...] = (
    lambda a: a,
    lambda a: np.rot90(a, 1, axes=(-2, -1)),
    lambda a: np.rot90(a, 2, axes=(-2, -1)),
    lambda a: np.rot90(a, 3, axes=(-2, -1)),
    lambda a: a[..., ::-1],
    lambda a: a[..., ::-1, :],
    lambda a: np.swapaxes(a, -2, -1),
    lambda a: np.rot90(a, 2, axes=(-2, -1)).swapaxes(-2, -1),
)


def frame_print(pictures: list[PictureHashes]) -> FramePrint | None:
    if not pictures:
        return None
    return FramePrint(
        times=np.array([p.t for p in pictures], dtype=np.float32),
        hashes=np.array([p.hashes for p in pictures], dtype=np.uint64).reshape(-1, len(SCALES)),
        chroma=np.stack([p.chroma for p in pictures]).astype(np.int8).reshape(-1, 2 * CHROMA_CELLS),
        layout=np.stack([p.layout for p in pictures]).astype(np.int8).reshape(-1, LAYOUT_CELLS),
    )


class _Views(NamedTuple):
    """What the partial-view stages see of a smooth query (`_Collector._partial_views`)."""

    band: band.Band | None
    whole: bool
    by_colour: bool  # the part shown has even brightness: compared by colour contrast


def _plane_grids(yuv: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """8x8 block means of each of the Y, U and V planes: (3, 64)."""
    return np.stack([band.grid_means(np.ascontiguousarray(plane)) for plane in yuv])


def _layout_means(
    grids: list[npt.NDArray[np.float32]], by_colour: bool, cells: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    """The block means a query's layout is compared by: brightness, or the colour contrast over `cells`."""
    stacked = np.stack(grids).astype(np.float32)
    return band.contrast_grids(stacked[:, 1], stacked[:, 2], cells) if by_colour else stacked[:, 0]


class _Collector:
    """Receives decoded audio and pictures; decides which frames to hash.

    Frames are sampled every 1/fps seconds. When enrolling (`adaptive`), if two consecutive
    samples differ a lot, the picture changes faster than the sampling (chaotic or fast
    motion): every frame is hashed until it calms down, so that any single frame a user might
    upload is in the index.
    """

    def __init__(
        self,
        with_audio: bool,
        fps: float,
        adaptive: bool,
        probe: AudioProbe | None = None,
        query: bool = False,
        keep_pcm: bool = False,
        cancel: Callable[[], bool] | None = None,
        chromaprint: bool = True,
    ) -> None:
        # Enrolment describes a few keyframes (local features); a query keeps a few larger
        # grey frames (described only if pHash finds nothing) and hashes every picture turned
        # and flipped too (rotated or mirrored uploads).
        self.query = query
        self.detail_colour = query  # `decode`: U/V with the grey copies (`Detail.chroma`)
        self.inset_box: inset.Box | None = None  # in the small pictures' pixels
        self.inset_pictures: list[PictureHashes] = []
        self.screen_tries = 0
        self.screen_quad: screen.Quad | None = None  # in the grey copies' pixels
        self.screen_small: screen.Quad | None = None  # the same in the small pictures' pixels
        self.screen_pictures: list[PictureHashes] = []
        self.band_pictures: list[npt.NDArray[np.uint8]] = []  # the first band.TRIES small pictures
        self.band_times: list[float] = []
        # 8x8 block means of Y, U and V (3, 64), of the whole frame and inside any letterbox:
        # Y is the layout compared; U and V give the colour contrast of pictures of even
        # brightness (`band.contrast_grids`).
        self.band_grids: list[npt.NDArray[np.float32]] = []
        self.band_chroma: list[npt.NDArray[np.int8]] = []
        self.content_grids: list[npt.NDArray[np.float32]] = []
        self.content_chroma: list[npt.NDArray[np.int8]] = []
        self.partial_views: _Views | None = None  # `_partial_views`, once known
        self.keyframes: list[kp.KeyFrame] = []
        self.details: list[Detail] = []
        self.variants: list[list[PictureHashes]] = [[] for _ in DIHEDRAL[1:]]
        self.next_detail_t = 0.0
        self.last_key_hash: int | None = None
        self.chroma = ChromaprintStream() if with_audio and chromaprint else None
        self.landmarks = landmarks.LandmarkStream() if with_audio else None
        self.pictures: list[PictureHashes] = []
        self.step = 1.0 / fps
        self.adaptive = adaptive
        self.next_t = 0.0
        self.dense = False
        self.on_grid = False
        self.last_grid_hash: int | None = None
        self.probe = probe
        self.cancel = cancel
        self.proven = False
        self.next_probe_frames = round(PROBE_FIRST_S / landmarks.FRAME_SECONDS)
        self.keep_samples = round(KEEP_PCM_S * AUDIO_RATE) if keep_pcm else 0
        self.kept: list[npt.NDArray[np.int16]] = []
        self.kept_samples = 0

    def audio(self, samples: npt.NDArray[np.int16]) -> None:
        if self.landmarks is not None:
            if self.chroma is not None:
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
        return self.proven or (self.cancel is not None and self.cancel())

    def wants_picture(self, t: float) -> bool:
        self.on_grid = t + 1e-6 >= self.next_t
        if self.on_grid:
            # Re-anchor on the sampling grid so dropped or late frames do not shift it.
            self.next_t = (int(t / self.step + 1e-6) + 1) * self.step
        return self.on_grid or self.dense

    def detail_width(self, t: float) -> int:
        """Width of the grey copy wanted for the picture at `t` (0: none)."""
        step, cap = (kp.QUERY_STEP_S, kp.MAX_QUERY_FRAMES) if self.query else (kp.KEYFRAME_STEP_S, kp.MAX_KEYFRAMES)
        taken = len(self.details) if self.query else len(self.keyframes)
        if t + 1e-6 < self.next_detail_t or taken >= cap:
            return 0
        self.next_detail_t = t + step
        return kp.QUERY_DETAIL_WIDTH if self.query else kp.ENROL_DETAIL_WIDTH

    def picture(self, picture: Picture) -> None:
        hashed = hash_picture(picture)
        if hashed is not None:
            self.pictures.append(hashed)
            if self.query:
                for i, turn in enumerate(DIHEDRAL[1:]):
                    turned = hash_picture(Picture(t=picture.t, yuv=np.ascontiguousarray(turn(picture.yuv))))
                    if turned is not None:
                        self.variants[i].append(turned)
        if self.query:
            self._inset(picture)
            self._screen(picture)
            self._band(picture)
        if picture.detail is not None and hashed is not None:
            if self.query:
                self.details.append(Detail(picture.t, picture.detail, picture.yuv, picture.detail_chroma))
            elif self.last_key_hash is None or (hashed.hashes[0] ^ self.last_key_hash).bit_count() > kp.DUPLICATE_BITS:
                frame = kp.describe(picture.detail, picture.t, kp.ENROL_FEATURES)
                if frame is not None:
                    self.keyframes.append(frame)
                    self.last_key_hash = hashed.hashes[0]
        if self.on_grid and self.adaptive:
            current = hashed.hashes[0] if hashed is not None else None
            previous = self.last_grid_hash
            self.dense = (
                current is not None and previous is not None and (current ^ previous).bit_count() > DENSE_TRIGGER_BITS
            )
            self.last_grid_hash = current

    def _inset(self, picture: Picture) -> None:
        """Look for an inset in the query's grey copies until one is found, then hash every
        sampled picture's inset (a picture-in-picture stays put)."""
        if self.inset_box is None and picture.detail is not None:
            found = inset.find_inset(picture.detail)
            if found is not None:
                sy = picture.yuv.shape[1] / picture.detail.shape[0]
                sx = picture.yuv.shape[2] / picture.detail.shape[1]
                self.inset_box = inset.scaled_inward(found, sy, sx)
        if self.inset_box is not None:
            top, bottom, left, right = self.inset_box
            crop = np.ascontiguousarray(picture.yuv[:, top:bottom, left:right])
            if crop.shape[1] >= inset.MIN_SMALL_SIDE and crop.shape[2] >= inset.MIN_SMALL_SIDE:
                hashed = hash_picture(Picture(t=picture.t, yuv=crop))
                if hashed is not None:
                    self.inset_pictures.append(hashed)

    def _band(self, picture: Picture) -> None:
        """Keep what `band_print` and `smooth_print` need: the whole frame's layout grid and
        colour grid of every sampled picture, also inside any letterbox (~600 bytes each), and
        the first few small pictures. Whether either applies is known from those few: a
        textured video (most of them) stops keeping anything there."""
        if self.partial_views is not None and self.partial_views.band is None and not self.partial_views.whole:
            return
        y = picture.yuv[0]
        if len(self.band_pictures) < band.TRIES:
            self.band_pictures.append(picture.yuv.copy())
        self.band_times.append(picture.t)
        self.band_grids.append(_plane_grids(picture.yuv))
        self.band_chroma.append(chroma_signature(picture.yuv[1], picture.yuv[2]))
        # The same inside any letterbox (what pHash hashes): `window.confirm_views`.
        top, bottom, left, right = content_box(y)
        inner = picture.yuv[:, top:bottom, left:right]
        self.content_grids.append(_plane_grids(inner))
        self.content_chroma.append(chroma_signature(inner[1], inner[2]))
        if len(self.band_pictures) == band.TRIES and self.partial_views is None:
            self.partial_views = self._partial_views()

    def _partial_views(self) -> _Views:
        """The band of a smooth video, whether it is smooth all over, and whether by colour
        contrast, from the first few pictures: what `band_print` and `smooth_print` hold to."""
        pictures = self.band_pictures
        found = band.find_band(pictures)
        if found is not None and sum(band.smooth_picture(p, found) for p in pictures) * 2 <= len(pictures):
            found = None
        whole = found is None and sum(band.smooth_picture(p) for p in pictures) * 2 > len(pictures)
        by_colour = (found is not None or whole) and sum(band.by_colour(p, found) for p in pictures) * 2 > len(pictures)
        return _Views(found, whole, by_colour)

    def _known_views(self) -> _Views:
        """`partial_views`, decided now from the pictures there are if fewer than TRIES came."""
        if self.partial_views is None:
            self.partial_views = self._partial_views()
        return self.partial_views

    def band_print(self) -> band.BandPrint | None:
        views = self._known_views() if self.band_times else None
        if views is None or views.band is None:
            return None
        return band.BandPrint(
            times=np.array(self.band_times, dtype=np.float32),
            means=_layout_means(self.band_grids, views.by_colour, band.layout_cells(views.band)),
            chroma=np.stack(self.band_chroma).astype(np.int8),
            band=views.band,
        )

    def smooth_print(self) -> band.SmoothPrint | None:
        """The pictures whole, when most of the first few are smooth all over (and show no band)."""
        if not self.band_times or not self._known_views().whole:
            return None
        every = np.arange(LAYOUT_CELLS)
        by_colour = self._known_views().by_colour
        return band.SmoothPrint(
            times=np.array(self.band_times, dtype=np.float32),
            means=_layout_means(self.band_grids, by_colour, every),
            chroma=np.stack(self.band_chroma).astype(np.int8),
            content_means=_layout_means(self.content_grids, by_colour, every),
            content_chroma=np.stack(self.content_chroma).astype(np.int8),
        )

    def _screen(self, picture: Picture) -> None:
        """Look for a filmed screen in the first SCREEN_TRIES grey copies (a screen filmed with
        a phone is in view from the start; the search costs ~1-7 ms a frame, paid by every
        video query), then hash every sampled picture straightened from it."""
        if self.screen_small is None and picture.detail is not None and self.screen_tries < SCREEN_TRIES:
            self.screen_tries += 1
            found = screen.find_screen(picture.detail)
            if found is not None:
                self.screen_quad = screen.inward(found, SCREEN_INSET_PX)
                scale = np.array(
                    [picture.yuv.shape[2] / picture.detail.shape[1], picture.yuv.shape[1] / picture.detail.shape[0]],
                    dtype=np.float32,
                )
                self.screen_small = (self.screen_quad * scale).astype(np.float32)
        if self.screen_small is not None:
            straight = screen.straightened_picture(picture.t, picture.yuv, self.screen_small)
            hashed = hash_picture(straight) if straight is not None else None
            if hashed is not None:
                self.screen_pictures.append(hashed)

    def audio_print(self) -> AudioPrint | None:
        if self.landmarks is None or self.landmarks.samples == 0:
            if self.chroma is not None:
                self.chroma.close()
            return None
        seconds = self.landmarks.samples / AUDIO_RATE
        hashes, times = landmarks.pair_hashes(self.landmarks.finish())
        chroma = self.chroma.finish() if self.chroma is not None else np.zeros(0, dtype=np.uint32)
        return AudioPrint(chroma=chroma, hashes=hashes, times=times, seconds=seconds)

    def frame_print(self) -> FramePrint | None:
        return frame_print(self.pictures)


def fingerprint(
    source: Path | bytes,
    limits: MediaLimits,
    *,
    frame_fps: float = QUERY_FPS,
    adaptive: bool = False,
    pcm: tuple[str, int, int] | None = None,
    probe: AudioProbe | None = None,
    query: bool = False,
    keep_pcm: bool = False,
    start_s: float = 0.0,
    cancel: Callable[[], bool] | None = None,
    chromaprint: bool = True,
) -> MediaPrints:
    """Decode `source` once and compute every print it supports (`adaptive`: see _Collector).

    `probe`, for queries: called with the sound decoded so far (landmarks only) after
    PROBE_FIRST_S and then at doubling lengths; when it returns True (it found a match beyond
    doubt), decoding stops and the prints cover only what was decoded (report.satisfied).
    `keep_pcm`, for queries: keep the first KEEP_PCM_S of decoded sound in `MediaPrints.pcm`.
    `start_s`: only the sound from there on (`decode`). `cancel`: asked before every packet;
    True stops decoding as a proof would (report.satisfied). `chromaprint=False`: landmarks
    only (what a probe reads), without the chromaprint items.
    """
    collector = _Collector(
        with_audio=True,
        fps=frame_fps,
        adaptive=adaptive,
        probe=probe,
        query=query,
        keep_pcm=keep_pcm,
        cancel=cancel,
        chromaprint=chromaprint,
    )
    try:
        report = decode(source, collector, limits, pcm=pcm, start_s=start_s)
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
    variants = tuple(p for p in (frame_print(v) for v in collector.variants) if p is not None)
    return MediaPrints(
        kind=kind,
        audio=audio,
        frames=frames,
        report=report,
        keypoints=kp.KeypointPrint(tuple(collector.keyframes)) if collector.keyframes else None,
        variants=variants if len(variants) == len(DIHEDRAL) - 1 else (),
        details=tuple(collector.details),
        inset=frame_print(collector.inset_pictures),
        screen_quad=collector.screen_quad,
        screen=frame_print(collector.screen_pictures),
        pcm=kept,
        band_print=collector.band_print() if query and kind == "video" else None,
        smooth_print=collector.smooth_print() if query and kind == "video" else None,
    )
