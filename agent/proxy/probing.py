"""Which bytes of an upload get probed by decoding, and what unreadable bytes mean.

Extraction names parts by their headers; bytes whose first bytes are no known header (an MP3
behind zeros, a WAV behind a `%PDF` prefix, WavPack, headerless PCM) yield no part at all.
For uploads to AI services those bytes are handed to `agent.media.probe` anyway, above a size
floor (smaller blobs cannot hold a recording worth matching):

- `unread_leaves`: the leaves the payload walker could not name, at any depth (a body, a multipart
  part, an archive entry, a decoded base64 string);
- `probe_part`: a part libmagic does not call media, read from any media marker, then as PCM.

What still cannot be read, is large enough to be a recording and is unidentified (libmagic
says `application/octet-stream`, or an audio/video type we cannot decode) becomes an
inspection error, so the verdict fails closed for unapproved AI services and passes elsewhere.
So do bytes that look compressed or encrypted (near 8 bits of entropy per byte) whatever
libmagic guesses from their first bytes: its weak rules name about 1.7 % of random blobs
("DOS executable (COM)" for a leading 0xE9 or 0xB8, "MPEG-4 LOAS", "zlib"), so a name is no
sign that the bytes are harmless. Documents and archives the walker opens (PDF, ZIP...) are
not failed for being unread: their contents, and their failures, are the walker's job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.media.model import MatchOutcome, MediaLimits
from agent.media.probe import DecodingMatcher, probe_match
from agent.payload.containers import container_kind
from agent.payload.sniff import MARKER_SCAN_BYTES
from agent.payload.types import Extraction, PayloadPart

PROBE_FLOOR = 64 << 10
"""Bytes below this are not probed, nor failed closed for being unreadable (~4 s of 128 kbit/s audio)."""
PROBE_BUDGET_S = 8.0
"""Wall-clock budget of one part's probe (marker decodes + PCM rates)."""
UNIDENTIFIED = frozenset({"application/octet-stream", "application/x-data", "application/data", ""})
"""What libmagic answers when it does not know the bytes."""
OPAQUE_BITS_PER_BYTE = 7.8
"""Byte entropy above which bytes are compressed or encrypted (they score 7.9-8; machine code ~6,
text ~4.5, loud 16-bit PCM ~7.7)."""
ENTROPY_SAMPLES = 4
ENTROPY_SAMPLE_BYTES = 16 << 10
"""The entropy is read from this many evenly spaced stretches of this size."""


@dataclass(frozen=True)
class ProbePolicy:
    """How uploads to one destination are probed (None for destinations that are not AI services)."""

    floor: int = PROBE_FLOOR
    budget_s: float = PROBE_BUDGET_S
    fail_closed: bool = True
    """Unreadable unidentified bytes above the floor are an inspection error."""


@dataclass(frozen=True)
class Probed:
    outcome: MatchOutcome | None
    """The probe's reading (a match, or audio that matched nothing); None: not readable."""
    how: str | None
    error: str | None
    """Set when the bytes stay unreadable and policy fails them closed."""


def unread_leaves(extraction: Extraction, floor: int) -> list[PayloadPart]:
    """Leaves the payload walker could not name (no header, no container, no text) of at least
    `floor` bytes: the bytes a decoder may still read (an MP3 behind zeros, headerless PCM)."""
    return [part for part in extraction.unknown if len(part.data) >= floor]


def probe_part(
    media: DecodingMatcher, data: bytes | memoryview, sniffed: str | None, policy: ProbePolicy, limits: MediaLimits
) -> Probed:
    """Read `data` (which libmagic calls `sniffed`, not media) by decoding; None when below the floor."""
    if len(data) < policy.floor:
        return Probed(None, None, None)
    result = probe_match(media, data, limits=limits, budget_s=policy.budget_s)
    if result.outcome is not None:
        return Probed(result.outcome, result.how, None)
    base = (sniffed or "").split(";", 1)[0].strip().lower()
    what = _unreadable(data, base) if policy.fail_closed else None
    if what is not None:
        budget = " (probe time budget spent)" if result.exhausted else ""
        error = f"{len(data) >> 10} KB of {what} could not be read as media{budget}; it could hold a recording"
        return Probed(None, None, error)
    return Probed(None, None, None)


def _unreadable(data: bytes | memoryview, base: str) -> str | None:
    """What unreadable bytes that libmagic calls `base` are, when they could hide a recording;
    None for bytes it names that are not opaque, and for containers the walker opens."""
    if base in UNIDENTIFIED:
        return "unidentified binary data"
    if base.startswith(("audio/", "video/")):
        return f"{base} that cannot be decoded"
    if container_kind(bytes(data[:MARKER_SCAN_BYTES])) is None and byte_entropy(data) >= OPAQUE_BITS_PER_BYTE:
        return f"compressed or encrypted bytes (libmagic guesses {base or 'nothing'})"
    return None


def byte_entropy(data: bytes | memoryview) -> float:
    """The highest Shannon entropy of byte values, in bits per byte, over up to
    `ENTROPY_SAMPLES` stretches spread across `data`: an opaque body behind a structured
    header (or padding) is opaque."""
    size = len(data)
    span = min(size, ENTROPY_SAMPLE_BYTES)
    highest = 0.0
    for start in sorted({(size - span) * k // max(1, ENTROPY_SAMPLES - 1) for k in range(ENTROPY_SAMPLES)}):
        counts = np.bincount(np.frombuffer(data[start : start + span], dtype=np.uint8), minlength=256)
        if span:
            p = counts[counts > 0] / span
            highest = max(highest, float(-(p * np.log2(p)).sum()))
    return highest
