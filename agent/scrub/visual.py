"""Frame pipelines shared by video and images: hide faces or redraw people as skeletons."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from agent.scrub.frames import draw_skeleton, hide_faces
from agent.scrub.models import FaceDetector, PoseEstimator, RGBImage
from agent.scrub.options import ScrubOptions
from agent.scrub.smoothing import FaceSmoother


class FramePipeline:
    """Turns a stream of RGB frames into scrubbed frames, counting what it did."""

    def __init__(self, options: ScrubOptions, *, video: bool) -> None:
        self.options = options
        self.frames = 0
        self.people_found = 0
        self._pose = PoseEstimator(video=video) if options.people == "skeleton" else None
        self._faces = FaceDetector() if options.people != "skeleton" and options.faces != "keep" else None
        self._smoother = FaceSmoother(self._faces.detect) if self._faces is not None else None

    def run(self, frames: Iterable[RGBImage]) -> Iterator[RGBImage]:
        for frame in frames:
            self.frames += 1
            if self._pose is not None:
                landmarks = self._pose.landmarks(frame)
                self.people_found += landmarks is not None
                yield draw_skeleton(frame.shape[0], frame.shape[1], landmarks, self._pose.connections)
            elif self._smoother is not None:
                for ready, boxes in self._smoother.push(frame):
                    yield hide_faces(ready, boxes, mode=self.options.faces)
            else:
                yield frame
        if self._smoother is not None:
            for ready, boxes in self._smoother.flush():
                yield hide_faces(ready, boxes, mode=self.options.faces)

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
