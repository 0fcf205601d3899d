"""Skeleton speed-up: the pose model runs on every second frame and the frames between get
interpolated landmarks; every output frame is still a new canvas with no pixel of the person."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("mediapipe")

from agent.scrub.options import ScrubOptions
from agent.scrub.visual import FramePipeline, interpolate_landmarks
from tests.support.faces import animated_frames


def test_interpolation_is_halfway_and_keeps_the_nearer_pose_when_one_is_missing() -> None:
    before = [(0, 0, 0.9), (10, 20, 0.5)]
    after = [(10, 10, 0.8), (30, 40, 0.7)]
    assert interpolate_landmarks(before, after, 0.5) == [(5, 5, 0.8), (20, 30, 0.5)]
    assert interpolate_landmarks(before, None, 0.4) == before
    assert interpolate_landmarks(before, None, 0.6) is None
    assert interpolate_landmarks(None, after, 0.6) == after


class CountingPose:
    """Stands in for BlazePose so the test can see which frames were analysed (the model itself is
    exercised by test_scrub.py); returns a pose that moves right by 10 px per analysed frame."""

    connections = [(0, 1)]

    def __init__(self) -> None:
        self.calls = 0

    def landmarks(self, rgb: np.ndarray) -> list[tuple[int, int, float]]:
        self.calls += 1
        x = 20 + 10 * self.calls
        return [(x, 40, 1.0), (x, 120, 1.0)]

    def close(self) -> None:
        pass


def test_pose_runs_on_every_second_frame_and_no_person_pixel_survives() -> None:
    frames = animated_frames(320, 180, 7)
    pipeline = FramePipeline(ScrubOptions(people="skeleton"), video=True)
    pose = CountingPose()
    pipeline._pose = pose  # type: ignore[assignment]
    out = list(pipeline.run(frames))
    assert len(out) == 7
    assert pose.calls == 4  # frames 1, 3, 5, 7
    assert pipeline.people_found == 7
    bone_columns = [int(np.flatnonzero(np.all(frame[80] == 255, axis=1)).mean()) for frame in out]
    assert bone_columns == sorted(bone_columns)  # interpolated frames sit between their neighbours
    assert bone_columns[1] not in (bone_columns[0], bone_columns[2])
    for source, frame in zip(frames, out, strict=True):
        assert frame.shape == source.shape
        background = np.all(frame == 128, axis=2)
        assert background.mean() > 0.9
        person = np.any(source != 90, axis=2)  # the portrait; the stage is flat grey 90
        kept = person & np.all(frame == source, axis=2) & ~background
        assert kept.sum() == 0


def test_images_are_analysed_one_by_one() -> None:
    pipeline = FramePipeline(ScrubOptions(people="skeleton"), video=False)
    pose = CountingPose()
    pipeline._pose = pose  # type: ignore[assignment]
    list(pipeline.run(animated_frames(160, 90, 3)))
    assert pose.calls == 3
