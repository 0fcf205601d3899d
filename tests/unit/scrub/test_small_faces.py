"""Small faces: BlazeFace also searches overlapping tiles, so a face ~60 px high in a 720p frame
(about 9 px at the model's input on the whole frame) is found and hidden; checked by OpenCV's Haar
cascade, a different detector."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("mediapipe")

from agent.scrub.frames import hide_faces
from agent.scrub.models import FaceDetector, tiles
from tests.support.faces import astronaut, haar_faces

PORTRAIT_FACE = (177, 66, 272, 161)
"""The face in scikit-image's astronaut (x0, y0, x1, y1), where Haar finds it on the still."""


def _small_face_frame() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The portrait at 0.55x on a 1280x720 stage (face ~52 px), and the face's box there."""
    portrait = cv2.resize(astronaut(), None, fx=0.55, fy=0.55, interpolation=cv2.INTER_AREA)
    frame = np.full((720, 1280, 3), (60, 90, 60), dtype=np.uint8)
    x, y = 150, 200
    frame[y : y + portrait.shape[0], x : x + portrait.shape[1]] = portrait
    x0, y0, x1, y1 = (round(v * 0.55) for v in PORTRAIT_FACE)
    return frame, (x + x0, y + y0, x + x1, y + y1)


@pytest.mark.parametrize(("height", "width"), [(360, 640), (640, 360)])
def test_two_near_square_tiles_overlap_and_cover_the_frame(height: int, width: int) -> None:
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    cut = tiles(frame)
    assert len(cut) == 2
    covered = np.zeros(frame.shape[:2], dtype=np.uint8)
    for x, y, tile in cut:
        long_side = max(tile.shape[:2])
        assert long_side < max(height, width) * 0.6  # each tile is searched at a larger scale
        covered[y : y + tile.shape[0], x : x + tile.shape[1]] += 1
    assert covered.min() >= 1
    assert covered.max() == 2  # neighbours overlap


def test_a_small_face_is_found_in_tiles_and_hidden() -> None:
    frame, (fx0, fy0, fx1, fy1) = _small_face_frame()
    assert haar_faces(frame) > 0  # the check detector sees the face before scrubbing
    detector = FaceDetector()
    try:
        boxes = detector.detect(frame)
    finally:
        detector.close()
    cx, cy = (fx0 + fx1) / 2, (fy0 + fy1) / 2
    assert any(b.x0 <= cx <= b.x1 and b.y0 <= cy <= b.y1 for b in boxes)
    for mode in ("blur", "mask"):
        assert haar_faces(hide_faces(frame, boxes, mode=mode)) == 0
