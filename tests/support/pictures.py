"""Generated pictures with detail at several scales, for keypoint tests and benchmarks."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]


def textured(seed: int, width: int = 480, height: int = 270) -> U8:
    """A picture with detail at several scales: blurred noise plus random rectangles and discs."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (height, width), dtype=np.uint8), (0, 0), 3)
    for _ in range(40):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        colour = int(rng.integers(0, 255))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(8, 60)), y + int(rng.integers(8, 60))), colour, -1)
        else:
            cv2.circle(img, (x, y), int(rng.integers(4, 30)), colour, -1)
    return np.asarray(img, dtype=np.uint8)
