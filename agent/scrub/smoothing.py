"""Temporal smoothing of face boxes: a box persists for N frames before and after each detection.

Detectors miss faces now and then (motion blur, a turned head); one unhidden frame is enough to
identify someone. Every frame is therefore hidden with the union of the boxes found in the N
frames around it, which needs N frames of look-ahead: frames come out N frames late.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from agent.scrub.models import Box, RGBImage

PERSIST_FRAMES = 6


class FaceSmoother:
    """Feeds frames through `detect`, yields each with the face boxes of its neighbourhood."""

    def __init__(self, detect: Callable[[RGBImage], list[Box]], *, persist: int = PERSIST_FRAMES) -> None:
        self._detect = detect
        self._persist = persist
        self._pending: deque[tuple[RGBImage, list[Box]]] = deque()
        self._recent: deque[list[Box]] = deque(maxlen=persist)
        self.frames_with_faces = 0

    def push(self, frame: RGBImage) -> Iterator[tuple[RGBImage, list[Box]]]:
        """Add one frame; yield the frames whose neighbourhood is now complete."""
        boxes = self._detect(frame)
        if boxes:
            self.frames_with_faces += 1
        self._pending.append((frame, boxes))
        while len(self._pending) > self._persist:
            yield self._emit()

    def flush(self) -> Iterator[tuple[RGBImage, list[Box]]]:
        """The frames still waiting for look-ahead, at the end of the stream."""
        while self._pending:
            yield self._emit()

    def _emit(self) -> tuple[RGBImage, list[Box]]:
        frame, own = self._pending[0]
        boxes = [box for past in self._recent for box in past]
        boxes += [box for _, ahead in self._pending for box in ahead]
        self._pending.popleft()
        self._recent.append(own)
        return frame, boxes
