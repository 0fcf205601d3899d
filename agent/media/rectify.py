"""Geometric verification: find an enrolled keyframe inside a query picture.

Runs only when pHash found nothing. Each query frame's ORB descriptors are matched against
the enrolled keyframes' (brute-force Hamming, Lowe's ratio test); the keyframes with the most
matches are verified by a RANSAC homography from the query frame into the keyframe. The
homography is what makes a rotated, cropped, picture-in-picture or re-filmed (perspective)
copy agree point for point with the original, and what random similar patches never do: a
match needs many inliers, spread over the keyframe, under a plausible transform.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from agent.media.fingerprint import Detail
from agent.media.frames import chroma_agreement, chroma_signature
from agent.media.keypoints import KeyFrame, KeypointPrint

cv2.setNumThreads(1)  # the proxy runs several matches at once; no thread pool per match

RATIO = 0.8  # Lowe's ratio test (second neighbour in the same keyframe)
MAX_DESCRIPTOR_DISTANCE = 64  # of 256 bits
CLOSE_DISTANCE = 40  # a neighbour without a second one in its keyframe must be this close
NEIGHBOURS = 8  # nearest enrolled descriptors looked at per query descriptor
MIN_MATCHES = 10  # tentative matches a keyframe needs before RANSAC is tried
VERIFY_TOP = 6  # keyframes verified per query frame (siblings verify side by side)
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
COLOUR_MARGIN = 0.002  # colour agreements closer than this are a tie
SIGNATURE_WIDTH = 160  # the width colour signatures are computed at (decode.FRAME_WIDTH)


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


@dataclass(frozen=True)
class GeoCandidate:
    asset_id: str
    frames: int  # query frames verified against this asset
    inliers: int  # best inlier count
    offset_s: float


class KeypointBank:
    """Every enrolled keyframe's descriptors stacked in one matrix, rebuilt on change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._prints: dict[str, KeypointPrint] = {}
        self._stack: tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], list[tuple[str, KeyFrame]]] | None = None

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

    def stacked(self) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], list[tuple[str, KeyFrame]]]:
        """(descriptors, keyframe of each descriptor, (asset, keyframe) per keyframe)."""
        with self._lock:
            if self._stack is None:
                frames = [(a, f) for a, p in self._prints.items() for f in p.frames]
                if frames:
                    desc = np.concatenate([f.descriptors for _, f in frames])
                    owner = np.repeat(np.arange(len(frames)), [f.descriptors.shape[0] for _, f in frames])
                else:
                    desc, owner = np.zeros((0, 32), dtype=np.uint8), np.zeros(0, dtype=np.int64)
                self._stack = (desc, owner.astype(np.int64), frames)
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


def verify_frame(bank: KeypointBank, query: KeyFrame) -> list[GeoHit]:
    """Enrolled keyframes this query picture shows, with their RANSAC inlier counts."""
    desc, owner, frames = bank.stacked()
    if desc.shape[0] < 2 or query.descriptors.shape[0] < 2:
        return []
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
    if len(qi) < MIN_MATCHES:
        return []
    q_idx, s_idx = np.array(qi), np.array(si)
    kf = owner[s_idx]
    counts = np.bincount(kf, minlength=len(frames))
    hits: list[GeoHit] = []
    offsets = np.concatenate([[0], np.cumsum([f.descriptors.shape[0] for _, f in frames])])
    for k in np.argsort(-counts, kind="stable")[:VERIFY_TOP]:
        if counts[k] < MIN_MATCHES:
            break
        asset_id, frame = frames[int(k)]
        sel = kf == k
        q_pts = query.points[q_idx[sel]]
        s_pts = frame.points[s_idx[sel] - offsets[int(k)]]
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


def _decided(per_asset: dict[str, list[Scored]], single: bool, final: bool, tie: Callable[[str], float]) -> str | None:
    """The asset that clears the bar and leads every other asset by MARGIN; once every frame
    was seen (`final`), among the rivals within the margin that clear the bar (siblings the
    inliers cannot separate) the one whose colours agree best, then the lowest `tie`, then
    the one with the most support."""
    cleared = {a: e for a, hits in per_asset.items() if (e := _evidence(hits, single))}
    if not cleared:
        return None
    lead = max(cleared, key=lambda a: cleared[a])
    rivals = [a for a in per_asset if a != lead and MARGIN * _support(per_asset[a]) > cleared[lead]]
    if not rivals:
        return lead
    if not final:
        return None  # undecided: look at more frames first
    # Close rivals show the same pictures (siblings): colour separates graded copies.
    contenders = [lead, *(a for a in rivals if a in cleared)]
    top = max(_colour(per_asset[a]) for a in contenders)
    tied = [a for a in contenders if _colour(per_asset[a]) >= top - COLOUR_MARGIN]
    return min(tied, key=lambda a: (tie(a), -cleared[a]))


def verify(
    bank: KeypointBank,
    queries: Iterable[KeyFrame | None],
    *,
    image: bool,
    total: int,
    colour: Callable[[int, GeoHit], float] = lambda _i, _h: 1.0,
    min_colour: float = 0.0,
    tie: Callable[[str], float] = lambda _a: 0.0,
) -> GeoCandidate | None:
    """The enrolled asset the query frames show, or None.

    An image needs IMAGE_MIN_INLIERS on one keyframe; a video needs VIDEO_MIN_FRAMES of its
    `total` frames each with VIDEO_MIN_INLIERS on the same asset (or one frame at the image
    bar when it has fewer frames than that). The asset must also lead every other asset's
    verified inliers by MARGIN: the stage decides between assets, it does not name the
    first one that clears the bar. `colour(query index, hit)` is the colour agreement of the
    rectified query with the keyframe (videos made from one picture source differ only
    there); hits below `min_colour` are dropped, and among rivals within the margin the
    asset whose colours agree best by COLOUR_MARGIN wins, then the lowest `tie(asset)` (the
    service: how far the asset's length is from the query's), then the best supported.
    `queries` is consumed lazily: describing and matching stop as soon as one
    asset is beyond doubt.
    """
    single = image or total < VIDEO_MIN_FRAMES
    per_asset: dict[str, list[Scored]] = {}
    for i, q in enumerate(queries):
        if q is None:
            continue
        best: dict[str, Scored] = {}
        for hit in verify_frame(bank, q):
            if hit.inliers <= (best[hit.asset_id].hit.inliers if hit.asset_id in best else 0):
                continue
            agreement = colour(i, hit)
            if agreement >= min_colour:
                best[hit.asset_id] = Scored(hit, agreement)
        for a, scored in best.items():
            per_asset.setdefault(a, []).append(scored)
        found = _decided(per_asset, single, final=False, tie=tie)
        if found is not None:
            return _candidate(found, per_asset[found])
    found = _decided(per_asset, single, final=True, tie=tie)
    return _candidate(found, per_asset[found]) if found else None


def _candidate(asset_id: str, hits: list[Scored]) -> GeoCandidate:
    top = max(hits, key=lambda h: h.hit.inliers).hit
    strong = sum(1 for h in hits if h.hit.inliers >= VIDEO_MIN_INLIERS)
    return GeoCandidate(asset_id, strong, top.inliers, top.t)


def rectified_chroma(detail: Detail, hit: GeoHit, stored: npt.NDArray[np.int8]) -> float:
    """Colour agreement between the enrolled frame's signature and the query picture warped
    onto the keyframe by the hit's homography (parts outside the query count as colourless)."""
    if hit.homography is None:
        return 1.0
    _, h_s, w_s = detail.yuv.shape
    kw, kh = hit.size
    out_w = SIGNATURE_WIDTH
    out_h = max(2, round(out_w * kh / kw))
    to_detail = np.diag([detail.gray.shape[1] / w_s, detail.gray.shape[0] / h_s, 1.0])
    to_small = np.diag([out_w / kw, out_h / kh, 1.0])
    warp = to_small @ hit.homography @ to_detail
    planes = [
        cv2.warpPerspective(detail.yuv[c], warp, (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=128)
        for c in (1, 2)
    ]
    signature = chroma_signature(np.asarray(planes[0], dtype=np.uint8), np.asarray(planes[1], dtype=np.uint8))
    return float(chroma_agreement(signature[None, :], stored)[0])
