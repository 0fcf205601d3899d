"""Frame pipelines shared by video and images: hide faces or redraw people as skeletons."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from agent.scrub.frames import draw_skeleton, hide_faces
from agent.scrub.models import TILE_STRIDE, FaceDetector, Landmarks, PoseEstimator, RGBImage
from agent.scrub.options import ScrubOptions
from agent.scrub.smoothing import FaceSmoother

POSE_STRIDE = 2
"""The pose model runs on every second video frame; the frames between get landmarks
interpolated from their neighbours. BlazePose costs most of a skeleton frame's time, and at
25-30 fps a joint moves little in 1/25 s. The output is drawn on a new canvas either way, so no
input pixel reaches it."""


def interpolate_landmarks(before: Landmarks | None, after: Landmarks | None, fraction: float) -> Landmarks | None:
    """Landmarks `fraction` (0..1) of the way from `before` to `after`; the nearer one when either is missing."""
    if before is None or after is None:
        return before if fraction < 0.5 else after
    return [
        (round(x0 + (x1 - x0) * fraction), round(y0 + (y1 - y0) * fraction), min(v0, v1))
        for (x0, y0, v0), (x1, y1, v1) in zip(before, after, strict=True)
    ]


class FramePipeline:
    """Turns a stream of RGB frames into scrubbed frames, counting what it did."""

    def __init__(self, options: ScrubOptions, *, video: bool, pose_stride: int = POSE_STRIDE) -> None:
        self.options = options
        self._pose_stride = pose_stride if video else 1
        self.frames = 0
        self.people_found = 0
        self._pose = PoseEstimator(video=video) if options.people == "skeleton" else None
        hides_faces = options.people != "skeleton" and options.faces != "keep"
        self._faces = FaceDetector(tile_every=TILE_STRIDE if video else 1) if hides_faces else None
        self._smoother = FaceSmoother(self._faces.detect) if self._faces is not None else None

    def run(self, frames: Iterable[RGBImage]) -> Iterator[RGBImage]:
        if self._pose is not None:
            yield from self._skeletons(frames, self._pose)
            return
        for frame in frames:
            self.frames += 1
            if self._smoother is not None:
                for ready, boxes in self._smoother.push(frame):
                    yield hide_faces(ready, boxes, mode=self.options.faces)
            else:
                yield frame
        if self._smoother is not None:
            for ready, boxes in self._smoother.flush():
                yield hide_faces(ready, boxes, mode=self.options.faces)

    def _skeletons(self, frames: Iterable[RGBImage], pose: PoseEstimator) -> Iterator[RGBImage]:
        """Skeleton frames, running the pose model on every `pose_stride`-th frame only.

        Skipped frames keep just their size (no pixels) until the next analysed frame arrives,
        then are drawn with interpolated landmarks; trailing ones reuse the last landmarks.
        """
        previous: Landmarks | None = None
        waiting: list[tuple[int, int]] = []
        for frame in frames:
            self.frames += 1
            height, width = frame.shape[:2]
            if (self.frames - 1) % self._pose_stride:
                waiting.append((height, width))
                continue
            landmarks = pose.landmarks(frame)
            self.people_found += landmarks is not None
            for k, (h, w) in enumerate(waiting, 1):
                between = interpolate_landmarks(previous, landmarks, k / (len(waiting) + 1))
                self.people_found += between is not None
                yield draw_skeleton(h, w, between, pose.connections)
            waiting = []
            yield draw_skeleton(height, width, landmarks, pose.connections)
            previous = landmarks
        for h, w in waiting:
            self.people_found += previous is not None
            yield draw_skeleton(h, w, previous, pose.connections)

    def describe(self) -> str:
        if self._pose is not None:
            return f"people drawn as skeletons (a person in {self.people_found}/{self.frames} frames)"
        if self._smoother is not None:
            verb = "blurred" if self.options.faces == "blur" else "masked"
            return f"faces {verb} (found in {self._smoother.frames_with_faces}/{self.frames} frames)"
        return "faces kept"

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
        if self._faces is not None:
            self._faces.close()
