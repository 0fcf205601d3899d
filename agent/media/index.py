"""The in-memory index of every enrolled print: audio segments and picture segments.

Readers never lock: they take the current `IndexState` (an immutable snapshot) and search
it. Writers (enrolment, refresh, forget) build a new state and swap it in under a lock.
Added assets go into a new small segment; segments merge when a newer one grows to half the
size of the one before it, so there are O(log n) segments and each entry is re-sorted
O(log n) times over the life of the index (a log-structured merge, as in search engines).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from agent.media.audio_index import AudioCandidate, AudioSegment
from agent.media.audio_index import rank as rank_audio
from agent.media.band import BandCandidate, BandPrint, PartialView
from agent.media.fingerprint import AudioPrint, FramePrint
from agent.media.frame_index import MAX_HAMMING, FrameCandidate, FrameSegment
from agent.media.frame_index import rank as rank_frames

if TYPE_CHECKING:
    from agent.media.segfile import SegmentFiles

MAX_SEGMENTS = 12


@dataclass(frozen=True)
class AssetInfo:
    asset_id: str
    kind: str  # "audio" | "video" | "image"
    path: str
    duration_s: float
    has_audio_print: bool
    has_frame_print: bool


@dataclass(frozen=True)
class IndexState:
    assets: dict[str, AssetInfo] = field(default_factory=dict)
    audio: tuple[AudioSegment, ...] = ()
    frames: tuple[FrameSegment, ...] = ()

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.audio) + sum(s.nbytes for s in self.frames)

    @property
    def mapped_nbytes(self) -> int:
        """The part of `nbytes` kept in memory-mapped files (`spill`), not on the heap."""
        return sum(s.mapped_nbytes for s in self.audio) + sum(s.mapped_nbytes for s in self.frames)


def _compact[S: (AudioSegment, FrameSegment)](segments: list[S], merge: type[S]) -> list[S]:
    while len(segments) >= 2 and (2 * segments[-1].size >= segments[-2].size or len(segments) > MAX_SEGMENTS):
        last, before = segments.pop(), segments.pop()
        segments.append(merge.merged([before, last]))
    return segments


class MediaIndex:
    """Thread-safe holder of the current IndexState. With `files`, every new audio segment is
    written to disk and used mapped from there (`segfile`): restarts restore instead of
    rebuilding, and the big arrays stay off the heap."""

    def __init__(self, files: SegmentFiles | None = None) -> None:
        self._state = IndexState()
        self._write = threading.Lock()
        self.files = files

    def adopt(self, segments: Sequence[AudioSegment]) -> None:
        """Start from audio segments restored from their files (before any `add`); their
        assets are registered by the `add` that brings their infos (without audio prints)."""
        with self._write:
            self._state = replace(self._state, audio=tuple(segments) + self._state.audio)

    @property
    def state(self) -> IndexState:
        return self._state

    def __contains__(self, asset_id: str) -> bool:
        return asset_id in self._state.assets

    def add(
        self,
        entries: Sequence[tuple[AssetInfo, AudioPrint | None, FramePrint | None]],
    ) -> int:
        """Add assets (ignoring ones already present); returns how many were added."""
        with self._write:
            state = self._state
            fresh = [e for e in entries if e[0].asset_id not in state.assets]
            if not fresh:
                return 0
            audio = [(info.asset_id, a) for info, a, _ in fresh if a is not None]
            frames = [(info.asset_id, f) for info, _, f in fresh if f is not None and f.count]
            audio_segments = list(state.audio)
            frame_segments = list(state.frames)
            if audio:
                audio_segments.append(AudioSegment.build(audio))
                audio_segments = _compact(audio_segments, AudioSegment)
                if self.files is not None:
                    audio_segments = self._persist(state.audio, audio_segments)
            if frames:
                frame_segments.append(FrameSegment.build(frames))
                frame_segments = _compact(frame_segments, FrameSegment)
            assets = dict(state.assets)
            for info, _, _ in fresh:
                assets[info.asset_id] = info
            self._state = IndexState(assets=assets, audio=tuple(audio_segments), frames=tuple(frame_segments))
            return len(fresh)

    def _persist(self, before: Sequence[AudioSegment], after: list[AudioSegment]) -> list[AudioSegment]:
        """Write the segments that are new in `after`, delete the files of those merged away."""
        assert self.files is not None
        old = {id(s) for s in before}
        kept = [s if id(s) in old else self.files.keep(s) for s in after]
        names = {s.asset_ids for s in kept}
        self.files.drop(s for s in before if s.asset_ids not in names)
        return kept

    def remove(self, asset_ids: Sequence[str]) -> int:
        with self._write:
            state = self._state
            gone = [a for a in asset_ids if a in state.assets]
            if not gone:
                return 0
            audio, frames = list(state.audio), list(state.frames)
            for asset_id in gone:
                audio = [s.without(asset_id) for s in audio]
                frames = [s.without(asset_id) for s in frames]
            assets = {k: v for k, v in state.assets.items() if k not in gone}
            self._state = replace(state, assets=assets, audio=tuple(audio), frames=tuple(frames))
            return len(gone)


def search_audio(state: IndexState, query: AudioPrint) -> list[AudioCandidate]:
    found: list[AudioCandidate] = []
    for segment in state.audio:
        found.extend(segment.search(query))
    return rank_audio(found)


def search_video(
    state: IndexState, query: FramePrint, min_chroma: float, max_distance: int = MAX_HAMMING
) -> list[FrameCandidate]:
    found: list[FrameCandidate] = []
    for segment in state.frames:
        found.extend(segment.search_video(query, min_chroma, max_distance))
    return rank_frames(found)


def search_view(state: IndexState, view: PartialView) -> list[BandCandidate]:
    """Every segment's `FrameSegment.search_view` candidates, most agreeing pictures first."""
    found = [c for segment in state.frames for c in segment.search_view(view)]
    return sorted(found, key=lambda c: (c.agree, c.layout), reverse=True)


def agreement_at(state: IndexState, asset_id: str, offset_s: float, view: PartialView) -> BandCandidate | None:
    """How `view` agrees with one enrolled video at `offset_s` (`FrameSegment.agreement_at`)."""
    for segment in state.frames:
        found = segment.agreement_at(asset_id, offset_s, view)
        if found is not None:
            return found
    return None


def search_band(state: IndexState, query: BandPrint) -> list[BandCandidate]:
    """`search_view` of the rows a query's band leaves (its pictures thinned)."""
    return search_view(state, query.thinned().view())


def search_image(
    state: IndexState, query: FramePrint, min_chroma: float, max_distance: int = MAX_HAMMING
) -> list[FrameCandidate]:
    found: list[FrameCandidate] = []
    for segment in state.frames:
        found.extend(segment.search_image(query, min_chroma, max_distance))
    return rank_frames(found)


def coarse_audio(state: IndexState, query: AudioPrint) -> tuple[str, int] | None:
    """The asset with the most landmark hits in one coarse offset bin, and that count
    (`AudioSegment.coarse_best` over every segment): the cheap score of warp hypotheses."""
    found = [best for segment in state.audio if (best := segment.coarse_best(query)) is not None]
    return max(found, key=lambda b: b[1]) if found else None


def stored_chroma(state: IndexState, asset_id: str) -> npt.NDArray[np.uint32] | None:
    """The enrolled Chromaprint items of one asset (for verifying a warped match)."""
    for segment in state.audio:
        if asset_id in segment.asset_ids:
            a = segment.asset_ids.index(asset_id)
            if segment.alive[a]:
                return segment.cp_items[segment.cp_base[a] : segment.cp_base[a + 1]]
    return None
