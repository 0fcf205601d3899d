"""Find a picture shown inside a larger one (picture-in-picture) so pHash can read it alone.

Local features (`rectify.py`) find an embedded clinical video when it has texture; a smooth
one (a gradient, a blurred wall, skin) has almost no keypoints, and its pHash is drowned by
the screen around it. What such an inset still has is its outline: four straight edges
enclosing a rectangle. This finds the largest axis-aligned rectangle outlined by edges in a
query's grey copy (`Detail.gray`), so the pictures inside can be hashed on their own and
searched with the ordinary, calibrated pHash decision (`service._inset_matches`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from agent.media.decode import Picture

MIN_AREA = 0.02  # an inset covers at least this share of the frame ...
MAX_AREA = 0.7  # ... and at most this (beyond, pHash of the whole frame already sees it)
MIN_FILL = 0.9  # contour area / bounding-box area: an outlined rectangle, not a blob
MAX_ASPECT = 3.5  # width / height (or height / width) of a plausible picture
BOX_TOLERANCE = 0.02  # boxes of two frames within this share of the frame size are one inset
MIN_SIDE = 48  # pixels of the grey copy: smaller insets are not looked for
MIN_SMALL_SIDE = 12  # pixels of the small sampled picture (160 px wide) an inset crop needs

Box = tuple[int, int, int, int]  # top, bottom, left, right in the grey copy's pixels


def outlines(gray: npt.NDArray[np.uint8], blur: int, low: int, high: int) -> Sequence[Any]:
    """The contours of `gray`'s edges (Canny after a `blur` x `blur` Gaussian, thresholds
    `low` and `high`), dilated by a pixel so that a drawn outline closes into one contour.
    Shared with `screen.find_screen`, which looks for a quadrilateral among them."""
    edges = cv2.Canny(cv2.GaussianBlur(gray, (blur, blur), 0), low, high)
    edges = cv2.dilate(edges, np.ones((3, 3), dtype=np.uint8))
    contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    return contours


def full_range(gray: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """ffmpeg's limited-range grey (16-235) as the full-range Y `decode` gives the small pictures."""
    y = np.clip((gray.astype(np.float32) - 16.0) * (255.0 / 219.0), 0, 255)
    full: npt.NDArray[np.uint8] = np.rint(y).astype(np.uint8)
    return full


def find_inset(gray: npt.NDArray[np.uint8]) -> Box | None:
    """The largest rectangle outlined by edges in `gray` that could be an embedded picture."""
    h, w = gray.shape
    contours = outlines(gray, 3, 20, 60)
    best: Box | None = None
    best_area = 0
    for c in contours:
        x, y, bw, bh = cv2.boundingRect(c)
        area = bw * bh
        if area <= best_area or not MIN_AREA * w * h <= area <= MAX_AREA * w * h:
            continue
        if min(bw, bh) < MIN_SIDE or max(bw / bh, bh / bw) > MAX_ASPECT:
            continue
        if cv2.contourArea(c) < MIN_FILL * area:
            continue
        # The dilated outline sits ~1-2 px outside the picture: step inside it.
        best = (y + 2, y + bh - 2, x + 2, x + bw - 2)
        best_area = area
    return best


def common_box(boxes: list[Box | None], shape: tuple[int, int]) -> Box | None:
    """The inset found in most frames (a picture-in-picture stays put), or None."""
    found = [b for b in boxes if b is not None]
    if not found:
        return None
    h, w = shape
    tol = np.array([h, h, w, w], dtype=np.float64) * BOX_TOLERANCE

    def agree(a: Box, b: Box) -> bool:
        return bool((np.abs(np.subtract(a, b)) <= tol).all())

    return max(found, key=lambda b: sum(agree(b, o) for o in found))


def scaled_inward(box: Box, sy: float, sx: float) -> Box:
    """`box` in a copy of the picture scaled by (`sy`, `sx`), keeping only the pixels wholly
    inside it: a pixel that is partly background (an inset is ~30 px wide in the 160 px
    sampled picture) bends a smooth inset's layout and colours (a ramp of even brightness,
    compared by colour contrast, went from 0.996 to 0.73 layout correlation)."""
    top, bottom, left, right = box
    eps = 1e-6  # a side exactly on a pixel edge stays there
    return (
        math.ceil(top * sy - eps),
        math.floor(bottom * sy + eps),
        math.ceil(left * sx - eps),
        math.floor(right * sx + eps),
    )


def inset_picture(t: float, gray: npt.NDArray[np.uint8], chroma: npt.NDArray[np.uint8], box: Box) -> Picture:
    """The inset as a small Y/U/V picture (`Picture.yuv`, full-range Y like `decode`'s), from
    the grey copy (ffmpeg's limited-range grey) and its half-size U/V planes."""
    top, bottom, left, right = box
    y = full_range(gray[top:bottom, left:right])
    ch, cw = chroma.shape[1:]
    c_top, c_bottom, c_left, c_right = scaled_inward(box, ch / gray.shape[0], cw / gray.shape[1])
    size = (right - left, bottom - top)
    planes = [
        cv2.resize(np.ascontiguousarray(plane[c_top:c_bottom, c_left:c_right]), size, interpolation=cv2.INTER_LINEAR)
        for plane in (chroma[0], chroma[1])
    ]
    yuv = np.stack([y, *planes])
    return Picture(t=t, yuv=np.ascontiguousarray(yuv, dtype=np.uint8))
