"""`MediaService`: enrol and recognise clinical media, in process, from any thread.

One per process. It owns the in-memory index (loaded from the store at start, refreshed on
demand with what other processes enrolled) and turns every failure on hostile input into an
outcome with an `error` string: nothing a file contains can raise out of `match_*`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy.exc import SQLAlchemyError

from agent.errors import MediaError
from agent.media import band, inset, printformat, repository, screen, segfile, siblings, warp, window
from agent.media import keypoints as kp
from agent.media.audio_index import AudioCandidate, bit_error_rate
from agent.media.band import BandCandidate
from agent.media.chroma import ITEM_SECONDS
from agent.media.decision import Calibration, decide, load_calibration
from agent.media.decode import Picture
from agent.media.fingerprint import (
    ENROL_FPS,
    QUERY_FPS,
    AudioPrint,
    FramePrint,
    MediaPrints,
    fingerprint,
    frame_print,
)
from agent.media.frames import hash_picture
from agent.media.index import (
    AssetInfo,
    IndexState,
    MediaIndex,
    coarse_audio,
    search_audio,
    search_band,
    search_image,
    search_video,
    search_view,
    stored_chroma,
)
from agent.media.model import EnrollOutcome, MatchOutcome, MediaLimits, MediaMatch
from agent.media.rectify import GeoHit, KeypointBank, rectified_chroma, verify
from agent.media.sniff import read_prefix, sniff_bytes
from agent.media.split import SecondHalf
from agent.store import Store, StoreUnavailable, describe_db_error

log = logging.getLogger(__name__)

MIN_AUDIO_LANDMARKS = 8  # fewer than this (silence, a click) is not a usable sound print
TOP_CANDIDATES = 3
# A long upload stops being decoded once its sound so far matches beyond doubt: calibrated
# score >= 0.999 (logit 6.9; the threshold is 2.7 and the highest logit of any negative seen in
# calibration 1.7) on at least 40 aligned landmarks. "No match" still needs the whole file.
PROOF_MIN_SCORE = 0.999
PROOF_MIN_VOTES = 40
HASH_CHUNK = 1 << 20
# A warped reading of the query (speed, tempo or pitch undone, `agent.media.warp`) is the best
# of some eighty tries, so it must earn more than the calibrated threshold: a score of at
# least WARP_MIN_SCORE, and at least WARP_GAIN times the landmark votes the query as it came
# got for the same asset (and at least WARP_MIN_VOTES).
WARP_MIN_SCORE = 0.999
WARP_GAIN = 3.0
WARP_MIN_VOTES = 20
# Before the search, the cheap gate (`warp.gate_votes`): fewer best coarse votes than this on
# the middle 5 s under every hypothesis and the upload is taken as unrelated sound.
WARP_GATE_VOTES = 5
# The keypoint stage stops describing query frames after this much CPU time of the matching
# thread (and decides on what it has seen): an upload that matches nothing must not pay for
# all eight frames. A frame costs ~60-150 ms of CPU, describing included.
KEYPOINT_BUDGET_S = 0.6
# A still image is one picture: its colours must agree with the enrolled frame's within
# what their saturation's noise explains plus 1 degree of hue (`frames.chroma_agreement`).
# Every true still measured agreed within 0.8 degrees (most exactly); stills of another
# video made from the same test pattern 4-14 degrees of hue away exceeded it by 1.7-6.7 and
# had been taken for it: one picture has nothing else to tell them apart (docs/detection.md).
IMAGE_MIN_COLOUR = math.cos(math.radians(1.0))
# A video query with fewer sampled frames than this (under ~4 s at QUERY_FPS) that matched
# nothing is decoded again at a rate giving about this many, at most SHORT_QUERY_MAX_FPS.
SHORT_QUERY_FRAMES = 8
SHORT_QUERY_MAX_FPS = 8.0


@dataclass(frozen=True)
class WarpTrial:
    """One warped reading of a query: its hypothesis, best candidate (Chromaprint features
    filled when it was verified), calibrated score and whether it was accepted."""

    hypothesis: warp.Hypothesis
    candidate: AudioCandidate
    score: float
    accepted: bool


@dataclass(frozen=True)
class IndexStats:
    assets: int
    audio_segments: int
    frame_segments: int
    index_bytes: int


def _sha256_file(path: Path, limit: int) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            size += len(chunk)
            if size > limit:
                raise MediaError(f"larger than the {limit} byte limit")
            digest.update(chunk)
    return digest.hexdigest(), size


def _usable_audio(p: AudioPrint | None) -> AudioPrint | None:
    return p if p is not None and p.hashes.size >= MIN_AUDIO_LANDMARKS else None


class MediaService:
    """One per process, thread-safe (the proxy calls it from worker threads); owns the in-memory index."""

    warp_gate = WARP_GATE_VOTES  # benchmarks set 0 to measure the search without its gate
    keypoint_budget_s: float | None = KEYPOINT_BUDGET_S  # None: no budget (benchmarks)

    def __init__(
        self,
        store: Store,
        *,
        agent_id: str = "",
        limits: MediaLimits = MediaLimits(),  # noqa: B008 (frozen dataclass: safe default)
        calibration: Calibration | None = None,
        preload: bool = True,
    ) -> None:
        """`preload=False` leaves the index empty until `refresh()`: for callers that mostly enrol."""
        self.store = store
        self.agent_id = agent_id
        self.limits = limits
        self.calibration = calibration or load_calibration()
        where = segfile.directory_for(store.url)
        digests = lambda ids: repository.audio_digests(store, ids)  # noqa: E731
        self.index = MediaIndex(segfile.SegmentFiles(where, digests) if where is not None else None)
        # Keypoints are loaded on first need (a query pHash could not place), not at start-up.
        self.keypoints = KeypointBank()
        self._keypoints_known: set[str] = set()
        self._write = threading.Lock()  # index changes
        self._store_write = threading.Lock()  # one writing transaction per process at a time
        if preload:
            self.refresh()

    # --- index maintenance ------------------------------------------------------------------

    def refresh(self) -> int:
        """Load assets other processes added to the store (and drop forgotten ones); returns how many were added."""
        with self._write:
            try:
                alive = repository.alive_ids(self.store)
                known = set(self.index.state.assets)
                gone = known - alive
                if gone:
                    self.index.remove(sorted(gone))
                    self.keypoints.remove(gone)
                    self._keypoints_known -= gone
                restored = self._restore(alive) if not known and not self.index.state.audio else set()
                new = alive - known
                if not new:
                    return 0
                loaded = list(repository.load(self.store, new, audio_known=restored))
            except SQLAlchemyError as exc:
                raise MediaError(f"cannot read enrolled media from the store: {describe_db_error(exc)}") from None
            return self.index.add([(x.info, x.audio, x.frames) for x in loaded])

    def _restore(self, alive: set[str]) -> set[str]:
        """At start-up: adopt the audio segments saved by an earlier run that still agree
        with the store (`segfile`); returns the alive assets whose audio they hold."""
        files = self.index.files
        if files is None or not files.directory.is_dir():
            return set()
        segments = files.restore(alive, repository.audio_digests(self.store))
        self.index.adopt(segments)
        return {a for s in segments for a, ok in zip(s.asset_ids, s.alive.tolist(), strict=True) if ok}

    def forget(self, asset_id: str) -> None:
        """Retention: drop an asset's prints from the store and the index."""
        with self._write:
            repository.forget(self.store, asset_id)
            self.index.remove([asset_id])
            self.keypoints.remove([asset_id])
            self._keypoints_known.discard(asset_id)

    def stats(self) -> IndexStats:
        state = self.index.state
        return IndexStats(len(state.assets), len(state.audio), len(state.frames), state.nbytes)

    def asset_path(self, asset_id: str) -> str | None:
        """Where an indexed asset was enrolled from (None when it is not indexed)."""
        info = self.index.state.assets.get(asset_id)
        return info.path if info else None

    # --- enrolment --------------------------------------------------------------------------

    def enroll_path(self, path: Path) -> EnrollOutcome:
        path = Path(path)
        display = str(path)
        try:
            prefix = read_prefix(path)
            sniffed = sniff_bytes(prefix)
            if sniffed.kind is None:
                raise MediaError(f"not audio, video or an image ({sniffed.mime})")
            digest, size = _sha256_file(path, self.limits.max_bytes)
            return self._enroll(path, digest, sniffed.mime, size, display)
        except MediaError as exc:
            return EnrollOutcome(None, display, None, False, str(exc))
        except StoreUnavailable as exc:
            return EnrollOutcome(None, display, None, False, str(exc), store_failed=True)
        except OSError as exc:
            return EnrollOutcome(None, display, None, False, f"cannot read: {exc.strerror or exc}")

    def enroll_bytes(self, data: bytes, *, source_path: str) -> EnrollOutcome:
        try:
            if len(data) > self.limits.max_bytes:
                raise MediaError(f"larger than the {self.limits.max_bytes} byte limit")
            sniffed = sniff_bytes(data)
            if sniffed.kind is None:
                raise MediaError(f"not audio, video or an image ({sniffed.mime})")
            return self._enroll(bytes(data), hashlib.sha256(data).hexdigest(), sniffed.mime, len(data), source_path)
        except MediaError as exc:
            return EnrollOutcome(None, source_path, None, False, str(exc))
        except StoreUnavailable as exc:
            return EnrollOutcome(None, source_path, None, False, str(exc), store_failed=True)

    def _enroll(self, source: Path | bytes, digest: str, mime: str, size: int, display: str) -> EnrollOutcome:
        try:
            record = repository.find(self.store, digest)
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"store unavailable: {describe_db_error(exc)}") from None
        if record is not None and not record.deleted:
            if digest not in self.index:
                self.refresh()
            info = self.index.state.assets.get(digest)
            if info is not None and info.has_frame_print:
                self._backfill_keypoints(source, digest)
            return EnrollOutcome(digest, display, info.kind if info else None, False, None)
        prints = fingerprint(source, self.limits, frame_fps=ENROL_FPS, adaptive=True)
        audio = _usable_audio(prints.audio)
        frames = prints.frames if prints.frames is not None and prints.frames.count else None
        if audio is None and frames is None:
            raise MediaError("nothing to fingerprint (silence, or pictures without detail)")
        prints = MediaPrints(
            kind=prints.kind, audio=audio, frames=frames, report=prints.report, keypoints=prints.keypoints
        )
        try:
            with self._store_write:
                saved = repository.save(
                    self.store,
                    asset_id=digest,
                    prints=prints,
                    mime=mime,
                    path=display,
                    size=size,
                    origin_agent_id=self.agent_id,
                )
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"cannot store prints: {describe_db_error(exc)}") from None
        info = AssetInfo(
            asset_id=digest,
            kind=prints.kind,
            path=display,
            duration_s=prints.report.duration_s,
            has_audio_print=audio is not None,
            has_frame_print=frames is not None,
        )
        with self._write:
            self.index.add([(info, audio, frames)])
            if prints.keypoints is not None and self._keypoints_known:
                self.keypoints.add([(digest, prints.keypoints)])
                self._keypoints_known.add(digest)
        if prints.report.problem:
            log.warning("enrolled %s partially: %s", digest[:12], prints.report.problem)
        return EnrollOutcome(digest, display, prints.kind, saved, None)

    def _backfill_keypoints(self, source: Path | bytes, digest: str) -> None:
        """Enrolling a file again gives an asset from before keypoints existed its keypoint
        print (nothing else changes), so old stores gain the geometric stage file by file."""
        try:
            if repository.has_print(self.store, digest, printformat.KEYPOINTS):
                return
        except SQLAlchemyError as exc:
            raise MediaError(f"store unavailable: {describe_db_error(exc)}") from None
        prints = fingerprint(source, self.limits, frame_fps=ENROL_FPS, adaptive=True)
        if prints.keypoints is None:
            return
        try:
            with self._store_write:
                repository.add_keypoints(self.store, digest, prints.keypoints)
        except SQLAlchemyError as exc:
            raise MediaError(f"cannot store prints: {describe_db_error(exc)}") from None
        with self._write:
            if self._keypoints_known:
                self.keypoints.add([(digest, prints.keypoints)])

    # --- matching ---------------------------------------------------------------------------

    def match_path(self, path: Path, *, limits: MediaLimits | None = None) -> MatchOutcome:
        started = time.perf_counter()
        limits = limits or self.limits
        path = Path(path)
        try:
            sniffed = sniff_bytes(read_prefix(path))
            if sniffed.kind is None:
                return MatchOutcome(None, sniffed.mime, None, None, _ms(started))
            if path.stat().st_size > limits.max_bytes:
                return MatchOutcome(
                    None, sniffed.mime, sniffed.kind, f"larger than the {limits.max_bytes} byte limit", _ms(started)
                )
        except MediaError as exc:
            return MatchOutcome(None, None, None, str(exc), _ms(started))
        except OSError as exc:
            return MatchOutcome(None, None, None, f"cannot read: {exc.strerror or exc}", _ms(started))
        return self._match(path, limits, sniffed.mime, sniffed.kind, started)

    def match_bytes(self, data: bytes, *, limits: MediaLimits | None = None) -> MatchOutcome:
        started = time.perf_counter()
        limits = limits or self.limits
        try:
            sniffed = sniff_bytes(data)
        except MediaError as exc:
            return MatchOutcome(None, None, None, str(exc), _ms(started))
        if sniffed.kind is None:
            return MatchOutcome(None, sniffed.mime, None, None, _ms(started))
        if len(data) > limits.max_bytes:
            return MatchOutcome(
                None, sniffed.mime, sniffed.kind, f"larger than the {limits.max_bytes} byte limit", _ms(started)
            )
        return self._match(bytes(data), limits, sniffed.mime, sniffed.kind, started)

    def match_decodable(self, data: bytes, *, limits: MediaLimits | None = None) -> MatchOutcome:
        """Bytes libmagic cannot name but that start at a media marker (`agent.media.probe`):
        ffmpeg's own probing over the allowed demuxers decides (WavPack, TTA, AC-3, VOC, MXF,
        an MPEG stream cut mid-file...). Not decodable gives an outcome with `error` set."""
        started = time.perf_counter()
        limits = limits or self.limits
        if len(data) > limits.max_bytes:
            return MatchOutcome(None, None, None, f"larger than the {limits.max_bytes} byte limit", _ms(started))
        outcome = self._match(bytes(data), limits, "application/octet-stream", "audio", started)
        if outcome.error is not None and outcome.match is None and outcome.media_kind == "audio":
            # Nothing decoded: not media after all (the caller decides what unreadable bytes mean).
            return MatchOutcome(None, None, None, outcome.error, outcome.ms)
        return outcome

    def match_pcm(
        self, pcm: bytes, *, sample_rate: int, channels: int = 1, sample_format: str = "s16le"
    ) -> MatchOutcome:
        """Headerless PCM (realtime APIs: a few seconds of 16/24 kHz s16le mono, or G.711)."""
        started = time.perf_counter()
        mime = f"audio/pcm;format={sample_format};rate={sample_rate};channels={channels}"
        if len(pcm) > self.limits.max_bytes:
            return MatchOutcome(
                None, mime, "audio", f"larger than the {self.limits.max_bytes} byte limit", _ms(started)
            )
        return self._match(bytes(pcm), self.limits, mime, "audio", started, pcm=(sample_format, sample_rate, channels))

    def _match(
        self,
        source: Path | bytes,
        limits: MediaLimits,
        mime: str,
        kind: str,
        started: float,
        pcm: tuple[str, int, int] | None = None,
    ) -> MatchOutcome:
        state = self.index.state
        proof = _AudioProof(self, state)
        # Long recordings: a second thread reads from the middle on and may prove a match first.
        second = SecondHalf.start(source, limits, proof.excerpt, proof.proven) if pcm is None and state.audio else None
        proof.on_miss = second.go if second is not None else None
        try:
            prints = fingerprint(
                source,
                limits,
                frame_fps=QUERY_FPS,
                pcm=pcm,
                probe=proof,
                query=True,
                keep_pcm=True,
                cancel=proof.proven if second is not None else None,
            )
            match = proof.match if prints.report.satisfied else self._decide(prints, state)
            if (match is None or match.ambiguous) and _short_video(prints):
                # A few seconds of video give pHash a handful of frames to agree: sampled
                # again, about as densely as a 4 s query is, before it counts as no match.
                count = prints.frames.count if prints.frames is not None else 1
                fps = min(SHORT_QUERY_MAX_FPS, QUERY_FPS * SHORT_QUERY_FRAMES / max(count, 1))
                prints = fingerprint(source, limits, frame_fps=fps, pcm=pcm, query=True, keep_pcm=True)
                dense = self._decide(prints, state)
                if dense is not None and (match is None or not dense.ambiguous):
                    match = dense
        except MediaError as exc:
            return MatchOutcome(None, mime, kind, str(exc), _ms(started))
        except Exception as exc:  # a bug must not take the proxy's worker down with it
            log.exception("media match failed")
            return MatchOutcome(
                None, mime, kind, f"internal error while inspecting media: {type(exc).__name__}", _ms(started)
            )
        finally:
            if second is not None:
                second.stop()
        error = prints.report.problem if match is None else None
        return MatchOutcome(match, mime, prints.kind, error, _ms(started))

    def _decide(self, prints: MediaPrints, state: IndexState) -> MediaMatch | None:
        options: list[MediaMatch] = []
        audio = _usable_audio(prints.audio)
        audio_candidates: list[AudioCandidate] = search_audio(state, audio) if audio is not None else []
        options.extend(self._audio_matches(state, audio_candidates))
        # Only the voice model accepted the sound: a weaker kind of evidence, which a same-voice
        # recording of the same templates can earn when the query's own source is out of reach
        # unwarped (pitch-shifted). The warp hypotheses are tried too; a warped match, which
        # must clear the first model at WARP_MIN_SCORE, outranks it.
        voice_only = bool(options) and not self._first_model_accepts(audio_candidates)
        frames = prints.frames
        if frames is not None and frames.count:
            # pHash first as uploaded, then turned and flipped (portrait, mirrored), then
            # local features with geometric verification (picture-in-picture, crops, re-filmed).
            # A match that names no single asset (`MediaMatch.alternatives`) does not stop the
            # later stages: one of them may still tell the assets apart.
            # A still whose picture pHash placed but whose colours disagree (`IMAGE_MIN_COLOUR`)
            # is not that asset for the later stages either: they read colour less precisely.
            off_colour: set[str] = set()
            # A smooth video behind a caption bar: the rows the bar leaves show which enrolled
            # videos have that picture in other colours (the same ramp drawn in other colours
            # fools pHash, whose bits there are mostly noise): no stage may name them.
            banded = search_band(state, prints.band_print) if prints.band_print is not None else []
            lookalikes = {c.asset_id for c in banded if band.contradicts(c)}
            confirm_views = window.confirm_views(prints.smooth_print) if prints.smooth_print is not None else None
            for i, variant in enumerate((frames, *prints.variants)):
                method = "frames" if i == 0 else "turned-frames"
                found = self._picture_matches(state, prints.kind, variant, audio, audio_candidates, method, off_colour)
                found = _pictures_not_of(found, lookalikes)
                if confirm_views is not None:
                    found = [m for m in found if window.colours_confirm(state, confirm_views, m)]
                options.extend(found)
                if _named(options):
                    break
            off_colour.difference_update(m.asset_id for m in options)  # placed in colour by another pass
            if not _named(options) and prints.details:
                options.extend(self._inset_matches(state, prints, audio, audio_candidates))
            if not _named(options) and prints.details:
                options.extend(self._screen_matches(state, prints, audio, audio_candidates))
            if not _named(options) and prints.details:
                options.extend(self._geometric_matches(state, prints, audio, audio_candidates))
            options = _pictures_not_of(options, lookalikes)
            if not _named(options) and banded:
                options.extend(self._band_matches(state, banded, audio, audio_candidates, "band"))
            if not _named(options) and prints.smooth_print is not None:
                # A smooth video cropped towards a corner: every crop hypothesis (`window.py`).
                cropped = [c for v in window.crop_views(prints.smooth_print.thinned()) for c in search_view(state, v)]
                options.extend(self._band_matches(state, cropped, audio, audio_candidates, "crop"))
            options = [m for m in options if m.asset_id not in off_colour]
        options = [m for m in options if m.path]
        if (voice_only or not _named(options)) and audio is not None and prints.pcm is not None:
            warped = self._warped_match(state, prints.pcm, audio_candidates)
            if warped is not None:
                options.append(warped)
        return max(options, key=lambda m: (not m.ambiguous, m.score)) if options else None

    def _picture_matches(
        self,
        state: IndexState,
        kind: str,
        frames: FramePrint,
        audio: AudioPrint | None,
        audio_candidates: list[AudioCandidate],
        method: str,
        off_colour: set[str] | None = None,
    ) -> list[MediaMatch]:
        """The asset `frames` show, by pHash and the calibrated decision. `off_colour`
        collects the assets a still matched but for its colours (`IMAGE_MIN_COLOUR`)."""
        cal = self.calibration
        accepted: list[siblings.Scored] = []
        if kind == "image":
            # Several frames per asset are proposed; each is scored, the best one counts.
            for ic in search_image(state, frames, cal.min_chroma):
                score, ok = decide("image", ic, cal)
                if ok and ic.chroma >= IMAGE_MIN_COLOUR:
                    accepted.append(siblings.Scored(ic, score, _duration(state, ic.asset_id)))
                elif ok and off_colour is not None:
                    off_colour.add(ic.asset_id)
            if off_colour is not None:
                off_colour.difference_update(a.candidate.asset_id for a in accepted)
        else:
            for vc in search_video(state, frames, cal.min_chroma)[:TOP_CANDIDATES]:
                score, ok = decide("video", vc, cal)
                if ok and not self._sound_contradicts(state, audio, vc.asset_id, audio_candidates):
                    accepted.append(siblings.Scored(vc, score, _duration(state, vc.asset_id)))
        span = float(frames.times.max() - frames.times.min()) + 1.0 / QUERY_FPS if kind != "image" else 0.0
        chosen = siblings.choose(accepted, span)
        if chosen is None:
            return []
        c = chosen.best.candidate
        found = self._as_match(
            state, c.asset_id, "image" if kind == "image" else "video", chosen.best.score, c.offset_s, method
        )
        return [replace(found, alternatives=chosen.alternatives)]

    def _inset_matches(
        self, state: IndexState, prints: MediaPrints, audio: AudioPrint | None, audio_candidates: list[AudioCandidate]
    ) -> list[MediaMatch]:
        """pHash of the picture inside an outlined rectangle of the query (`inset.py`): a
        smooth picture-in-picture that local features cannot hold on to."""
        details = [d for d in prints.details if d.chroma is not None]
        box = inset.common_box([inset.find_inset(d.gray) for d in details], details[0].gray.shape) if details else None
        cut = [inset.inset_picture(d.t, d.gray, d.chroma, box) for d in details if d.chroma is not None] if box else []
        return self._cut_out_matches(state, prints, audio, audio_candidates, cut, prints.inset, "inset")

    def _screen_matches(
        self, state: IndexState, prints: MediaPrints, audio: AudioPrint | None, audio_candidates: list[AudioCandidate]
    ) -> list[MediaMatch]:
        """pHash of the query straightened from the quadrilateral a filmed screen makes
        (`screen.py`): a re-filmed picture whose fine detail the blur took."""
        quad = prints.screen_quad
        if quad is None:
            return []
        cut = [screen.straightened_detail(d.t, d.gray, d.chroma, quad) for d in prints.details if d.chroma is not None]
        return self._cut_out_matches(state, prints, audio, audio_candidates, cut, prints.screen, "screen")

    def _cut_out_matches(
        self,
        state: IndexState,
        prints: MediaPrints,
        audio: AudioPrint | None,
        audio_candidates: list[AudioCandidate],
        from_details: list[Picture],
        every: FramePrint | None,
        method: str,
    ) -> list[MediaMatch]:
        """A part of the query cut out of its grey copies (`from_details`: a few frames, 6x the
        resolution of the small pictures) searched first, then the same part of every
        sampled picture (`every`: smooth or blurred pictures need many frames to agree, and
        the whole length tells siblings apart) unless the first pass named an asset."""
        found: list[MediaMatch] = []
        frames = frame_print([h for h in map(hash_picture, from_details) if h is not None])
        if frames is not None:
            found = self._picture_matches(state, prints.kind, frames, audio, audio_candidates, method)
            if _named(found):
                return found
        if every is None:
            return found
        return _better(found, self._picture_matches(state, prints.kind, every, audio, audio_candidates, method))

    def _load_keypoints(self, state: IndexState) -> None:
        missing = [a for a, info in state.assets.items() if info.has_frame_print and a not in self._keypoints_known]
        if not missing:
            return
        try:
            loaded = list(repository.load_keypoints(self.store, missing))
        except SQLAlchemyError as exc:
            raise MediaError(f"cannot read enrolled media from the store: {describe_db_error(exc)}") from None
        self.keypoints.add(loaded)
        self._keypoints_known.update(missing)

    def _geometric_matches(
        self, state: IndexState, prints: MediaPrints, audio: AudioPrint | None, audio_candidates: list[AudioCandidate]
    ) -> list[MediaMatch]:
        """Local features of a few query frames against the enrolled keyframes (`rectify.py`)."""
        self._load_keypoints(state)
        if not len(self.keypoints):
            return []
        details = prints.details
        frames = prints.frames
        whole = prints.kind != "image" and frames is not None and frames.count > 0
        span = float(frames.times.max() - frames.times.min()) + 1.0 / QUERY_FPS if whole and frames else 0.0
        queries = (kp.describe(d.gray, d.t, kp.QUERY_FEATURES) for d in details)

        def colour(i: int, hit: GeoHit) -> tuple[float, float]:
            stored = _chroma_at(state, hit.asset_id, hit.t)
            return (1.0, 0.0) if stored is None else rectified_chroma(details[i], hit, stored)

        found = verify(
            self.keypoints,
            queries,
            image=prints.kind == "image",
            total=len(details),
            colour=colour,
            min_colour=self.calibration.min_chroma,
            tie=lambda a: abs(_duration(state, a) - span) if span else 0.0,
            budget_s=self.keypoint_budget_s,
            zoom=lambda i: kp.describe_zoomed(details[i].gray, details[i].t, kp.QUERY_FEATURES),
        )
        if found is None or found.asset_id not in state.assets:
            return []
        if prints.kind != "image" and self._sound_contradicts(state, audio, found.asset_id, audio_candidates):
            return []
        # Inliers well above the bar are near-certain; the score says how far above.
        score = 1.0 - 0.5 ** (found.inliers / 8.0)
        kind = "image" if prints.kind == "image" else "video"
        match = self._as_match(state, found.asset_id, kind, score, found.offset_s, "keypoints")
        return [replace(match, alternatives=found.alternatives)]

    def _band_matches(
        self,
        state: IndexState,
        candidates: list[BandCandidate],
        audio: AudioPrint | None,
        audio_candidates: list[AudioCandidate],
        method: str,
    ) -> list[MediaMatch]:
        """The partial-view candidates (`band.py`: the rows a caption bar leaves; `window.py`:
        corner crops) that `band.accepts` and the sound does not contradict, each video under
        its best-agreeing view, best first; more than one video is an ambiguous match naming
        them all."""
        best: dict[str, BandCandidate] = {}
        for c in sorted(candidates, key=lambda c: (c.agree, c.layout), reverse=True):
            if band.accepts(c) and not self._sound_contradicts(state, audio, c.asset_id, audio_candidates):
                best.setdefault(c.asset_id, c)
        if not best:
            return []
        ranked = list(best.values())
        top = ranked[0]
        score = min(top.layout, 1.0 - 0.5 ** (top.agree / 4.0))
        match = self._as_match(state, top.asset_id, "video", score, top.offset_s, method)
        return [replace(match, alternatives=tuple(c.asset_id for c in ranked[1:]))]

    def _warped_match(
        self, state: IndexState, pcm: npt.NDArray[np.int16], direct: list[AudioCandidate]
    ) -> MediaMatch | None:
        """The query's sound re-read under speed, tempo and pitch hypotheses (only when
        nothing matched as it came): the first trial that `_warp_trials` accepts."""
        for trial in self._warp_trials(state, pcm, direct):
            if trial.accepted:
                match = self._as_match(
                    state, trial.candidate.asset_id, "audio", trial.score, trial.candidate.offset_s, "warped-sound"
                )
                if match.path:
                    return match
        return None

    def _warp_trials(
        self, state: IndexState, pcm: npt.NDArray[np.int16], direct: list[AudioCandidate]
    ) -> list[WarpTrial]:
        """The best hypothesis's best candidate, verified by the Chromaprint bit-error rate of
        the query with the hypothesis undone; accepted if the calibration accepts it and it
        clearly beats the unwarped query on the same asset. Kept apart from `_warped_match`
        so benchmarks can see the scores of rejected trials too."""
        if not state.audio:
            return []
        direct_votes = {c.asset_id: c.lm_votes for c in direct}
        found = warp.search_hypotheses(
            pcm, lambda q: coarse_audio(state, q), lambda q: search_audio(state, q), gate=self.warp_gate
        )
        trials: list[WarpTrial] = []
        for hypothesis, candidates in found:
            for c in candidates[:1]:
                floor = max(WARP_MIN_VOTES, WARP_GAIN * max(1, direct_votes.get(c.asset_id, 0)))
                stored = stored_chroma(state, c.asset_id)
                if c.lm_votes < floor or stored is None:
                    trials.append(WarpTrial(hypothesis, c, 0.0, False))
                    continue
                items = warp.restored_chroma(pcm, hypothesis)
                ber, overlap = bit_error_rate(items, stored, c.offset_s / ITEM_SECONDS, c.slope)
                verified = replace(c, cp_ber=ber, cp_overlap=overlap)
                score, ok = decide("audio", verified, self.calibration, voice=False)
                trials.append(WarpTrial(hypothesis, verified, score, ok and score >= WARP_MIN_SCORE))
        return trials

    def _audio_matches(
        self, state: IndexState, candidates: list[AudioCandidate], min_score: float = 0.0, min_votes: int = 0
    ) -> list[MediaMatch]:
        """The best audio candidates the calibration accepts (and that clear `min_score` and
        `min_votes`), as matches, best candidate first.

        The voice model (real voices in noise) is a fallback, never a competitor: it is asked
        only when the first model accepts no candidate, and its answer stands only when it
        names exactly one asset. Synthetic speech in one voice sharing template phrases makes
        it score other assets highly; a query whose source the first model found, or two
        assets it cannot tell apart, must not be named by it."""
        matches: list[MediaMatch] = []
        for c in candidates[:TOP_CANDIDATES]:
            score, ok = decide("audio", c, self.calibration, voice=False)
            if ok and score >= min_score and c.lm_votes >= min_votes:
                matches.append(self._as_match(state, c.asset_id, "audio", score, c.offset_s, "sound"))
        if matches:
            return matches
        rescued = [
            (c, score)
            for c in candidates[:TOP_CANDIDATES]
            for score, ok in [decide("audio", c, self.calibration)]
            if ok and score >= min_score and c.lm_votes >= min_votes
        ]
        if len({c.asset_id for c, _ in rescued}) == 1:
            c, score = rescued[0]
            matches.append(self._as_match(state, c.asset_id, "audio", score, c.offset_s, "sound"))
        return matches

    def _first_model_accepts(self, candidates: list[AudioCandidate]) -> bool:
        """Whether the first audio model (not the voice model) accepts one of the candidates
        `_audio_matches` weighs."""
        return any(decide("audio", c, self.calibration, voice=False)[1] for c in candidates[:TOP_CANDIDATES])

    def _sound_contradicts(
        self, state: IndexState, audio: AudioPrint | None, asset_id: str, candidates: list[AudioCandidate]
    ) -> bool:
        """True when the upload has a clear sound track and the asset's own sound is not in it.

        Frames alone cannot tell apart two videos made from the same picture source (screen
        recordings of one template, synthetic patterns); a different sound track can.
        """
        info = state.assets.get(asset_id)
        if info is None or not info.has_audio_print or audio is None:
            return False
        if audio.hashes.size < self.calibration.conflict_min_landmarks:
            return False
        mine = [c for c in candidates if c.asset_id == asset_id]
        if not mine:
            return True
        return decide("audio", mine[0], self.calibration)[0] < self.calibration.conflict_max_score

    @staticmethod
    def _as_match(
        state: IndexState, asset_id: str, kind: str, score: float, offset_s: float, method: str
    ) -> MediaMatch:
        info = state.assets.get(asset_id)
        return MediaMatch(
            asset_id=asset_id,
            path=info.path if info else "",
            kind=kind,
            score=round(score, 4),
            offset_s=round(offset_s, 2),
            method=method,
        )


def _named(matches: list[MediaMatch]) -> bool:
    """Whether one of `matches` names its asset (not only several equally likely ones)."""
    return any(m.path and not m.ambiguous for m in matches)


def _pictures_not_of(matches: list[MediaMatch], assets: set[str]) -> list[MediaMatch]:
    """`matches` without those that name one of `assets` from pictures (sound matches stay)."""
    return [m for m in matches if m.kind == "audio" or m.asset_id not in assets]


def _better(first: list[MediaMatch], second: list[MediaMatch]) -> list[MediaMatch]:
    """The later pass's answer when it names an asset or the first pass found nothing."""
    return second if _named(second) or not first else first


def _short_video(prints: MediaPrints) -> bool:
    """A video query too short for pHash's usual sampling to give SHORT_QUERY_FRAMES frames."""
    frames = prints.frames
    return prints.kind == "video" and frames is not None and 0 < frames.count < SHORT_QUERY_FRAMES


class _AudioProof:
    """The probe `fingerprint` offers a long query's sound to while decoding: a match beyond
    doubt on a prefix is a match of the upload, so the rest need not be decoded.

    The prefix is an excerpt of the upload, which is what the calibration is made of; the bar
    is set far above the decision threshold because a file may be probed a few times.
    """

    def __init__(self, service: MediaService, state: IndexState) -> None:
        self.service = service
        self.state = state
        self.match: MediaMatch | None = None
        self._lock = threading.Lock()  # the prefix and a second reader (`agent.media.split`) may both prove
        self.on_miss: Callable[[], None] | None = None  # a prefix probe found nothing

    def __call__(self, prefix: AudioPrint) -> bool:
        proven = self.excerpt(prefix, 0.0)
        if not proven and self.on_miss is not None:
            self.on_miss()
        return proven

    def excerpt(self, sound: AudioPrint, start_s: float) -> bool:
        """Offer the sound of an excerpt starting `start_s` seconds into the upload."""
        if sound.hashes.size < MIN_AUDIO_LANDMARKS:
            return False
        candidates = search_audio(self.state, sound)
        for match in self.service._audio_matches(self.state, candidates, PROOF_MIN_SCORE, PROOF_MIN_VOTES):
            if match.path:
                if start_s > 0:  # where in the asset the upload (not the excerpt) starts
                    match = replace(match, offset_s=round(max(0.0, match.offset_s - start_s), 2))
                with self._lock:
                    if self.match is None:
                        self.match = match
                return True
        return False

    def proven(self) -> bool:
        return self.match is not None


def _chroma_at(state: IndexState, asset_id: str, t: float) -> npt.NDArray[np.int8] | None:
    """The colour signature of the asset's sampled frame nearest `t`."""
    for segment in state.frames:
        if asset_id in segment.asset_ids:
            a = segment.asset_ids.index(asset_id)
            start, end = int(segment.base[a]), int(segment.base[a + 1])
            if end > start:
                k = start + int(np.argmin(np.abs(segment.times[start:end] - t)))
                return segment.chroma[k : k + 1]
    return None


def _duration(state: IndexState, asset_id: str) -> float:
    info = state.assets.get(asset_id)
    return info.duration_s if info else 0.0


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 2)
