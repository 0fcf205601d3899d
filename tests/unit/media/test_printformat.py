"""The media_print binary format: round trips, and damaged or foreign blobs are refused."""

from __future__ import annotations

import numpy as np
import pytest

from agent.media import printformat
from agent.media.fingerprint import AudioPrint, FramePrint
from agent.media.frames import CHROMA_CELLS, LAYOUT_CELLS, SCALES


def audio_print() -> AudioPrint:
    rng = np.random.default_rng(1)
    return AudioPrint(
        chroma=rng.integers(0, 2**32, 40, dtype=np.uint32),
        hashes=rng.integers(0, 2**19, 300, dtype=np.uint32),
        times=np.sort(rng.integers(0, 5000, 300)).astype(np.uint32),
        seconds=12.5,
    )


def frame_print() -> FramePrint:
    rng = np.random.default_rng(2)
    return FramePrint(
        times=(np.arange(9) / 4).astype(np.float32),
        hashes=rng.integers(0, 2**63, (9, len(SCALES)), dtype=np.uint64),
        chroma=rng.integers(-127, 128, (9, 2 * CHROMA_CELLS), dtype=np.int8),
        layout=rng.integers(-127, 128, (9, LAYOUT_CELLS), dtype=np.int8),
    )


def test_audio_round_trip() -> None:
    original = audio_print()
    rows = printformat.encode_audio(original)
    assert set(rows) == {printformat.CHROMAPRINT, printformat.LANDMARKS}
    assert rows[printformat.LANDMARKS][1] == 300
    decoded = printformat.decode_audio(rows[printformat.CHROMAPRINT][2], rows[printformat.LANDMARKS][2], 12.5)
    assert np.array_equal(decoded.chroma, original.chroma)
    assert np.array_equal(decoded.hashes, original.hashes)
    assert np.array_equal(decoded.times, original.times)


def test_frames_round_trip() -> None:
    original = frame_print()
    version, count, blob = printformat.encode_frames(original)
    assert (version, count) == (printformat.ALGORITHM_VERSIONS[printformat.FRAMES], 9)
    decoded = printformat.decode_frames(blob)
    assert np.array_equal(decoded.hashes, original.hashes)
    assert np.array_equal(decoded.chroma, original.chroma)
    assert np.array_equal(decoded.layout, original.layout)
    assert np.allclose(decoded.times, original.times)


def test_damaged_and_foreign_blobs_are_refused() -> None:
    _, _, blob = printformat.encode_frames(frame_print())
    with pytest.raises(printformat.PrintFormatError, match="wrong length"):
        printformat.decode_frames(blob[:-3])
    with pytest.raises(printformat.PrintFormatError, match="no PhiWall header"):
        printformat.decode_frames(b"XXXX" + blob[4:])
    with pytest.raises(printformat.PrintFormatError, match="truncated"):
        printformat.decode_frames(blob[:5])
    newer = bytearray(blob)
    newer[6:8] = (printformat.ALGORITHM_VERSIONS[printformat.FRAMES] + 1).to_bytes(2, "little")
    with pytest.raises(printformat.PrintFormatError, match="version"):
        printformat.decode_frames(bytes(newer))
