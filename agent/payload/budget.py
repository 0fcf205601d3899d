"""The expansion budget of one request: every container and decoding layer draws on it.

Archives, compressed files and encodings can turn a small body into an enormous one (a 42 KB
ZIP bomb holds petabytes). One `ExpansionBudget` per request counts what the walker has
expanded and stops it at the first bound passed: total bytes, ratio of one container,
entries, nesting depth, wall time. The error names the bound (`BoundExceeded.bound`), so the
fail-closed reason an analyst reads says which one, and the walker never holds more than the
byte bound in expanded data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from agent.payload.types import ExtractLimits, PayloadError

RATIO_FLOOR_BYTES = 1 << 20
"""A container's ratio is judged once it produced this much: small files compress absurdly well too."""


class BoundExceeded(PayloadError):
    """An expansion bound was passed; `bound` is the limit's name in `ExtractLimits`."""

    def __init__(self, bound: str, message: str) -> None:
        super().__init__(f"{message} (bound {bound})")
        self.bound = bound


class EncryptedContainer(PayloadError):
    """A container whose content is encrypted: it cannot be inspected."""


@dataclass
class ExpansionBudget:
    limits: ExtractLimits
    expanded: int = 0
    entries: int = 0
    started: float = field(default_factory=time.monotonic)

    def spend(self, size: int) -> None:
        """Count `size` more bytes expanded (decompressed or decoded) for this request."""
        self.expanded += size
        if self.expanded > self.limits.max_expanded_bytes:
            raise BoundExceeded(
                "max_expanded_bytes",
                f"containers expand to more than {self.limits.max_expanded_bytes >> 20} MB",
            )
        self.check_time()

    def entry(self) -> None:
        """Count one more archive entry (or email part, or PDF attachment)."""
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise BoundExceeded("max_entries", f"containers hold more than {self.limits.max_entries} entries")
        self.check_time()

    def check_ratio(self, produced: int, consumed: int, what: str) -> None:
        """A single container expanding beyond `max_compression_ratio` is a decompression bomb."""
        if produced > RATIO_FLOOR_BYTES and produced > max(consumed, 1) * self.limits.max_compression_ratio:
            raise BoundExceeded(
                "max_compression_ratio",
                f"{what} expands more than {self.limits.max_compression_ratio}x: decompression bomb",
            )

    def check_depth(self, depth: int) -> None:
        if depth > self.limits.max_container_depth:
            raise BoundExceeded(
                "max_container_depth", f"containers nested more than {self.limits.max_container_depth} deep"
            )

    def check_time(self) -> None:
        if time.monotonic() - self.started > self.limits.max_expand_s:
            raise BoundExceeded("max_expand_s", f"opening containers took more than {self.limits.max_expand_s:g} s")
