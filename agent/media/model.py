"""The value types of the Media API (team contract): limits, matches and outcomes.

They are plain frozen dataclasses so the proxy, the watcher and the fleet code can pass them
between threads and log them without touching numpy or PyAV.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MediaKind = Literal["audio", "video", "image"]


@dataclass(frozen=True)
class MediaLimits:
    """Bounds on one decode: input size, media duration and wall-clock decode time."""

    max_bytes: int = 2 << 30
    max_duration_s: float = 6 * 3600
    max_decode_s: float = 120.0


@dataclass(frozen=True)
class MediaMatch:
    """An enrolled asset recognised in a query."""

    asset_id: str  # sha256 hex of the enrolled file
    path: str  # where it was enrolled from (analysts only, never to clients)
    kind: str  # "audio" | "video" | "image": which print matched
    score: float  # calibrated 0..1
    offset_s: float  # where in the enrolled asset the query starts
    # Which stage found it: "sound", "warped-sound", "frames", "turned-frames", "inset", "screen",
    # "keypoints", "band" (analysts and benchmarks attribute matches with it).
    method: str = ""
    # Other enrolled assets the evidence fits as well as this one (pixel-identical pictures
    # and no sound to tell them apart): the query is enrolled clinical media, one of these or
    # `asset_id`, which one cannot be told. Empty for a match that names its asset.
    alternatives: tuple[str, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return bool(self.alternatives)


@dataclass(frozen=True)
class MatchOutcome:
    """The answer to one match request; `error` says why media could not be inspected."""

    match: MediaMatch | None
    mime: str | None  # sniffed MIME type; None when nothing could be read
    media_kind: str | None  # "audio" | "video" | "image" | None (not media)
    error: str | None
    ms: float


@dataclass(frozen=True)
class EnrollOutcome:
    """The answer to one enrolment; `new` is False when the content was already enrolled."""

    asset_id: str | None
    path: str
    kind: str | None
    new: bool
    error: str | None
    store_failed: bool = False
    """The store failed, not the file (locked, full, unreachable): `error` says how; retry later."""


@dataclass(frozen=True)
class Sniffed:
    """What the bytes really are (libmagic), whatever the file is called."""

    mime: str
    kind: str | None  # "audio" | "video" | "image" | None when not media we inspect
