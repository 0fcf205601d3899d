"""What the walker holds of large archive entries: views for stored entries, heads for noise.

A 100 MB upload of incompressible entries used to be held whole a second time (as unknown
leaves for the decoding probe). Stored entries are now views into the body, and past
`max_unknown_held` an entry the probe cannot read beyond its head is held as that head.
"""

from __future__ import annotations

import random
import tracemalloc

import numpy as np

from agent.payload import ExtractLimits, extract_payload
from agent.payload.leaves import probe_head
from agent.payload.types import Extraction
from tests.unit.payload import wrappers
from tests.unit.payload.test_walker import PROBE

MB = 1 << 20


def noise(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def pcm_tone(size: int) -> bytes:
    """Headerless s16le sound (a 440 Hz tone at 16 kHz with a little noise): what the probe reads as PCM."""
    t = np.arange(size // 2) / 16000
    samples = 8000 * np.sin(2 * np.pi * 440 * t) + np.random.default_rng(1).normal(0, 200, t.size)
    return samples.astype("<i2").tobytes()


def walk(body: bytes, limits: ExtractLimits) -> tuple[Extraction, int]:
    tracemalloc.start()
    result = extract_payload(body, "application/zip", None, limits, PROBE)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, peak


def test_stored_entries_are_views_into_the_body() -> None:
    body = wrappers.zip_of({f"{i}.bin": noise(2 * MB, i) for i in range(4)}, stored=True)
    result, peak = walk(body, ExtractLimits(max_unknown_held=0))
    assert len(result.unknown) == 4
    for index, part in enumerate(result.unknown):
        assert isinstance(part.data, memoryview)
        assert part.data.obj is body
        assert bytes(part.data) == noise(2 * MB, index)
        assert "[first" not in part.where  # free to hold whole: never cut
    assert peak < 2 * MB, f"peak {peak / MB:.1f} MB"


def test_noise_past_the_bound_is_held_as_its_head_only() -> None:
    body = wrappers.zip_of({f"{i}.jpg": noise(4 * MB, i) for i in range(10)})
    result, peak = walk(body, ExtractLimits(max_unknown_held=8 * MB))
    whole = [p for p in result.unknown if "[first" not in p.where]
    cut = [p for p in result.unknown if "[first" in p.where]
    assert len(whole) == 2, [p.where for p in result.unknown]
    assert len(cut) == 8
    for part in cut:
        assert len(part.data) < 1.1 * MB
        assert part.where.endswith(f"of {4 * MB >> 10} KB]")
    assert sum(len(p.data) for p in result.unknown) < 17 * MB
    # The old walker held all 40 MB; now one entry's buffer at a time plus the probe test's arrays.
    assert peak < 32 * MB, f"peak {peak / MB:.1f} MB"


def test_leaves_the_probe_may_read_are_held_whole() -> None:
    tone = pcm_tone(3 * MB)
    mp3_frames_late = noise(512 << 10, 9) + b"ID3\x04\x00" + noise(3 * MB, 10)
    assert probe_head(tone) is None  # PCM: matched on up to 32 MB
    assert probe_head(mp3_frames_late) is None  # a marker in the window: decoded from there to the end
    assert probe_head(noise(3 * MB, 11)) is not None
    body = wrappers.zip_of({"a.raw": tone, "b.bin": noise(3 * MB, 12)})
    result, _ = walk(body, ExtractLimits(max_unknown_held=0))
    assert [("[first" in p.where, len(p.data)) for p in result.unknown] == [
        (False, len(tone)),
        (True, probe_head(noise(3 * MB, 12))),
    ]


def test_bomb_is_refused_at_its_declared_size() -> None:
    body = wrappers.zip_of({"big.bin": bytes(300 * MB)})
    result, peak = walk(body, ExtractLimits())
    assert any("(bound max_" in error for error in result.errors), result.errors
    assert peak < 4 * MB, f"peak {peak / MB:.1f} MB"  # nothing expanded past the head


# --- every wrapper that cannot be opened is reported ------------------------------------------


def test_a_pdf_that_cannot_be_opened_is_an_error_naming_why() -> None:
    pdf = b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 4000 + b"%%EOF\n"
    result = extract_payload(pdf, "application/pdf", None, ExtractLimits(), PROBE)
    assert any(error.startswith("pdf: PDF is corrupt") for error in result.errors), result.errors


def test_a_valid_pdf_without_attachments_is_no_error() -> None:
    result = extract_payload(wrappers.pdf_without_attachments(), "application/pdf", None, ExtractLimits(), PROBE)
    assert not result.errors


def test_unread_leaves_past_the_part_bound_are_an_error() -> None:
    body = wrappers.zip_of({f"{i}.bin": noise(70 << 10, i) for i in range(6)}, stored=True)
    result = extract_payload(body, "application/zip", None, ExtractLimits(max_parts=4), PROBE)
    assert len(result.unknown) == 4
    assert any("(bound max_parts)" in error for error in result.errors), result.errors
