"""Finding an excerpt anywhere inside any enrolled recording: inverted lists over landmark
hashes and chromaprint half-items, offset voting, then per-candidate verification.

Search, for one query print, never scans the recordings:
1. Look up every query landmark hash; each hit says "this hash was at frame T of asset A".
   Vote on (asset, coarse offset T - t) in 0.37 s bins, so a few percent of tempo change does
   not scatter the votes. The same over chromaprint items split into 16-bit halves (a half
   survives bit errors a whole item does not), in 0.5 s bins.
2. For the best few assets, fit the time line db_time = slope * query_time + offset by a
   Hough vote over slopes 0.95..1.05, which recovers a tempo change and the exact offset.
3. Verify on that line: aligned landmark votes, how much of the query they cover, and the
   chromaprint bit-error rate over the aligned overlap. These are the decision features.

Very common keys (silence, hum) are skipped by a stop-list limit relative to the mean list
length. Lists live in immutable segments; new enrolments add a segment and segments merge
like a log-structured tree, so lookups never wait for a writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agent.media import landmarks, spill
from agent.media.chroma import ITEM_SECONDS
from agent.media.fingerprint import AudioPrint
from agent.media.postings import InvertedLists, merge

LM_KEY_BITS = landmarks.HASH_BITS
CP_KEY_BITS = 17
FRAME_S = landmarks.FRAME_SECONDS
FRAMES_PER_S = 1.0 / FRAME_S
COARSE_LM_BIN = 16  # frames
COARSE_CP_BIN = 4  # items
SLOPES = np.round(np.arange(0.95, 1.0501, 0.005), 4)
SLOPE_ORDER = sorted(range(SLOPES.size), key=lambda j: abs(float(SLOPES[j]) - 1.0))  # 1.0 first
SLOPE_MARGIN = 1.03
FINE_TOLERANCE = 2  # frames either side of the fitted line
MAX_CANDIDATES = 6
STOP_FACTOR = 8.0  # skip lists longer than this many times the mean list length
MIN_STOP = 2000
OFFSET_PAD = 1 << 30

I64Array = npt.NDArray[np.int64]
U32Array = npt.NDArray[np.uint32]


@dataclass(frozen=True)
class AudioCandidate:
    """An asset that may contain the query, with the features the decision is made on."""

    asset_id: str
    offset_s: float
    slope: float
    lm_votes: int  # query landmarks on the fitted line
    lm_total: int  # query landmarks
    lm_coverage: float  # share of the query's seconds with landmarks that have a vote
    cp_ber: float  # chromaprint bit-error rate on the line (0.5 = unrelated), 0.5 if unknown
    cp_overlap: int  # aligned chromaprint items
    query_s: float


def half_keys(items: U32Array) -> tuple[U32Array, I64Array]:
    """Chromaprint items as 17-bit keys: low half, and high half with bit 16 set."""
    low = (items & np.uint32(0xFFFF)).astype(np.uint32)
    high = ((items >> np.uint32(16)) | np.uint32(0x10000)).astype(np.uint32)
    index = np.arange(items.size, dtype=np.int64)
    return np.concatenate([low, high]), np.concatenate([index, index])


def _popcount(x: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint8]:
    return np.bitwise_count(x)


def bit_error_rate(query: U32Array, stored: U32Array, start: float, slope: float) -> tuple[float, int]:
    """BER of query items against stored items on the line j = start + slope * i (best of +/-2)."""
    if query.size == 0 or stored.size == 0:
        return 0.5, 0
    best = (0.5, 0)
    i = np.arange(query.size)
    for shift in (-2, -1, 0, 1, 2):
        j = np.round(start + shift + slope * i).astype(np.int64)
        ok = (j >= 0) & (j < stored.size)
        n = int(ok.sum())
        if n < 2:
            continue
        ber = float(_popcount(query[ok] ^ stored[j[ok]]).sum()) / (32.0 * n)
        if ber < best[0] or best[1] == 0:
            best = (ber, n)
    return best


def _stop_limit(lists: InvertedLists) -> int:
    return max(MIN_STOP, int(STOP_FACTOR * lists.mean_list()))


class _Runs:
    """Sorted (bin << 32 | position) keys grouped by bin: where each bin's run starts, its bin,
    and its score (its votes plus the next bin's when that one is adjacent)."""

    def __init__(self, keys: I64Array) -> None:
        self.keys = keys
        bins = keys >> 32
        starts = np.flatnonzero(bins[1:] != bins[:-1]) + 1
        self.starts = np.concatenate(([0], starts, [keys.size]))
        self.values = bins[self.starts[:-1]]
        counts = np.diff(self.starts)
        self.adjacent = np.zeros(self.values.size, dtype=bool)
        self.adjacent[:-1] = self.values[1:] == self.values[:-1] + 1
        self.score = counts.copy()
        self.score[self.adjacent] += counts[1:][self.adjacent[:-1]]


def _best_assets(
    offsets: I64Array,
    positions: I64Array,
    bin_width: int,
    base: I64Array,
    alive: npt.NDArray[np.bool_],
    limit: int,
) -> list[int]:
    """Assets owning the most-voted coarse offset bins, best first.

    `offsets` are hit times minus query times on the segment's global time line, so voting
    needs no per-hit asset lookup. A bin's owner is found afterwards, for the few best bins,
    from where its hits are (`positions`, on the same time line): the offset alone does not
    say, because an excerpt that starts later in the query than in the recording has a
    negative offset, which lands in the time line of an asset enrolled before it.
    A bin's score adds the next bin's votes (a match straddling a bin edge counts once);
    equal scores rank the earlier bin first.

    Bin and position go into one int64 (bin above bit 32, position below), so a single sort
    orders the votes and leaves each bin's hit positions side by side: finding the owners of
    the best bins reads a few slices instead of searching every hit (at 1,000 h a 10 s query
    has hundreds of thousands of hits; this is most of a search's time).
    """
    if offsets.size == 0:
        return []
    shift = bin_width.bit_length() - 1
    if 1 << shift != bin_width:
        raise ValueError("coarse bin widths are powers of two")
    keys = np.sort(((offsets >> shift) << 32) | positions)
    # Almost every bin of a big index holds one stray hit. Only hits with a neighbour in their
    # own or the next bin can score 2 or more, and every hit of such a bin and of its next bin
    # has one, so ranking those alone is exact whenever they give `keep` bins of score >= 2.
    keep = limit * 8
    near = np.diff(keys >> 32) <= 1
    crowded = np.zeros(keys.size, dtype=bool)
    crowded[:-1] = near
    crowded[1:] |= near
    few = keys[crowded]
    runs = _Runs(few) if few.size else None
    if runs is None or int(np.count_nonzero(runs.score >= 2)) < keep:
        runs = _Runs(keys)
    keys, starts, values, score, adjacent = runs.keys, runs.starts, runs.values, runs.score, runs.adjacent
    keep = min(score.size, keep)
    top = np.argpartition(-score, keep - 1)[:keep]
    top = top[np.lexsort((values[top], -score[top]))]
    chosen: list[int] = []
    for run in top.tolist():
        # This bin's hits and, when the next bin is adjacent, its hits too (as scored).
        end = starts[run + 2] if adjacent[run] else starts[run + 1]
        hit_positions = keys[starts[run] : end] & np.int64(0xFFFFFFFF)
        owners = np.searchsorted(base, hit_positions, side="right") - 1
        owners = owners[(owners >= 0) & (owners < alive.size)]
        if owners.size == 0:
            continue
        owner = int(np.argmax(np.bincount(owners)))
        if alive[owner] and owner not in chosen:
            chosen.append(owner)
            if len(chosen) == limit:
                break
    return chosen


def _slope_votes(tq: I64Array, td: I64Array) -> tuple[list[int], list[int]]:
    """For every slope of SLOPES at once: the votes of the best window of 4 consecutive
    offsets td - slope * tq (two 2-frame cells), and that window's first offset.

    The earliest best window wins. One pass over a (slopes x hits) array instead of a loop
    over slopes: most candidates are a handful of stray hits, where a per-slope loop's
    overhead, not the counting, was the cost."""
    off = np.rint(td[None, :] - SLOPES[:, None] * tq[None, :]).astype(np.int64)
    lo = off.min(axis=1)
    cells = np.sort((off - lo[:, None]) // 2, axis=1)
    # Rows laid end to end, apart by more than a window, so one search counts every row.
    row_gap = int(cells[:, -1].max()) + 3
    flat = (cells + (np.arange(SLOPES.size, dtype=np.int64) * row_gap)[:, None]).ravel()
    in_window = (np.searchsorted(flat, flat + 2) - np.searchsorted(flat, flat)).reshape(cells.shape)
    rows = np.arange(SLOPES.size)
    best = np.argmax(in_window, axis=1)
    return in_window[rows, best].tolist(), (lo + 2 * cells[rows, best]).tolist()


def _fit_line(tq: I64Array, td: I64Array, qi: I64Array) -> tuple[float, float, npt.NDArray[np.bool_]]:
    """Hough vote over SLOPES for td = slope * tq + offset; returns slope, offset, inlier mask."""
    best_slope, best_start, best_votes = 1.0, 0, -1
    votes_at, start_at = _slope_votes(tq, td)
    for j in SLOPE_ORDER:
        votes = votes_at[j]
        # A tempo change must earn its votes: nearby slopes share most inliers on a short
        # query, so a plain copy (slope 1, tried first) keeps ties and near-ties.
        if votes > best_votes * SLOPE_MARGIN + 1 or best_votes < 0:
            best_slope, best_start, best_votes = float(SLOPES[j]), start_at[j], votes
    off = np.rint(td - best_slope * tq).astype(np.int64)
    window = (off >= best_start) & (off < best_start + 4)
    best_offset = float(np.median(off[window])) if window.any() else float(best_start + 1)
    inliers = np.abs(td - (best_slope * tq + best_offset)) <= FINE_TOLERANCE
    # One vote per query landmark.
    _, first = np.unique(qi[inliers], return_index=True)
    mask = np.zeros(tq.size, dtype=bool)
    mask[np.flatnonzero(inliers)[first]] = True
    return best_slope, best_offset, mask


@dataclass(frozen=True)
class AudioSegment:
    """An immutable index over some assets' audio prints."""

    asset_ids: tuple[str, ...]
    alive: npt.NDArray[np.bool_]
    lm_base: I64Array  # len(assets) + 1: where each asset's frames start in this segment's time line
    lm: InvertedLists
    cp_base: I64Array
    cp_items: U32Array
    cp: InvertedLists

    @property
    def size(self) -> int:
        return self.lm.size

    @property
    def nbytes(self) -> int:
        return int(self.lm.nbytes + self.cp.nbytes + self.cp_items.nbytes + self.lm_base.nbytes + self.cp_base.nbytes)

    @property
    def mapped_nbytes(self) -> int:
        """The part of `nbytes` in mapped files (`spill`): gap streams and verification items."""
        return self.lm.mapped_nbytes + self.cp.mapped_nbytes + spill.mapped_nbytes(self.cp_items)

    @classmethod
    def build(cls, assets: Sequence[tuple[str, AudioPrint]]) -> AudioSegment:
        lm_lengths = [int(p.times.max()) + 1 if p.times.size else 0 for _, p in assets]
        cp_lengths = [int(p.chroma.size) for _, p in assets]
        lm_base = np.zeros(len(assets) + 1, dtype=np.int64)
        np.cumsum(lm_lengths, out=lm_base[1:])
        cp_base = np.zeros(len(assets) + 1, dtype=np.int64)
        np.cumsum(cp_lengths, out=cp_base[1:])
        if lm_base[-1] >= 1 << 32 or cp_base[-1] >= 1 << 32:
            raise OverflowError("audio segment time line exceeds 32 bits")
        lm_keys = [p.hashes for _, p in assets]
        lm_pos = [(p.times.astype(np.int64) + lm_base[i]).astype(np.uint32) for i, (_, p) in enumerate(assets)]
        cp_items = np.concatenate([p.chroma for _, p in assets]) if assets else np.zeros(0, dtype=np.uint32)
        cp_keys, cp_pos = half_keys(cp_items.astype(np.uint32))
        return cls(
            asset_ids=tuple(a for a, _ in assets),
            alive=np.ones(len(assets), dtype=bool),
            lm_base=lm_base,
            lm=InvertedLists.build(
                np.concatenate(lm_keys) if lm_keys else np.zeros(0, dtype=np.uint32),
                np.concatenate(lm_pos) if lm_pos else np.zeros(0, dtype=np.uint32),
                LM_KEY_BITS,
            ),
            cp_base=cp_base,
            cp_items=spill.spill(cp_items.astype(np.uint32)),
            cp=InvertedLists.build(cp_keys, cp_pos.astype(np.uint32), CP_KEY_BITS),
        )

    @classmethod
    def merged(cls, parts: Sequence[AudioSegment]) -> AudioSegment:
        """One segment from several, dropping forgotten assets."""
        kept_ids: list[str] = []
        lm_base = [0]
        cp_base = [0]
        lm_lists: list[tuple[InvertedLists, int]] = []
        cp_lists: list[tuple[InvertedLists, int]] = []
        items: list[U32Array] = []
        for part in parts:
            part = part.compacted() if not part.alive.all() else part
            lm_lists.append((part.lm, lm_base[-1]))
            cp_lists.append((part.cp, cp_base[-1]))
            items.append(part.cp_items)
            kept_ids.extend(part.asset_ids)
            lm_base.extend((part.lm_base[1:] + lm_base[-1]).tolist())
            cp_base.extend((part.cp_base[1:] + cp_base[-1]).tolist())
        if lm_base[-1] >= 1 << 32 or cp_base[-1] >= 1 << 32:
            raise OverflowError("audio segment time line exceeds 32 bits")
        return cls(
            asset_ids=tuple(kept_ids),
            alive=np.ones(len(kept_ids), dtype=bool),
            lm_base=np.array(lm_base, dtype=np.int64),
            lm=merge(lm_lists, LM_KEY_BITS),
            cp_base=np.array(cp_base, dtype=np.int64),
            cp_items=spill.spill(np.concatenate(items) if items else np.zeros(0, dtype=np.uint32)),
            cp=merge(cp_lists, CP_KEY_BITS),
        )

    def compacted(self) -> AudioSegment:
        """This segment without its forgotten assets (time lines re-based)."""
        keep = np.flatnonzero(self.alive)
        lm_keys, lm_pos = self.lm.entries()
        cp_keys, cp_pos = self.cp.entries()
        new_lm_base, lm_map = _rebase(self.lm_base, keep)
        new_cp_base, cp_map = _rebase(self.cp_base, keep)
        lm_owner = np.searchsorted(self.lm_base, lm_pos, side="right") - 1
        cp_owner = np.searchsorted(self.cp_base, cp_pos, side="right") - 1
        lm_ok = self.alive[lm_owner]
        cp_ok = self.alive[cp_owner]
        items = (
            np.concatenate([self.cp_items[self.cp_base[i] : self.cp_base[i + 1]] for i in keep])
            if keep.size
            else np.zeros(0, dtype=np.uint32)
        )
        return AudioSegment(
            asset_ids=tuple(self.asset_ids[i] for i in keep),
            alive=np.ones(keep.size, dtype=bool),
            lm_base=new_lm_base,
            lm=InvertedLists.build(
                lm_keys[lm_ok],
                (lm_pos[lm_ok].astype(np.int64) + lm_map[lm_owner[lm_ok]]).astype(np.uint32),
                LM_KEY_BITS,
            ),
            cp_base=new_cp_base,
            cp_items=spill.spill(items.astype(np.uint32)),
            cp=InvertedLists.build(
                cp_keys[cp_ok],
                (cp_pos[cp_ok].astype(np.int64) + cp_map[cp_owner[cp_ok]]).astype(np.uint32),
                CP_KEY_BITS,
            ),
        )

    def without(self, asset_id: str) -> AudioSegment:
        if asset_id not in self.asset_ids:
            return self
        alive = self.alive.copy()
        alive[self.asset_ids.index(asset_id)] = False
        return AudioSegment(self.asset_ids, alive, self.lm_base, self.lm, self.cp_base, self.cp_items, self.cp)

    def coarse_best(self, query: AudioPrint) -> tuple[str, int] | None:
        """The asset whose most-voted coarse offset bin (with its upper neighbour) has the
        most landmark hits, and that vote count: a cheap score for warp hypotheses, without
        line fits or chromaprint."""
        if query.hashes.size == 0:
            return None
        hits = self.lm.lookup(query.hashes, _stop_limit(self.lm))
        if hits.size == 0:
            return None
        positions = hits.positions.astype(np.int64)
        bins = (positions - query.times[hits.query_index].astype(np.int64) + OFFSET_PAD) // COARSE_LM_BIN
        owners = np.searchsorted(self.lm_base, positions, side="right") - 1
        alive = self.alive[np.clip(owners, 0, self.alive.size - 1)]
        # One key per (owner, bin): owners are few, so the pair fits an int64.
        keys = np.sort((owners[alive] << 40) | bins[alive])
        if keys.size == 0:
            return None
        starts = np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1))
        values = keys[starts]
        counts = np.diff(np.append(starts, keys.size))
        score = counts.copy()
        adjacent = values[1:] == values[:-1] + 1
        score[:-1][adjacent] += counts[1:][adjacent]
        k = int(np.argmax(score))
        return self.asset_ids[int(values[k] >> 40)], int(score[k])

    def search(self, query: AudioPrint) -> list[AudioCandidate]:
        """Candidates in this segment, best first, with their verification features."""
        if query.hashes.size == 0 and query.chroma.size == 0:
            return []
        q_total = int(query.hashes.size)
        # Landmarks: coarse votes.
        hits = self.lm.lookup(query.hashes, _stop_limit(self.lm))
        positions = hits.positions.astype(np.int64)
        qi = hits.query_index
        tq_all = query.times[qi].astype(np.int64)
        chosen = _best_assets(
            positions - tq_all + OFFSET_PAD, positions, COARSE_LM_BIN, self.lm_base, self.alive, MAX_CANDIDATES
        )
        # Chromaprint: coarse votes.
        if query.chroma.size:
            q_keys, q_index = half_keys(query.chroma)
            chits = self.cp.lookup(q_keys, _stop_limit(self.cp))
            c_positions = chits.positions.astype(np.int64)
            c_offsets = c_positions - q_index[chits.query_index] + OFFSET_PAD
            for a in _best_assets(c_offsets, c_positions, COARSE_CP_BIN, self.cp_base, self.alive, 3):
                if a not in chosen:
                    chosen.append(a)
        seconds = np.unique(query.times // round(FRAMES_PER_S)) if q_total else np.zeros(0)
        found: list[AudioCandidate] = []
        for a in chosen:
            # Hits inside this asset's time line, in one unsigned compare (positions < 2^32).
            lo, span = int(self.lm_base[a]), int(self.lm_base[a + 1] - self.lm_base[a])
            mine = (hits.positions - np.uint32(lo)) < np.uint32(span)
            slope, offset, inliers = 1.0, 0.0, np.zeros(0, dtype=bool)
            votes = 0
            coverage = 0.0
            if mine.any():
                tq = tq_all[mine]
                slope, offset, inliers = _fit_line(tq, positions[mine] - self.lm_base[a], qi[mine])
                votes = int(inliers.sum())
                if seconds.size:
                    covered = np.unique(tq[inliers] // round(FRAMES_PER_S))
                    coverage = covered.size / seconds.size
            items = self.cp_items[self.cp_base[a] : self.cp_base[a + 1]]
            if votes >= 3 or not mine.any():
                start_items = offset * FRAME_S / ITEM_SECONDS
                if votes < 3:  # chromaprint-only candidate: take its own offset
                    start_items = self._chroma_offset(query, a)
                ber, overlap = bit_error_rate(query.chroma, items, start_items, slope)
                if votes < 3:
                    offset = start_items * ITEM_SECONDS / FRAME_S
            else:
                ber, overlap = 0.5, 0
            found.append(
                AudioCandidate(
                    asset_id=self.asset_ids[a],
                    offset_s=max(0.0, offset * FRAME_S),
                    slope=slope,
                    lm_votes=votes,
                    lm_total=q_total,
                    lm_coverage=coverage,
                    cp_ber=ber,
                    cp_overlap=overlap,
                    query_s=query.seconds,
                )
            )
        return found

    def _chroma_offset(self, query: AudioPrint, a: int) -> float:
        items = self.cp_items[self.cp_base[a] : self.cp_base[a + 1]]
        q_keys, q_index = half_keys(query.chroma)
        # Offsets where half-items agree, voted within this one asset.
        stored_keys, stored_index = half_keys(items)
        order = np.argsort(stored_keys, kind="stable")
        sk = stored_keys[order]
        lo = np.searchsorted(sk, q_keys, "left")
        hi = np.searchsorted(sk, q_keys, "right")
        lengths = hi - lo
        if lengths.sum() == 0:
            return 0.0
        rep_q = np.repeat(q_index, lengths)
        base = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths)
        pos = stored_index[order][base + np.arange(int(lengths.sum()))]
        offsets = pos - rep_q
        values, counts = np.unique(offsets, return_counts=True)
        return float(values[int(np.argmax(counts))])


def _rebase(base: I64Array, keep: npt.NDArray[np.intp]) -> tuple[I64Array, I64Array]:
    """New bases for the kept assets and, per old asset, the shift to apply to its positions."""
    lengths = np.diff(base)[keep]
    new_base = np.zeros(keep.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_base[1:])
    shift = np.zeros(base.size - 1, dtype=np.int64)
    shift[keep] = new_base[:-1] - base[keep]
    return new_base, shift


def rank(candidates: list[AudioCandidate]) -> list[AudioCandidate]:
    """Best first: most aligned landmark votes, then lowest chromaprint bit errors."""
    return sorted(candidates, key=lambda c: (c.lm_votes, -c.cp_ber), reverse=True)
