"""The binary format of `media_print.data` (owned by agent.media).

Every blob is a 16-byte header followed by little-endian numpy arrays:

    magic  b"PWMP"      4 bytes
    format u16          PRINT_FORMAT (layout of the arrays below)
    algo   u16          the algorithm version of this print kind (parameters that change the
                        values: STFT, peak picking, hash packing, frame scales...)
    count  u32          number of records
    extra  u32          kind-specific (frames: scales per frame)

    chromaprint: count x uint32 raw chromaprint items
    landmarks:   count x uint32 hashes, then count x uint32 anchor frames (23.2 ms units)
    frames:      count x float32 seconds, count x extra x uint64 pHashes,
                 count x 32 x int8 colour signature, count x 64 x int8 luminance layout
    keypoints:   count keyframe records (float32 seconds, u16 width, u16 height, u32 n),
                 then all keypoints' float32 x/y, then their 32-byte ORB descriptors
                 (`keypoints.py`; a row added beside the others, see `load_keypoints`)

`media_print.version` holds the same algorithm version, so stale prints can be found with SQL.
A print whose format or algorithm version this build does not know is not loaded (it would
never match) and is reported, so the asset can be enrolled again from its file.
"""

from __future__ import annotations

import struct
from typing import Final

import numpy as np

from agent.media import keypoints as kp
from agent.media.fingerprint import AudioPrint, FramePrint
from agent.media.frames import CHROMA_CELLS, LAYOUT_CELLS, SCALES

MAGIC: Final = b"PWMP"
PRINT_FORMAT: Final = 1
HEADER = struct.Struct("<4sHHII")

CHROMAPRINT: Final = "chromaprint"
LANDMARKS: Final = "landmarks"
FRAMES: Final = "frames"
KEYPOINTS: Final = "keypoints"
# Algorithm versions: bump when a change makes old prints incomparable with new queries.
ALGORITHM_VERSIONS: Final = {CHROMAPRINT: 1, LANDMARKS: 1, FRAMES: 3, KEYPOINTS: 1}


class PrintFormatError(ValueError):
    """A stored print is damaged or of a version this build cannot use."""


def _header(kind: str, count: int, extra: int = 0) -> bytes:
    return HEADER.pack(MAGIC, PRINT_FORMAT, ALGORITHM_VERSIONS[kind], count, extra)


def _parse_header(kind: str, data: bytes) -> tuple[int, int, memoryview]:
    if len(data) < HEADER.size:
        raise PrintFormatError(f"{kind} print is truncated")
    magic, fmt, algo, count, extra = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise PrintFormatError(f"{kind} print has no PhiWall header")
    if fmt != PRINT_FORMAT or algo != ALGORITHM_VERSIONS[kind]:
        raise PrintFormatError(
            f"{kind} print is version {fmt}.{algo}, this build reads {PRINT_FORMAT}.{ALGORITHM_VERSIONS[kind]}"
        )
    return count, extra, memoryview(data)[HEADER.size :]


def encode_audio(p: AudioPrint) -> dict[str, tuple[int, int, bytes]]:
    """kind -> (algorithm version, item count, blob) for the rows of an audio print."""
    chroma = p.chroma.astype("<u4", copy=False)
    lm = np.concatenate([p.hashes.astype("<u4", copy=False), p.times.astype("<u4", copy=False)])
    return {
        CHROMAPRINT: (
            ALGORITHM_VERSIONS[CHROMAPRINT],
            int(chroma.size),
            _header(CHROMAPRINT, chroma.size) + chroma.tobytes(),
        ),
        LANDMARKS: (
            ALGORITHM_VERSIONS[LANDMARKS],
            int(p.hashes.size),
            _header(LANDMARKS, p.hashes.size) + lm.tobytes(),
        ),
    }


def decode_audio(chroma_blob: bytes, landmark_blob: bytes, seconds: float) -> AudioPrint:
    n_chroma, _, body = _parse_header(CHROMAPRINT, chroma_blob)
    if len(body) != 4 * n_chroma:
        raise PrintFormatError("chromaprint print has the wrong length")
    chroma = np.frombuffer(body, dtype="<u4").astype(np.uint32)
    n_lm, _, body = _parse_header(LANDMARKS, landmark_blob)
    if len(body) != 8 * n_lm:
        raise PrintFormatError("landmark print has the wrong length")
    both = np.frombuffer(body, dtype="<u4").astype(np.uint32)
    return AudioPrint(chroma=chroma, hashes=both[:n_lm], times=both[n_lm:], seconds=seconds)


def encode_frames(p: FramePrint) -> tuple[int, int, bytes]:
    body = (
        p.times.astype("<f4", copy=False).tobytes()
        + p.hashes.astype("<u8", copy=False).tobytes()
        + p.chroma.astype(np.int8, copy=False).tobytes()
        + p.layout.astype(np.int8, copy=False).tobytes()
    )
    return ALGORITHM_VERSIONS[FRAMES], p.count, _header(FRAMES, p.count, len(SCALES)) + body


def decode_frames(blob: bytes) -> FramePrint:
    count, scales, body = _parse_header(FRAMES, blob)
    if scales != len(SCALES):
        raise PrintFormatError(f"frames print has {scales} scales, this build uses {len(SCALES)}")
    expected = count * (4 + 8 * scales + 2 * CHROMA_CELLS + LAYOUT_CELLS)
    if len(body) != expected:
        raise PrintFormatError("frames print has the wrong length")
    times = np.frombuffer(body, dtype="<f4", count=count)
    hashes = np.frombuffer(body, dtype="<u8", count=count * scales, offset=4 * count).reshape(count, scales)
    at = 4 * count + 8 * count * scales
    chroma = np.frombuffer(body, dtype=np.int8, count=count * 2 * CHROMA_CELLS, offset=at)
    layout = np.frombuffer(body, dtype=np.int8, offset=at + count * 2 * CHROMA_CELLS)
    return FramePrint(
        times=times.astype(np.float32),
        hashes=hashes.astype(np.uint64),
        chroma=chroma.reshape(count, 2 * CHROMA_CELLS).copy(),
        layout=layout.reshape(count, LAYOUT_CELLS).copy(),
    )


def encode_keypoints(p: kp.KeypointPrint) -> tuple[int, int, bytes]:
    return ALGORITHM_VERSIONS[KEYPOINTS], p.count, _header(KEYPOINTS, p.count) + kp.encode(p)


def decode_keypoints(blob: bytes) -> kp.KeypointPrint:
    count, _, body = _parse_header(KEYPOINTS, blob)
    try:
        return kp.decode(count, body)
    except ValueError as exc:
        raise PrintFormatError(str(exc)) from None
