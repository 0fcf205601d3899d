"""Per-frame image operations: hide face boxes, draw a skeleton on an empty canvas.

Faces are hidden per box after enlarging it by a margin (a detector's box is tight around the
eyes and mouth; hair, ears and jaw identify too). Blur is pixelation followed by a Gaussian, so
at most 8x8 smoothed cells of colour survive; mask is a solid grey fill.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from agent.scrub.models import Box, RGBImage

FACE_MARGIN = 0.35
"""Each face box grows by this fraction of its size on every side."""

BLUR_CELLS = 8
"""A blurred face keeps at most 8x8 averaged cells of colour: no eyes, mouth or outline."""

BACKGROUND = (128, 128, 128)
SKELETON_COLOUR = (255, 255, 255)
JOINT_COLOUR = (255, 64, 64)


def enlarge(box: Box, width: int, height: int, margin: float = FACE_MARGIN) -> Box:
    dx = int((box.x1 - box.x0) * margin) + 2
    dy = int((box.y1 - box.y0) * margin) + 2
    return Box(max(0, box.x0 - dx), max(0, box.y0 - dy), min(width, box.x1 + dx), min(height, box.y1 + dy))


def hide_faces(rgb: RGBImage, boxes: Iterable[Box], *, mode: str) -> RGBImage:
    """A copy of `rgb` with every box (enlarged) pixelated and blurred ("blur") or filled ("mask")."""
    out = rgb.copy()
    height, width = out.shape[:2]
    for raw in boxes:
        box = enlarge(raw, width, height)
        w, h = box.x1 - box.x0, box.y1 - box.y0
        if w <= 0 or h <= 0:
            continue
        if mode == "mask":
            out[box.y0 : box.y1, box.x0 : box.x1] = BACKGROUND
            continue
        region = out[box.y0 : box.y1, box.x0 : box.x1]
        # Average down to at most BLUR_CELLS cells across, smooth those, and scale back up:
        # the same look as a very large Gaussian at a fraction of its cost on big faces.
        cells = (max(1, min(BLUR_CELLS, w // 4)), max(1, min(BLUR_CELLS, h // 4)))
        small = cv2.GaussianBlur(cv2.resize(region, cells, interpolation=cv2.INTER_AREA), (3, 3), 0)
        out[box.y0 : box.y1, box.x0 : box.x1] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return out


def draw_skeleton(
    height: int,
    width: int,
    landmarks: list[tuple[int, int, float]] | None,
    connections: list[tuple[int, int]],
    *,
    min_visibility: float = 0.3,
) -> RGBImage:
    """A new neutral canvas of the frame's size with the pose drawn on it: no input pixel is used."""
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    if landmarks is None:
        return canvas
    thickness = max(2, min(height, width) // 160)
    for start, end in connections:
        x0, y0, v0 = landmarks[start]
        x1, y1, v1 = landmarks[end]
        if v0 >= min_visibility and v1 >= min_visibility:
            cv2.line(canvas, (x0, y0), (x1, y1), SKELETON_COLOUR, thickness, cv2.LINE_AA)
    for x, y, visibility in landmarks:
        if visibility >= min_visibility:
            cv2.circle(canvas, (x, y), thickness + 1, JOINT_COLOUR, -1, cv2.LINE_AA)
    return canvas
