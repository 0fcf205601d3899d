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
Documents and archives libmagic does identify (PDF, ZIP...) are not failed for being unread:
their contents are the payload walker's job.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.media.model import MatchOutcome, MediaLimits
from agent.media.probe import DecodingMatcher, probe_match
from agent.payload.types import Extraction, PayloadPart

PROBE_FLOOR = 64 << 10
"""Bytes below this are not probed, nor failed closed for being unreadable (~4 s of 128 kbit/s audio)."""
PROBE_BUDGET_S = 8.0
"""Wall-clock budget of one part's probe (marker decodes + PCM rates)."""
UNIDENTIFIED = frozenset({"application/octet-stream", "application/x-data", "application/data", ""})
"""What libmagic answers when it does not know the bytes."""


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
    if policy.fail_closed and (base in UNIDENTIFIED or base.startswith(("audio/", "video/"))):
        what = "unidentified binary data" if base in UNIDENTIFIED else f"{base} that cannot be decoded"
        budget = " (probe time budget spent)" if result.exhausted else ""
        error = f"{len(data) >> 10} KB of {what} could not be read as media{budget}; it could hold a recording"
        return Probed(None, None, error)
    return Probed(None, None, None)
