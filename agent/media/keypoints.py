"""Local features of a few keyframes (OpenCV ORB), for pictures a global pHash cannot find.

A pHash summarises the whole frame: it survives re-encoding and mild crops, but not a
quarter turn, the clinical video shown at a third of a screen recording, or a screen filmed
with a phone. ORB keypoints are local, rotation-invariant and found at several scales, so a
part of the query frame can be matched to an enrolled keyframe and the geometry between them
checked (`rectify.py`).

Only a few keyframes per enrolled video are described (one every KEYFRAME_STEP_S, skipping
near-duplicates, at most MAX_KEYFRAMES) with a capped number of features, on a grey copy of
the frame DETAIL_WIDTH pixels wide: enrolment stays cheap and the print small
(~36 bytes per keypoint).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

ENROL_DETAIL_WIDTH = 480  # enrolled keyframes are described at this width
QUERY_DETAIL_WIDTH = 960  # query frames larger: the enrolled picture may be a third of them
KEYFRAME_STEP_S = 2.0
QUERY_STEP_S = 1.0
MAX_KEYFRAMES = 48
MAX_QUERY_FRAMES = 8
ENROL_FEATURES = 300
QUERY_FEATURES = 2000
DUPLICATE_BITS = 8  # a keyframe within this many pHash bits of the previous one adds nothing
DESCRIPTOR_BYTES = 32
ZOOM = 2.0  # a query frame without a hit is described again this much larger

_RECORD = struct.Struct("<fHHI")  # time, width, height, keypoints of one keyframe

F32Array = npt.NDArray[np.float32]
U8Array = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class KeyFrame:
    t: float
    width: int
    height: int
    points: F32Array  # (n, 2) pixel coordinates at `width` x `height`
    descriptors: U8Array  # (n, 32) ORB descriptors


@dataclass(frozen=True)
class KeypointPrint:
    frames: tuple[KeyFrame, ...]

    @property
    def count(self) -> int:
        return len(self.frames)


def _orb(features: int) -> cv2.ORB:
    return cv2.ORB.create(
        nfeatures=features, scaleFactor=1.2, nlevels=8, edgeThreshold=15, patchSize=31, fastThreshold=10
    )


def describe(gray: U8Array, t: float, features: int) -> KeyFrame | None:
    """ORB keypoints of one grey picture (None when it has too few to be matched)."""
    keypoints, descriptors = _orb(features).detectAndCompute(np.ascontiguousarray(gray), None)
    if descriptors is None or len(keypoints) < 12:
        return None
    points = np.array([k.pt for k in keypoints], dtype=np.float32).reshape(-1, 2)
    h, w = gray.shape
    return KeyFrame(t=t, width=int(w), height=int(h), points=points, descriptors=descriptors.astype(np.uint8))


def describe_zoomed(gray: U8Array, t: float, features: int, factor: float = ZOOM) -> KeyFrame | None:
    """`describe` of the picture enlarged by `factor`, with the points scaled back to the
    picture's own pixels: a query that shows the enrolled picture small (picture-in-picture
    at a third of the frame) then meets the keyframe's fine pyramid levels, where most of
    its keypoints are."""
    h, w = gray.shape
    big = cv2.resize(gray, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_CUBIC)
    frame = describe(np.asarray(big, dtype=np.uint8), t, features)
    if frame is None:
        return None
    return KeyFrame(
        t=t, width=int(w), height=int(h), points=frame.points / np.float32(factor), descriptors=frame.descriptors
    )


def encode(p: KeypointPrint) -> bytes:
    """Records (time, width, height, n) then all points (float32) then all descriptors."""
    head = b"".join(_RECORD.pack(f.t, f.width, f.height, f.points.shape[0]) for f in p.frames)
    points = b"".join(f.points.astype("<f4", copy=False).tobytes() for f in p.frames)
    descriptors = b"".join(f.descriptors.tobytes() for f in p.frames)
    return head + points + descriptors


def decode(count: int, body: bytes | memoryview) -> KeypointPrint:
    """The inverse of `encode`; ValueError when the body does not fit `count` keyframes."""
    data = bytes(body)
    if len(data) < count * _RECORD.size:
        raise ValueError("keypoint print is truncated")
    records = [_RECORD.unpack_from(data, i * _RECORD.size) for i in range(count)]
    total = sum(r[3] for r in records)
    at = count * _RECORD.size
    if len(data) != at + total * (8 + DESCRIPTOR_BYTES):
        raise ValueError("keypoint print has the wrong length")
    points = np.frombuffer(data, dtype="<f4", count=2 * total, offset=at).reshape(total, 2)
    descriptors = np.frombuffer(data, dtype=np.uint8, offset=at + 8 * total).reshape(total, DESCRIPTOR_BYTES)
    frames: list[KeyFrame] = []
    start = 0
    for t, w, h, n in records:
        frames.append(
            KeyFrame(
                t=float(t),
                width=int(w),
                height=int(h),
                points=points[start : start + n].astype(np.float32),
                descriptors=descriptors[start : start + n].copy(),
            )
        )
        start += n
    return KeypointPrint(tuple(frames))
