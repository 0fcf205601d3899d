"""Find a screen filmed at an angle (a phone pointed at a monitor) and straighten it for pHash.

A clinical video played on a monitor and filmed with a phone arrives as a quadrilateral:
perspective, blur and a brightness shift. Local features (`rectify.py`) find it when the
picture has texture that survives the blur; a picture of fine cells or a soft gradient loses
its keypoints, but the screen keeps its outline, and pHash of the straightened, blurred
picture is close to the enrolled one (low frequencies survive blur; pHash ignores brightness
and contrast). This finds the largest convex quadrilateral outlined by edges in a query's
grey copy (`Detail.gray`) and maps it back to a rectangle, so the straightened pictures are
searched with the ordinary, calibrated pHash decision (`service._screen_matches`).

Only queries are straightened; the enrolled prints are unchanged.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from agent.media.decode import Picture
from agent.media.inset import full_range, outlines

MIN_AREA = 0.2  # a filmed screen covers at least this share of the frame ...
MAX_AREA = 0.97  # ... and leaves some surround (else there is no outline to find)
MIN_ANGLE_DEG = 50.0  # every corner of a plausible screen seen at an angle lies within
MAX_ANGLE_DEG = 130.0  # these (a sliver or a kite is not a screen)
MIN_SIDE = 64  # pixels of the grey copy: shorter sides are not a screen
MAX_ASPECT = 3.5  # longer over shorter mean side length
APPROX_EPSILON = 0.02  # polygon simplification, as a share of the outline's perimeter
MIN_SMALL_SIDE = 12  # pixels of the small sampled picture a straightened screen needs
SEARCH_WIDTH = 480  # grey copies are searched at most this wide

# Corners in the grey copy's pixels, ordered top-left, top-right, bottom-right, bottom-left.
Quad = npt.NDArray[np.float32]


def _ordered(corners: npt.NDArray[np.float32]) -> Quad:
    """Corners in a fixed order: top-left (least x + y), top-right (least y - x), bottom-right, bottom-left."""
    total = corners.sum(axis=1)
    diff = corners[:, 1] - corners[:, 0]
    return np.array(
        [corners[np.argmin(total)], corners[np.argmin(diff)], corners[np.argmax(total)], corners[np.argmax(diff)]],
        dtype=np.float32,
    )


def _angles_deg(quad: Quad) -> npt.NDArray[np.float64]:
    prev = np.roll(quad, 1, axis=0) - quad
    nxt = np.roll(quad, -1, axis=0) - quad
    cos = (prev * nxt).sum(axis=1) / np.maximum(np.linalg.norm(prev, axis=1) * np.linalg.norm(nxt, axis=1), 1e-9)
    angles: npt.NDArray[np.float64] = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return angles


def side_lengths(quad: Quad) -> tuple[float, float]:
    """(mean width, mean height) of an ordered quadrilateral."""
    d = np.linalg.norm(np.roll(quad, -1, axis=0) - quad, axis=1)
    return float(d[0] + d[2]) / 2.0, float(d[1] + d[3]) / 2.0


def find_screen(gray: npt.NDArray[np.uint8]) -> Quad | None:
    """The largest convex quadrilateral outlined by edges in `gray` that could be a screen
    (looked for at most SEARCH_WIDTH wide: the outline needs no more, and every video query
    pays for the search)."""
    scale = min(1.0, SEARCH_WIDTH / gray.shape[1])
    if scale < 1.0:
        small = cv2.resize(gray, (SEARCH_WIDTH, max(2, round(gray.shape[0] * scale))), interpolation=cv2.INTER_AREA)
        found = _find(np.asarray(small, dtype=np.uint8), MIN_SIDE * scale)
        return None if found is None else (found / scale).astype(np.float32)
    return _find(gray, MIN_SIDE)


def _find(gray: npt.NDArray[np.uint8], min_side: float) -> Quad | None:
    h, w = gray.shape
    best: Quad | None = None
    best_area = 0.0
    for contour in outlines(gray, 5, 10, 30):  # a screen's edge is softer than an inset's
        _x, _y, bw, bh = cv2.boundingRect(contour)
        if bw * bh < MIN_AREA * w * h:
            continue  # most contours: cheap to rule out before their hull
        hull = cv2.convexHull(contour)
        area = float(cv2.contourArea(hull))
        if area <= best_area or not MIN_AREA * w * h <= area <= MAX_AREA * w * h:
            continue
        approx = cv2.approxPolyDP(hull, APPROX_EPSILON * cv2.arcLength(hull, True), True)
        if len(approx) != 4:
            continue
        quad = _ordered(approx.reshape(4, 2).astype(np.float32))
        angles = _angles_deg(quad)
        if angles.min() < MIN_ANGLE_DEG or angles.max() > MAX_ANGLE_DEG:
            continue
        width, height = side_lengths(quad)
        if min(width, height) < min_side or max(width / height, height / width) > MAX_ASPECT:
            continue
        best, best_area = quad, area
    return best


def inward(quad: Quad, pixels: float) -> Quad:
    """The quadrilateral moved `pixels` towards its centre (the dilated outline sits outside)."""
    centre = quad.mean(axis=0)
    towards = centre - quad
    norm = np.maximum(np.linalg.norm(towards, axis=1, keepdims=True), 1e-9)
    moved: Quad = (quad + towards / norm * pixels).astype(np.float32)
    return moved


def _straighten(plane: npt.NDArray[np.uint8], quad: Quad, size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    width, height = size
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad, target)
    out = cv2.warpPerspective(
        np.ascontiguousarray(plane), matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(out, dtype=np.uint8)


def _size(quad: Quad) -> tuple[int, int]:
    width, height = side_lengths(quad)
    return max(2, round(width)), max(2, round(height))


def straightened_picture(t: float, yuv: npt.NDArray[np.uint8], quad: Quad) -> Picture | None:
    """A sampled small picture's screen as a rectangle (`quad` in that picture's pixels);
    None when it is too small to hash."""
    size = _size(quad)
    if min(size) < MIN_SMALL_SIDE:
        return None
    planes = np.stack([_straighten(yuv[c], quad, size) for c in range(3)])
    return Picture(t=t, yuv=np.ascontiguousarray(planes))


def straightened_detail(t: float, gray: npt.NDArray[np.uint8], chroma: npt.NDArray[np.uint8], quad: Quad) -> Picture:
    """The screen of a grey copy (ffmpeg's limited-range grey, `quad` in its pixels) and its
    half-size U/V planes as a small Y/U/V picture (`Picture.yuv`, full-range Y like `decode`'s)."""
    size = _size(quad)
    y = full_range(_straighten(gray, quad, size))
    scale = np.array([chroma.shape[2] / gray.shape[1], chroma.shape[1] / gray.shape[0]], dtype=np.float32)
    half = (quad * scale).astype(np.float32)
    planes = [
        cv2.resize(_straighten(chroma[c], half, _size(half)), size, interpolation=cv2.INTER_LINEAR) for c in (0, 1)
    ]
    yuv = np.stack([y, *planes])
    return Picture(t=t, yuv=np.ascontiguousarray(yuv, dtype=np.uint8))
