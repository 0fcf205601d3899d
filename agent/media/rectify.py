"""Geometric verification: find an enrolled keyframe inside a query picture.

Runs only when pHash found nothing. A multi-index hash over every enrolled descriptor
(`shortlist.py`) shortlists the few keyframes that share many close descriptors with a query
frame; the query's ORB descriptors are matched exactly against those only (brute-force
Hamming, Lowe's ratio test), and per asset the keyframe with the most matches is verified by
a RANSAC homography from the query frame into the keyframe. The
homography is what makes a rotated, cropped, picture-in-picture or re-filmed (perspective)
copy agree point for point with the original, and what random similar patches never do: a
match needs many inliers, spread over the keyframe, under a plausible transform.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from agent.media.fingerprint import Detail
from agent.media.frames import CHROMA_GRID, chroma_agreement, hue_rotation
from agent.media.keypoints import KeyFrame, KeypointPrint
from agent.media.shortlist import DescriptorIndex, keyframe_votes

cv2.setNumThreads(1)  # the proxy runs several matches at once; no thread pool per match

RATIO = 0.8  # Lowe's ratio test (second neighbour in the same keyframe)
MAX_DESCRIPTOR_DISTANCE = 64  # of 256 bits
CLOSE_DISTANCE = 40  # a neighbour without a second one in its keyframe must be this close
NEIGHBOURS = 8  # nearest enrolled descriptors looked at per query descriptor
MIN_MATCHES = 10  # tentative matches a keyframe needs before RANSAC is tried
VERIFY_PER_ASSET = 1  # keyframes verified per asset and query frame ...
VERIFY_ASSETS = 8  # ... for at most this many assets (siblings verify side by side)
VOTE_DISTANCE = 40  # of 256 bits: a query descriptor votes for keyframes this close to it
SHORTLIST_MIN_VOTES = 8  # votes a keyframe needs to be matched exactly ...
SHORTLIST_SHARE = 0.4  # ... and this share of the best-voted asset's
SHORTLIST_PER_ASSET = 3  # keyframes per asset matched exactly ...
SHORTLIST_ASSETS = 12  # ... for at most this many assets
REPROJECTION = 0.02  # RANSAC tolerance, share of the keyframe's width
MIN_SPREAD = 0.25  # inliers must span this share of the keyframe's width and height
MAX_SIDE_RATIO = 2.0  # opposite sides of the keyframe as seen in the query (perspective)
MIN_INLIER_SHARE = 0.25  # of the keyframe's tentative matches
MIN_COVERAGE = 0.45  # share of the keyframe the query must show (a 25 % crop keeps 0.56)
MIN_AREA_SCALE = 0.04  # the query-to-keyframe map must not shrink or blow up area beyond 1/25..25
# Decision (from the distractor runs in benchmarks/media_geometry.py: the most inliers any
# unrelated picture reached was well below these).
IMAGE_MIN_INLIERS = 24
VIDEO_MIN_INLIERS = 16
VIDEO_MIN_FRAMES = 2
MARGIN = 2.0  # the chosen asset's support must exceed twice any other asset's
COLOUR_MARGIN = 0.002  # colour agreements closer than this are a tie ...
HUE_MARGIN_DEG = 2.5  # ... and then mean hue rotations closer than this (degrees)
LENGTH_MATCH_S = 1.0  # a query this close to an asset's length is that whole asset
# The query region is warped onto the keyframe at this width before its 4x4 colour means are
# taken: wider than the 160 px enrolled signatures are computed at, so a larger query picture
# (a crop seen at 960 px) is averaged, not sampled every few pixels.
RECTIFIED_WIDTH = 320
MIN_CELL_COVERAGE = 0.9  # colour grid cells the query shows less of are left out of the comparison


@dataclass(frozen=True)
class GeoHit:
    asset_id: str
    inliers: int
    t: float  # time of the enrolled keyframe
    homography: npt.NDArray[np.float64] | None = None  # query frame pixels -> keyframe pixels
    size: tuple[int, int] = (0, 0)  # the keyframe's width, height


@dataclass(frozen=True)
class Scored:
    hit: GeoHit
    colour: float  # colour agreement of the rectified query region with the keyframe
    hue: float = 0.0  # its hue rotation from the keyframe's colours, degrees (no noise allowance)


@dataclass(frozen=True)
class GeoCandidate:
    asset_id: str
    frames: int  # query frames verified against this asset
    inliers: int  # best inlier count
    offset_s: float
    # Other assets whose verified pictures the query fits as well (`_decided`): not named,
    # but equally likely.
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stack:
    """Every enrolled keyframe's descriptors in one matrix, and the shortlist index over them."""

    desc: npt.NDArray[np.uint8]
    owner: npt.NDArray[np.int64]  # keyframe of each descriptor
    frames: list[tuple[str, KeyFrame]]  # (asset, keyframe) per keyframe
    asset_of: npt.NDArray[np.int64]  # asset number of each keyframe
    offsets: npt.NDArray[np.int64]  # first descriptor of each keyframe (len(frames) + 1)
    index: DescriptorIndex


class KeypointBank:
    """Every enrolled keyframe's descriptors stacked in one matrix with a multi-index hash
    over them (`shortlist.py`), rebuilt on change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._prints: dict[str, KeypointPrint] = {}
        self._stack: Stack | None = None

    def __contains__(self, asset_id: str) -> bool:
        return asset_id in self._prints

    def __len__(self) -> int:
        return len(self._prints)

    def add(self, entries: Iterable[tuple[str, KeypointPrint]]) -> None:
        with self._lock:
            for asset_id, p in entries:
                if p.count:
                    self._prints[asset_id] = p
            self._stack = None

    def remove(self, asset_ids: Iterable[str]) -> None:
        with self._lock:
            for a in asset_ids:
                self._prints.pop(a, None)
            self._stack = None

    def stacked(self) -> Stack:
        with self._lock:
            if self._stack is None:
                frames = [(a, f) for a, p in self._prints.items() for f in p.frames]
                numbers = {a: i for i, a in enumerate(self._prints)}
                sizes = [f.descriptors.shape[0] for _, f in frames]
                if frames:
                    desc = np.ascontiguousarray(np.concatenate([f.descriptors for _, f in frames]))
                    owner = np.repeat(np.arange(len(frames)), sizes).astype(np.int64)
                else:
                    desc, owner = np.zeros((0, 32), dtype=np.uint8), np.zeros(0, dtype=np.int64)
                self._stack = Stack(
                    desc=desc,
                    owner=owner,
                    frames=frames,
                    asset_of=np.array([numbers[a] for a, _ in frames], dtype=np.int64),
                    offsets=np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64),
                    index=DescriptorIndex(desc),
                )
            return self._stack


def _plausible(h: npt.NDArray[np.float64], frame: KeyFrame) -> bool:
    """Whether the keyframe, mapped back into the query, is a picture a screen, a crop or a
    camera could show: a convex quadrilateral whose opposite sides differ by less than
    MAX_SIDE_RATIO (random matches fit folded or wildly stretched quads)."""
    try:
        inverse = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        return False
    corners = np.array([[0, 0], [frame.width, 0], [frame.width, frame.height], [0, frame.height]], dtype=np.float64)
    mapped = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), inverse).reshape(-1, 2)
    if not np.isfinite(mapped).all():
        return False
    edges = np.roll(mapped, -1, axis=0) - mapped
    cross = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    if not ((cross > 0).all() or (cross < 0).all()):
        return False
    sides = np.linalg.norm(edges, axis=1)
    if sides.min() <= 1.0:
        return False
    return bool(
        max(sides[0] / sides[2], sides[2] / sides[0], sides[1] / sides[3], sides[3] / sides[1]) <= MAX_SIDE_RATIO
    )


def _coverage(h: npt.NDArray[np.float64], query: KeyFrame, frame: KeyFrame) -> float:
    """The share of the keyframe's area the query picture shows (its outline mapped by `h`
    into the keyframe, clipped to it): near 1 for a turned, embedded or re-filmed copy,
    0.56 for a 25 % crop, small for a close-up of one detail."""
    outline = np.array([[0, 0], [query.width, 0], [query.width, query.height], [0, query.height]], dtype=np.float64)
    mapped = cv2.perspectiveTransform(outline.reshape(-1, 1, 2), h).reshape(-1, 2).astype(np.float32)
    if not np.isfinite(mapped).all():
        return 0.0
    box = np.array([[0, 0], [frame.width, 0], [frame.width, frame.height], [0, frame.height]], dtype=np.float32)
    hull = cv2.convexHull(mapped)
    area, _ = cv2.intersectConvexConvex(hull, box)
    return float(area) / float(frame.width * frame.height)


def _homography_inliers(
    q: npt.NDArray[np.float32], s: npt.NDArray[np.float32], frame: KeyFrame, query: KeyFrame
) -> tuple[int, npt.NDArray[np.float64] | None]:
    h, mask = cv2.findHomography(q, s, cv2.RANSAC, REPROJECTION * frame.width, maxIters=500, confidence=0.99)
    if h is None or mask is None:
        return 0, None
    inl = mask.ravel().astype(bool)
    count = int(inl.sum())
    if count < 4:
        return 0, None
    det = float(np.linalg.det(h[:2, :2]))
    if not MIN_AREA_SCALE <= abs(det) <= 1.0 / MIN_AREA_SCALE:
        return 0, None
    if not _plausible(np.asarray(h, dtype=np.float64), frame) or count < MIN_INLIER_SHARE * len(inl):
        return 0, None
    if _coverage(np.asarray(h, dtype=np.float64), query, frame) < MIN_COVERAGE:
        return 0, None
    pts = s[inl]
    spread_x = float(np.ptp(pts[:, 0])) / frame.width
    spread_y = float(np.ptp(pts[:, 1])) / frame.height
    if spread_x < MIN_SPREAD or spread_y < MIN_SPREAD:
        return 0, None
    return count, np.asarray(h, dtype=np.float64)


def shortlist(stack: Stack, query: KeyFrame) -> npt.NDArray[np.int64]:
    """The keyframes worth matching exactly: per asset its SHORTLIST_PER_ASSET keyframes with
    the most close descriptors (`shortlist.keyframe_votes`), for the SHORTLIST_ASSETS assets
    whose best keyframe has most, each with at least SHORTLIST_MIN_VOTES and SHORTLIST_SHARE
    of the best keyframe's votes (an unrelated lookalike gets a fraction of what the
    keyframe a query shows gets, and is left to the exact stage only when nothing stands
    out). Per asset, not
    overall: siblings (videos from one picture source) all reach the exact stage, where
    colour and inliers tell them apart."""
    votes = keyframe_votes(stack.index, stack.owner, len(stack.frames), query.descriptors, VOTE_DISTANCE)
    ok = np.flatnonzero(votes >= max(SHORTLIST_MIN_VOTES, SHORTLIST_SHARE * int(votes.max(initial=0))))
    if ok.size == 0:
        return ok
    order = ok[np.lexsort((-votes[ok], stack.asset_of[ok]))]  # by asset, most votes first
    assets = stack.asset_of[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = assets[1:] != assets[:-1]
    rank = np.arange(order.size) - np.maximum.accumulate(np.where(first, np.arange(order.size), 0))
    leaders = order[first]
    top_assets = set(stack.asset_of[leaders[np.argsort(-votes[leaders], kind="stable")[:SHORTLIST_ASSETS]]].tolist())
    keep = order[(rank < SHORTLIST_PER_ASSET) & np.isin(assets, list(top_assets))]
    return np.sort(keep)


def _tentative(
    stack: Stack, query: KeyFrame, chosen: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Tentative (query descriptor, enrolled descriptor) matches against the `chosen`
    keyframes: brute-force Hamming k nearest among their descriptors, then the ratio test
    within each keyframe."""
    empty = np.zeros(0, dtype=np.int64)
    if chosen.size == len(stack.frames):
        desc, global_of = stack.desc, None
    else:
        spans = [np.arange(stack.offsets[k], stack.offsets[k + 1]) for k in chosen]
        global_of = np.concatenate(spans) if spans else empty
        desc = stack.desc[global_of]
    if desc.shape[0] < 2 or query.descriptors.shape[0] < 2:
        return empty, empty
    owner = stack.owner if global_of is None else stack.owner[global_of]
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(query.descriptors, desc, k=min(NEIGHBOURS, desc.shape[0]))
    qi: list[int] = []
    si: list[int] = []
    for m in pairs:
        # One tentative match per keyframe among the neighbours: its nearest descriptor, if
        # it is distinct within that keyframe (Lowe's ratio against the keyframe's second
        # nearest) or, when that one is not among the neighbours, close in absolute terms.
        # The ratio is never taken across keyframes: siblings (videos from one picture
        # source) would cancel each other out and hide the asset the query shows.
        seen: dict[int, int] = {}  # keyframe -> position of its nearest in `m`
        second: dict[int, float] = {}
        for j, n in enumerate(m):
            f = int(owner[n.trainIdx])
            if f not in seen:
                seen[f] = j
            elif f not in second:
                second[f] = n.distance
        for f, j in seen.items():
            best = m[j]
            if best.distance > MAX_DESCRIPTOR_DISTANCE:
                continue
            distinct = best.distance < RATIO * second[f] if f in second else best.distance <= CLOSE_DISTANCE
            if distinct:
                qi.append(best.queryIdx)
                si.append(best.trainIdx)
    s_idx = np.array(si, dtype=np.int64)
    if global_of is not None:
        s_idx = global_of[s_idx] if s_idx.size else empty
    return np.array(qi, dtype=np.int64), s_idx


def verify_frame(bank: KeypointBank, query: KeyFrame, *, exhaustive: bool = False) -> list[GeoHit]:
    """Enrolled keyframes this query picture shows, with their RANSAC inlier counts.

    The keyframes come from the shortlist (`exhaustive`: every enrolled keyframe, the brute
    force the shortlist replaced, kept for the benchmark that compares them). Per asset,
    its VERIFY_PER_ASSET keyframes with the most tentative matches are verified."""
    stack = bank.stacked()
    if len(stack.frames) == 0 or query.descriptors.shape[0] < 2:
        return []
    chosen = np.arange(len(stack.frames), dtype=np.int64) if exhaustive else shortlist(stack, query)
    if chosen.size == 0:
        return []
    q_idx, s_idx = _tentative(stack, query, chosen)
    if q_idx.size < MIN_MATCHES:
        return []
    kf = stack.owner[s_idx]
    counts = np.bincount(kf, minlength=len(stack.frames))
    ranked = [int(k) for k in np.argsort(-counts, kind="stable") if counts[k] >= MIN_MATCHES]
    per_asset: dict[int, int] = {}
    hits: list[GeoHit] = []
    for k in ranked:
        a = int(stack.asset_of[k])
        if per_asset.get(a, 0) >= VERIFY_PER_ASSET or (a not in per_asset and len(per_asset) >= VERIFY_ASSETS):
            continue
        per_asset[a] = per_asset.get(a, 0) + 1
        asset_id, frame = stack.frames[k]
        sel = kf == k
        q_pts = query.points[q_idx[sel]]
        s_pts = frame.points[s_idx[sel] - stack.offsets[k]]
        inliers, h = _homography_inliers(q_pts, s_pts, frame, query)
        if inliers:
            hits.append(GeoHit(asset_id, inliers, frame.t, h, (frame.width, frame.height)))
    return hits


def _evidence(hits: list[Scored], single: bool) -> int:
    """An asset's support: its best frame's inliers for a picture, else the inliers of its
    frames that clear VIDEO_MIN_INLIERS (0 when it does not clear the bar)."""
    if single:
        top = max(h.hit.inliers for h in hits)
        return top if top >= IMAGE_MIN_INLIERS else 0
    strong = [h.hit.inliers for h in hits if h.hit.inliers >= VIDEO_MIN_INLIERS]
    return sum(strong) if len(strong) >= VIDEO_MIN_FRAMES else 0


def _support(hits: list[Scored]) -> int:
    """Any support at all (for the margin): the inliers of every verified frame."""
    return sum(h.hit.inliers for h in hits)


def _colour(hits: list[Scored]) -> float:
    return sum(h.colour for h in hits) / len(hits)


def _hue(hits: list[Scored]) -> float:
    return sum(h.hue for h in hits) / len(hits)


def _best(hits: list[Scored]) -> int:
    return max(h.hit.inliers for h in hits)


def _rival(hits: list[Scored], lead: list[Scored], evidence: int) -> bool:
    """Whether an asset is close enough to the lead to be a contender: its verified inliers
    are more than 1/MARGIN of the lead's evidence, or one of its frames has a plausible
    match with more than 1/MARGIN of the lead's best frame's inliers. The second test is
    what catches a sibling that missed a frame (its summed support then lags the lead's
    though frame for frame they are alike)."""
    best = _best(hits)
    return MARGIN * _support(hits) > evidence or (best >= VIDEO_MIN_INLIERS and MARGIN * best > _best(lead))


def _decided(
    per_asset: dict[str, list[Scored]], single: bool, final: bool, tie: Callable[[str], float]
) -> tuple[str, tuple[str, ...]] | None:
    """The asset that clears the bar and leads every other asset by MARGIN (`_rival`), with
    no alternatives; once every frame was seen (`final`), among the lead and its rivals
    (siblings the inliers cannot separate) the one whose colours agree best by COLOUR_MARGIN,
    then (agreements tied) the one whose mean raw hue rotation is least by HUE_MARGIN_DEG; if
    colours tie, the one whose length the query spans (`tie` within LENGTH_MATCH_S: a
    whole-file upload) when it is the only one. The asset chosen must clear the bar itself.
    When nothing separates the tied assets, the lead is returned with the others as
    alternatives: naming one of two assets the evidence cannot tell apart is a wrong-asset
    match half the time, but the query is enrolled media either way."""
    cleared = {a: e for a, hits in per_asset.items() if (e := _evidence(hits, single))}
    if not cleared:
        return None
    lead = max(cleared, key=lambda a: cleared[a])
    rivals = [a for a in per_asset if a != lead and _rival(per_asset[a], per_asset[lead], cleared[lead])]
    if not rivals:
        return lead, ()
    if not final:
        return None  # undecided: look at more frames first
    # Close rivals show the same pictures (siblings): colour separates graded copies.
    contenders = [lead, *rivals]
    top = max(_colour(per_asset[a]) for a in contenders)
    tied = [a for a in contenders if _colour(per_asset[a]) >= top - COLOUR_MARGIN]
    if len(tied) > 1:
        # Agreements tie within the noise allowance: the raw hue rotation may still separate
        # gradings a few degrees apart (8-18 degrees in the public suite's testsrc2 clips).
        least = min(_hue(per_asset[a]) for a in tied)
        tied = [a for a in tied if _hue(per_asset[a]) <= least + HUE_MARGIN_DEG]
    if len(tied) > 1:
        spanned = [a for a in tied if tie(a) <= LENGTH_MATCH_S]
        if len(spanned) != 1:
            undecided = [a for a in (spanned or tied) if a in cleared]
            if not undecided:
                return None
            first = max(undecided, key=lambda a: cleared[a])
            return first, tuple(a for a in (spanned or tied) if a != first)
        tied = spanned
    return (tied[0], ()) if tied[0] in cleared else None


def verify(
    bank: KeypointBank,
    queries: Iterable[KeyFrame | None],
    *,
    image: bool,
    total: int,
    colour: Callable[[int, GeoHit], tuple[float, float]] = lambda _i, _h: (1.0, 0.0),
    min_colour: float = 0.0,
    tie: Callable[[str], float] = lambda _a: 0.0,
    budget_s: float | None = None,
    exhaustive: bool = False,
    zoom: Callable[[int], KeyFrame | None] | None = None,
) -> GeoCandidate | None:
    """The enrolled asset the query frames show, or None.

    An image needs IMAGE_MIN_INLIERS on one keyframe; a video needs VIDEO_MIN_FRAMES of its
    `total` frames each with VIDEO_MIN_INLIERS on the same asset (or one frame at the image
    bar when it has fewer frames than that). The asset must also lead every other asset's
    verified inliers by MARGIN: the stage decides between assets, it does not name the
    first one that clears the bar. `colour(query index, hit)` is the colour agreement of the
    rectified query with the keyframe (videos made from one picture source differ only
    there); hits below `min_colour` are dropped, and among rivals within the margin the
    asset whose colours agree best by COLOUR_MARGIN wins, then the only one whose
    `tie(asset)` (the service: how far the asset's length is from the query's) is within
    LENGTH_MATCH_S; if none of these separates them, the lead with the others as
    `alternatives` (`_decided`).
    `queries` is consumed lazily: describing and matching stop as soon as one
    asset is beyond doubt, or once this thread has spent `budget_s` seconds of CPU time here
    (the decision is then made on the frames seen; CPU, not wall time, so that a loaded
    machine does not cut a query short). `exhaustive`: see `verify_frame`.
    """
    single = image or total < VIDEO_MIN_FRAMES
    per_asset: dict[str, list[Scored]] = {}
    deadline = time.thread_time() + budget_s if budget_s is not None else None
    for i, q in enumerate(queries):
        if q is None:
            continue
        best: dict[str, Scored] = {}
        hits = verify_frame(bank, q, exhaustive=exhaustive)
        if zoom is not None and max((h.inliers for h in hits), default=0) < (
            IMAGE_MIN_INLIERS if single else VIDEO_MIN_INLIERS
        ):
            zoomed = zoom(i)
            if zoomed is not None:
                hits += verify_frame(bank, zoomed, exhaustive=exhaustive)
        for hit in hits:
            if hit.inliers <= (best[hit.asset_id].hit.inliers if hit.asset_id in best else 0):
                continue
            agreement, hue = colour(i, hit)
            if agreement >= min_colour:
                best[hit.asset_id] = Scored(hit, agreement, hue)
        for a, scored in best.items():
            per_asset.setdefault(a, []).append(scored)
        found = _decided(per_asset, single, final=False, tie=tie)
        if found is not None:
            return _candidate(*found, per_asset[found[0]])
        if deadline is not None and time.thread_time() > deadline:
            break
    found = _decided(per_asset, single, final=True, tie=tie)
    return _candidate(*found, per_asset[found[0]]) if found else None


def _candidate(asset_id: str, alternatives: tuple[str, ...], hits: list[Scored]) -> GeoCandidate:
    top = max(hits, key=lambda h: h.hit.inliers).hit
    strong = sum(1 for h in hits if h.hit.inliers >= VIDEO_MIN_INLIERS)
    return GeoCandidate(asset_id, strong, top.inliers, top.t, alternatives)


def rectified_chroma(detail: Detail, hit: GeoHit, stored: npt.NDArray[np.int8]) -> tuple[float, float]:
    """Colour agreement between the enrolled frame's signature and the query picture warped
    onto the keyframe by the hit's homography (parts outside the query count as colourless).
    The U/V planes read are the detail's own (`Detail.chroma`, half the grey copy's size) when
    it has them, else the small picture's. Returns (`chroma_agreement`, `hue_rotation`)."""
    if hit.homography is None:
        return 1.0, 0.0
    planes_in = detail.chroma if detail.chroma is not None else detail.yuv[1:3]
    _, h_s, w_s = planes_in.shape
    kw, kh = hit.size
    out_w = RECTIFIED_WIDTH
    out_h = max(2, round(out_w * kh / kw))
    to_detail = np.diag([detail.gray.shape[1] / w_s, detail.gray.shape[0] / h_s, 1.0])
    to_small = np.diag([out_w / kw, out_h / kh, 1.0])
    warp = to_small @ hit.homography @ to_detail
    planes = [
        cv2.warpPerspective(planes_in[c], warp, (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=128) for c in (0, 1)
    ]
    seen = cv2.warpPerspective(
        np.full(planes_in.shape[1:], 255, dtype=np.uint8), warp, (out_w, out_h), flags=cv2.INTER_NEAREST, borderValue=0
    )
    u, v = (np.asarray(plane, dtype=np.uint8) for plane in planes)
    signature, covered = _masked_signature(u, v, np.asarray(seen) > 0)
    # Only grid cells the query shows (nearly) whole are compared: a cell half outside a crop
    # mixes the colours of what is left with grey, which turns its hue by several degrees.
    keep = np.tile(covered >= MIN_CELL_COVERAGE, 2)
    if not keep.any():
        return 1.0, 0.0
    mine = np.where(keep, signature, 0).astype(np.int8)[None, :]
    theirs = np.where(keep, stored[0], 0).astype(np.int8)[None, :]
    return float(chroma_agreement(mine, theirs)[0]), float(hue_rotation(mine, theirs)[0])


def _masked_signature(
    u: npt.NDArray[np.uint8], v: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float64]]:
    """`frames.chroma_signature` over the pixels in `mask` only, and the share of each cell
    the mask covers."""
    h, w = u.shape
    rows = np.linspace(0, h, CHROMA_GRID + 1).astype(int)[:-1]
    cols = np.linspace(0, w, CHROMA_GRID + 1).astype(int)[:-1]
    counts = np.outer(np.diff(np.append(rows, h)), np.diff(np.append(cols, w))).astype(np.float64)
    m = mask.astype(np.int32)
    seen = np.add.reduceat(np.add.reduceat(m, rows, axis=0), cols, axis=1).astype(np.float64)
    out = []
    for plane in (u, v):
        sums = np.add.reduceat(np.add.reduceat(plane.astype(np.int32) * m, rows, axis=0), cols, axis=1)
        out.append((sums / np.maximum(seen, 1.0) - 128.0).reshape(-1))
    signature = np.clip(np.round(np.concatenate(out)), -127, 127).astype(np.int8)
    return signature, (seen / counts).reshape(-1)
