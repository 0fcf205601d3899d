"""Which bytes of an upload get probed by decoding, and what unreadable bytes mean.

Extraction names parts by their headers; bytes whose first bytes are no known header (an MP3
behind zeros, a WAV behind a `%PDF` prefix, WavPack, headerless PCM) yield no part at all.
For uploads to AI services those bytes are handed to `agent.media.probe` anyway, above a size
floor (smaller blobs cannot hold a recording worth matching):

- `unread_leaves`: the body, or its multipart parts, when extraction found nothing in them;
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
from agent.payload.multipart import parse_multipart
from agent.payload.types import Extraction, PayloadError, PayloadPart
from agent.payload.walker import main_type

PROBE_FLOOR = 64 << 10
"""Bytes below this are not probed, nor failed closed for being unreadable (~4 s of 128 kbit/s audio)."""
PROBE_BUDGET_S = 8.0
"""Wall-clock budget of one part's probe (marker decodes + PCM rates)."""
UNIDENTIFIED = frozenset({"application/octet-stream", "application/x-data", "application/data", ""})
"""What libmagic answers when it does not know the bytes."""
PARSED_TYPES = ("application/json", "application/x-www-form-urlencoded", "text/")


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


def unread_leaves(
    decoded: bytes | memoryview, content_type: str | None, extraction: Extraction, floor: int
) -> list[PayloadPart]:
    """Binary leaves extraction skipped: the raw body, or multipart parts without a candidate part.

    A stopgap until the payload walker yields every leaf: bodies parsed as JSON, forms or text
    are skipped (their strings were searched already).
    """
    main = main_type(content_type)
    if main.startswith("multipart/") and content_type:
        try:
            parsed = parse_multipart(decoded, content_type)
        except PayloadError:
            return []
        taken = {part.where.split(":", 1)[-1].split(".", 1)[0] for part in extraction.parts}
        leaves = []
        for index, part in enumerate(parsed.parts):
            label = part.name or str(index)
            parsed_type = main_type(part.content_type).startswith(PARSED_TYPES)
            if len(part.data) >= floor and label not in taken and not parsed_type:
                leaves.append(PayloadPart(f"multipart:{label}", part.data, part.content_type))
        return leaves
    if extraction.parts or len(decoded) < floor or main.startswith(PARSED_TYPES) or main.endswith("+json"):
        return []
    return [PayloadPart("body", decoded, content_type)]


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
