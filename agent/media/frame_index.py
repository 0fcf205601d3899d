"""Finding enrolled pictures: multi-index hashing over 64-bit pHashes, colour checks, and
time-offset agreement between a query video's frames and an enrolled video's.

Each stored hash is filed under its four 16-bit quarters; a query hash within a few bits of a
stored one almost always shares a quarter with it (any hash within 3 bits certainly does), so
lookups touch only near neighbours. Candidate pairs are then checked on the full Hamming
distance and on the colour signature (a hue-rotated lookalike fails there).

A video query is recognised when several of its frames agree on one time offset into one
enrolled video (a lone similar frame is not enough: synthetic and screen content repeat).
A still image is compared frame by frame, with its crops, and must be close on more than
one scale.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agent.media import band as bandlib
from agent.media.fingerprint import FramePrint
from agent.media.frames import LAYOUT_CELLS, SCALES, chroma_agreement, layout_correlation
from agent.media.postings import InvertedLists, merge

KEY_BITS = 18
MAX_HAMMING = 14  # candidate pairs further apart than this are not considered
SCALE_CLOSE = 9  # a still image's scale is "close" to a frame within this many bits
PER_ASSET = 3  # frames per asset a still image is compared with in detail, from pHash ...
LAYOUT_TOP = 24  # ... and from the luminance layout scan
MIN_LAYOUT = 0.8
OFFSET_BIN_S = 0.25
STOP_FACTOR = 50.0
MIN_STOP = 500
BAND_PAIR_CORR = 0.85  # clear layout cells of a query picture and a stored one that may agree
BAND_AGREE_CORR = 0.95  # a query picture agrees with the video (its best cells, `band.TRIM`)
BAND_MIN_VOTES = 0.4  # share of query pictures the first pass must place near the offset
BAND_CHUNK = 1 << 16  # stored pictures compared at once (bounds the correlation matrix)
N_SCALES = len(SCALES)

I64Array = npt.NDArray[np.int64]


@dataclass(frozen=True)
class FrameCandidate:
    asset_id: str
    offset_s: float  # time in the enrolled video where the query starts (or the image's frame)
    agree: int  # query frames agreeing on the offset (images: scales close to the frame)
    query_frames: int
    mean_distance: float  # mean Hamming distance of the agreeing pairs
    best_distance: int
    chroma: float  # mean colour agreement of the agreeing pairs
    layout: float = 0.0  # luminance layout correlation with the frame(s) (-1..1)


def _row_correlation(a: npt.NDArray[np.int8], b: npt.NDArray[np.int8]) -> npt.NDArray[np.float64]:
    """Correlation of each row of `a` with the same row of `b`."""
    fa, fb = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(fa, axis=1) * np.linalg.norm(fb, axis=1)
    return np.asarray((fa * fb).sum(axis=1) / np.maximum(norms, 1e-9), dtype=np.float64)


def _quarters(hashes: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.uint32], I64Array]:
    """Keys (quarter index << 16 | quarter value) of each hash, and which hash each key is of."""
    n = hashes.size
    keys = np.empty(4 * n, dtype=np.uint32)
    for q in range(4):
        keys[q * n : (q + 1) * n] = ((hashes >> np.uint64(16 * q)) & np.uint64(0xFFFF)).astype(np.uint32) | np.uint32(
            q << 16
        )
    return keys, np.tile(np.arange(n, dtype=np.int64), 4)


@dataclass(frozen=True)
class FrameSegment:
    asset_ids: tuple[str, ...]
    alive: npt.NDArray[np.bool_]
    base: I64Array  # len(assets)+1: first frame of each asset
    times: npt.NDArray[np.float32]
    hashes: npt.NDArray[np.uint64]  # (frames, N_SCALES)
    chroma: npt.NDArray[np.int8]
    layout: npt.NDArray[np.int8]  # (frames, LAYOUT_CELLS)
    lists: InvertedLists  # position = frame * N_SCALES + scale

    @property
    def size(self) -> int:
        return int(self.times.size)

    @property
    def nbytes(self) -> int:
        arrays = (self.times, self.hashes, self.chroma, self.layout, self.base)
        return int(self.lists.nbytes + sum(a.nbytes for a in arrays))

    @property
    def mapped_nbytes(self) -> int:
        return self.lists.mapped_nbytes

    @classmethod
    def build(cls, assets: Sequence[tuple[str, FramePrint]]) -> FrameSegment:
        base = np.zeros(len(assets) + 1, dtype=np.int64)
        np.cumsum([p.count for _, p in assets], out=base[1:])
        times = np.concatenate([p.times for _, p in assets]) if assets else np.zeros(0, dtype=np.float32)
        hashes = np.concatenate([p.hashes for _, p in assets]) if assets else np.zeros((0, N_SCALES), dtype=np.uint64)
        chroma = np.concatenate([p.chroma for _, p in assets]) if assets else np.zeros((0, 32), dtype=np.int8)
        layout = np.concatenate([p.layout for _, p in assets]) if assets else np.zeros((0, LAYOUT_CELLS), dtype=np.int8)
        keys, which = _quarters(hashes.reshape(-1))
        return cls(
            asset_ids=tuple(a for a, _ in assets),
            alive=np.ones(len(assets), dtype=bool),
            base=base,
            times=times.astype(np.float32),
            hashes=hashes.astype(np.uint64),
            chroma=chroma.astype(np.int8),
            layout=layout.astype(np.int8),
            lists=InvertedLists.build(keys, which.astype(np.uint32), KEY_BITS),
        )

    @classmethod
    def merged(cls, parts: Sequence[FrameSegment]) -> FrameSegment:
        parts = [p.compacted() if not p.alive.all() else p for p in parts]
        base = [0]
        ids: list[str] = []
        lists: list[tuple[InvertedLists, int]] = []
        for part in parts:
            lists.append((part.lists, base[-1] * N_SCALES))
            ids.extend(part.asset_ids)
            base.extend((part.base[1:] + base[-1]).tolist())
        return cls(
            asset_ids=tuple(ids),
            alive=np.ones(len(ids), dtype=bool),
            base=np.array(base, dtype=np.int64),
            times=np.concatenate([p.times for p in parts]) if parts else np.zeros(0, dtype=np.float32),
            hashes=np.concatenate([p.hashes for p in parts]) if parts else np.zeros((0, N_SCALES), dtype=np.uint64),
            chroma=np.concatenate([p.chroma for p in parts]) if parts else np.zeros((0, 32), dtype=np.int8),
            layout=np.concatenate([p.layout for p in parts]) if parts else np.zeros((0, LAYOUT_CELLS), dtype=np.int8),
            lists=merge(lists, KEY_BITS),
        )

    def compacted(self) -> FrameSegment:
        keep = [
            (a, FramePrint(self.times[s:e], self.hashes[s:e], self.chroma[s:e], self.layout[s:e]))
            for a, s, e, ok in zip(self.asset_ids, self.base[:-1], self.base[1:], self.alive, strict=True)
            if ok
        ]
        return FrameSegment.build(keep)

    def without(self, asset_id: str) -> FrameSegment:
        if asset_id not in self.asset_ids:
            return self
        alive = self.alive.copy()
        alive[self.asset_ids.index(asset_id)] = False
        return FrameSegment(
            self.asset_ids, alive, self.base, self.times, self.hashes, self.chroma, self.layout, self.lists
        )

    def _pairs(
        self, query: FramePrint, min_chroma: float, max_distance: int
    ) -> tuple[I64Array, I64Array, I64Array, I64Array]:
        """(query frame, stored frame, owner asset, distance) for close, colour-compatible pairs,
        the smallest distance over all scale combinations."""
        empty = np.zeros(0, dtype=np.int64)
        if query.count == 0 or self.size == 0:
            return empty, empty, empty, empty
        flat = query.hashes.reshape(-1)
        keys, which = _quarters(flat)
        limit = max(MIN_STOP, int(STOP_FACTOR * self.lists.mean_list()))
        hits = self.lists.lookup(keys, limit)
        q_entry = which[hits.query_index]
        s_entry = hits.positions.astype(np.int64)
        pair = np.unique(q_entry * (self.size * N_SCALES + 1) + s_entry)
        q_entry, s_entry = pair // (self.size * N_SCALES + 1), pair % (self.size * N_SCALES + 1)
        dist = np.bitwise_count(flat[q_entry] ^ self.hashes.reshape(-1)[s_entry]).astype(np.int64)
        close = dist <= max_distance
        qf, sf, dist = q_entry[close] // N_SCALES, s_entry[close] // N_SCALES, dist[close]
        if qf.size == 0:
            return empty, empty, empty, empty
        # Smallest distance per (query frame, stored frame).
        key = qf * (self.size + 1) + sf
        order = np.lexsort((dist, key))
        key, dist = key[order], dist[order]
        first = np.ones(key.size, dtype=bool)
        first[1:] = key[1:] != key[:-1]
        key, dist = key[first], dist[first]
        qf, sf = key // (self.size + 1), key % (self.size + 1)
        owner = np.searchsorted(self.base, sf, side="right") - 1
        ok = self.alive[owner] & (chroma_agreement(query.chroma[qf], self.chroma[sf]) >= min_chroma)
        return qf[ok], sf[ok], owner[ok].astype(np.int64), dist[ok]

    def search_video(
        self, query: FramePrint, min_chroma: float, max_distance: int = MAX_HAMMING
    ) -> list[FrameCandidate]:
        qf, sf, owner, dist = self._pairs(query, min_chroma, max_distance)
        if qf.size == 0:
            return []
        offset = self.times[sf].astype(np.float64) - query.times[qf].astype(np.float64)
        bins = np.round(offset / OFFSET_BIN_S).astype(np.int64)
        # Each pair supports its own offset bin and both neighbours; per (asset, bin, query
        # frame) only the closest pair counts, then bins are ranked by summed closeness.
        span = int(bins.max() - bins.min()) + 3
        rep = np.repeat(np.arange(qf.size), 3)
        centre = bins[rep] + np.tile(np.array([-1, 0, 1]), qf.size) - int(bins.min()) + 1
        group = (owner[rep] * span + centre) * (query.count + 1) + qf[rep]
        order = np.lexsort((dist[rep], group))
        group, rep = group[order], rep[order]
        first = np.ones(group.size, dtype=bool)
        first[1:] = group[1:] != group[:-1]
        group, rep = group[first], rep[first]
        closeness = (max_distance + 1 - dist[rep]) / (max_distance + 1)
        cell = group // (query.count + 1)
        cells, inverse = np.unique(cell, return_inverse=True)
        strength = np.bincount(inverse, weights=closeness)
        votes = np.bincount(inverse)
        cell_owner = cells // span
        found: list[FrameCandidate] = []
        for a in np.unique(cell_owner):
            mine = np.flatnonzero(cell_owner == a)
            k = int(mine[np.argmax(strength[mine])])
            members = rep[inverse == k]
            colours = chroma_agreement(query.chroma[qf[members]], self.chroma[sf[members]])
            layouts = _row_correlation(query.layout[qf[members]], self.layout[sf[members]])
            best_bin = int(cells[k] % span) + int(bins.min()) - 1
            found.append(
                FrameCandidate(
                    asset_id=self.asset_ids[a],
                    offset_s=max(0.0, best_bin * OFFSET_BIN_S),
                    agree=int(votes[k]),
                    query_frames=query.count,
                    mean_distance=float(dist[members].mean()),
                    best_distance=int(dist[members].min()),
                    chroma=float(colours.mean()),
                    layout=float(layouts.mean()),
                )
            )
        return found

    @functools.cached_property
    def smooth_rows(self) -> I64Array:
        """The stored pictures whose layout is smooth (`band.smooth_layouts`): the only ones a
        crop hypothesis is searched in (most clinical video has texture)."""
        return np.flatnonzero(bandlib.smooth_layouts(self.layout)).astype(np.int64)

    def search_view(self, view: bandlib.PartialView) -> list[bandlib.BandCandidate]:
        """Per enrolled video, the time offset most of the query's pictures agree on when they
        are compared with what `view` says they show of the stored pictures (correlation >=
        BAND_PAIR_CORR), with how well those pictures agree there in layout and in colour
        (`_view_agreement`)."""
        if view.count == 0 or self.size == 0:
            return []
        q = bandlib.unit_rows(view.layout)
        rows = self.smooth_rows if view.smooth_only else np.arange(self.size, dtype=np.int64)
        if rows.size == 0:
            return []
        pairs: list[tuple[I64Array, I64Array, npt.NDArray[np.float32]]] = []
        for start in range(0, rows.size, BAND_CHUNK):
            chunk = rows[start : start + BAND_CHUNK]
            stored = bandlib.unit_rows(self.layout[chunk].astype(np.float32) @ view.layout_map.T)
            corr = q @ stored.T
            qi, si = np.nonzero(corr >= BAND_PAIR_CORR)
            pairs.append((qi.astype(np.int64), chunk[si], corr[qi, si]))
        qf = np.concatenate([p[0] for p in pairs])
        sf = np.concatenate([p[1] for p in pairs])
        corr_of = np.concatenate([p[2] for p in pairs])
        owner = np.searchsorted(self.base, sf, side="right") - 1
        keep = self.alive[owner]
        qf, sf, corr_of, owner = qf[keep], sf[keep], corr_of[keep], owner[keep]
        found: list[bandlib.BandCandidate] = []
        for a in np.unique(owner):
            mine = owner == a
            aq, asf, ac = qf[mine], sf[mine], corr_of[mine]
            bins = np.round((self.times[asf].astype(np.float64) - view.times[aq]) / OFFSET_BIN_S).astype(np.int64)
            # A smooth video changes slowly: many offsets collect a vote from every query
            # picture. The offset is the one whose pictures correlate best, summed per picture.
            best_bin, best_weight = 0, -1.0
            for b in np.unique(bins):
                window = np.abs(bins - b) <= 1
                per_picture = np.zeros(view.count, dtype=np.float64)
                np.maximum.at(per_picture, aq[window], ac[window])
                if (weight := float(per_picture.sum())) > best_weight:
                    best_bin, best_weight = int(b), weight
            if np.unique(aq[np.abs(bins - best_bin) <= 1]).size < BAND_MIN_VOTES * view.count:
                continue  # too few pictures even come close: no trimming will make it agree
            found.append(self._view_agreement(int(a), best_bin * OFFSET_BIN_S, view, q))
        return found

    def agreement_at(self, asset_id: str, offset_s: float, view: bandlib.PartialView) -> bandlib.BandCandidate | None:
        """`_view_agreement` for one asset at a known offset (None: not in this segment)."""
        if asset_id not in self.asset_ids:
            return None
        a = self.asset_ids.index(asset_id)
        if not self.alive[a] or view.count == 0:
            return None
        return self._view_agreement(a, offset_s, view, bandlib.unit_rows(view.layout))

    def _view_agreement(
        self, asset: int, offset_s: float, view: bandlib.PartialView, q: npt.NDArray[np.float32]
    ) -> bandlib.BandCandidate:
        """How every query picture agrees with `asset` at `offset_s`: its best stored picture
        near that time (or blend of two neighbours), with the most disagreeing cells left
        out (`band.between_samples`). Pictures a logo spoils past the first pass's bar count
        here if what is left agrees."""
        low, high = int(self.base[asset]), int(self.base[asset + 1])
        times = self.times[low:high].astype(np.float64)
        agreement: list[tuple[float, float]] = []
        for i in range(view.count):
            near = np.flatnonzero(np.abs(times - (float(view.times[i]) + offset_s)) <= 1.5 * OFFSET_BIN_S) + low
            if near.size == 0:
                continue
            mapped = self.layout[near].astype(np.float32) @ view.layout_map.T
            j = int(near[np.argmax(bandlib.unit_rows(mapped) @ q[i])])
            rows = slice(max(low, j - 1), min(high, j + 2))
            agreement.append(
                bandlib.between_samples(
                    q[i],
                    view.chroma[i],
                    self.layout[rows].astype(np.float32) @ view.layout_map.T,
                    self.chroma[rows].astype(np.float32) @ view.chroma_map.T,
                )
            )
        agreeing = [a for a in agreement if a[0] >= BAND_AGREE_CORR]
        return bandlib.BandCandidate(
            asset_id=self.asset_ids[asset],
            offset_s=max(0.0, offset_s),
            # Colour per picture, not only in the median: a ramp from another colour to the
            # same dark blue agrees while the blue fills the view, and only then.
            agree=sum(1 for a in agreeing if a[1] <= bandlib.MAX_CHROMA_RMS),
            layout_agree=len(agreeing),
            query_frames=view.count,
            layout=float(np.median([a[0] for a in agreeing])) if agreeing else 0.0,
            chroma_rms=float(np.median([a[1] for a in agreeing])) if agreeing else float("inf"),
            view=view.name,
        )

    def search_image(
        self, query: FramePrint, min_chroma: float, max_distance: int = MAX_HAMMING
    ) -> list[FrameCandidate]:
        """Candidate frames for a still picture, a few per asset: the frames pHash finds, and
        the frames whose luminance layout correlates best (smooth pictures, where pHash bits
        are unreliable). Each carries the features the image model scores; the service keeps
        the best-scoring frame of each asset."""
        if query.count == 0 or self.size == 0:
            return []
        _qf, sf, owner, dist = self._pairs(query, min_chroma, max_distance)
        frames: set[int] = set()
        for a in np.unique(owner):
            mine = np.flatnonzero(owner == a)
            frames.update(int(f) for f in sf[mine[np.argsort(dist[mine], kind="stable")[:PER_ASSET]]])
        corr = layout_correlation(query.layout[0], self.layout)
        alive = self.alive[np.searchsorted(self.base, np.arange(self.size), side="right") - 1]
        ranked = np.argsort(-np.where(alive, corr, -2.0), kind="stable")[:LAYOUT_TOP]
        ranked = ranked[corr[ranked] >= MIN_LAYOUT]
        colours = chroma_agreement(np.repeat(query.chroma[:1], ranked.size, axis=0), self.chroma[ranked])
        frames.update(int(f) for f in ranked[colours >= min_chroma])
        found: list[FrameCandidate] = []
        flat_q = query.hashes[0]
        for frame in sorted(frames):
            a = int(np.searchsorted(self.base, frame, side="right") - 1)
            # Per query scale, the closest scale of this frame or its neighbours.
            nearby = np.arange(max(int(self.base[a]), frame - 1), min(int(self.base[a + 1]), frame + 2))
            grid = np.bitwise_count(flat_q[:, None, None] ^ self.hashes[nearby][None, :, :])
            per_scale = grid.reshape(N_SCALES, -1).min(axis=1)
            colour = float(chroma_agreement(query.chroma[:1], self.chroma[frame : frame + 1])[0])
            found.append(
                FrameCandidate(
                    asset_id=self.asset_ids[a],
                    offset_s=float(self.times[frame]),
                    agree=int((per_scale <= SCALE_CLOSE).sum()),
                    query_frames=1,
                    mean_distance=float(per_scale.mean()),
                    best_distance=int(per_scale.min()),
                    chroma=colour,
                    layout=float(corr[frame]),
                )
            )
        return found


def rank(candidates: list[FrameCandidate]) -> list[FrameCandidate]:
    """Best first: most agreeing frames (or close scales), then the closest."""
    return sorted(candidates, key=lambda c: (c.agree, -c.mean_distance), reverse=True)
