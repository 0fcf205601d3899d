"""What payload extraction produces: candidate media parts, with bounds on how far it digs.

Extraction never fingerprints anything: it turns a request body into the byte strings that
might be media (a raw file, a multipart part, a base64 string inside JSON) and says where each
came from. `where` names structure only (field names, JSON keys), never values, so it can go
into events without carrying PHI.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class PayloadError(ValueError):
    """The body is malformed or exceeds a bound; the message says which and why."""


@dataclass(frozen=True)
class ExtractLimits:
    """Size and depth bounds for one request body. Defaults suit a 256 MB inspection limit."""

    max_bytes: int = 256 << 20
    """Largest body (after content decoding) that is inspected at all."""
    max_parts: int = 64
    """Most candidate parts taken from one body; more is reported as truncated."""
    max_multipart_depth: int = 3
    """multipart/mixed inside multipart/form-data inside ... at most this deep."""
    max_json_depth: int = 64
    max_json_nodes: int = 2_000_000
    min_base64_chars: int = 256
    """Shorter strings are not worth decoding: no fingerprintable media fits in 192 bytes."""
    max_encoding_layers: int = 3
    max_text_layers: int = 3
    """base64 of base64 (of hex...): encodings of encodings peeled off one run (see layers.py)."""
    max_compression_ratio: int = 1000
    """Decoded size over encoded size beyond this is treated as a decompression bomb."""
    max_expanded_bytes: int = 256 << 20
    """All containers and encodings of one request together expand to at most this."""
    max_entries: int = 10_000
    """Archive entries, email parts and PDF attachments of one request, all containers together."""
    max_container_depth: int = 4
    """A ZIP in a tar.gz in an email ... at most this deep."""
    max_expand_s: float = 10.0
    """Wall time spent opening containers for one request."""
    min_unknown_bytes: int = 64 << 10
    """Leaves no sniffer recognises are kept as `unknown` (for probing by decoding) from this size."""
    max_unknown_held: int = 32 << 20
    """Expanded unknown leaves held whole up to this total; past it, a leaf the decoding probe
    cannot read beyond its first MB (no marker, no frame sync, not PCM: leaves.py) is held as
    that head only. Checking costs ~30 ms per leaf, so small uploads never pay it."""


@dataclass(frozen=True)
class PcmFormat:
    """Headerless audio as realtime APIs send it (no file header to sniff)."""

    sample_rate: int
    channels: int = 1
    sample_format: str = "s16le"


@dataclass(frozen=True)
class PayloadPart:
    """One candidate media object found in a body."""

    where: str
    """Structural location through the wrappers: "body", "multipart:file",
    "json:$.messages[0].content[1].input_audio.data", "multipart:file > zip#3(.wav)". Names
    structure only (field names, JSON keys, container kinds, entry indexes and extensions),
    never values nor names of files inside containers, so it can go into events."""
    data: bytes | memoryview
    """The candidate's bytes; a view into the request body where it is a slice of it (no copy)."""
    declared_type: str | None = None
    """MIME type the client declared for this part (Content-Type, data: URI, mimeType key), if any."""
    pcm: PcmFormat | None = None
    """Set when the part is headerless PCM (declared by the protocol), so it is matched as PCM."""
    kind: str = "media"
    """"media": sniffed, declared or marked as media; "unknown": no sniffer recognised it (see
    `Extraction.unknown`: large leaves a decoder may still read)."""


@dataclass
class Extraction:
    """Parts found in one body plus everything that went wrong finding them."""

    parts: list[PayloadPart] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    truncated: bool = False
    decoded_size: int = 0
    unknown: list[PayloadPart] = field(default_factory=list)
    """Leaves of at least `min_unknown_bytes` that nothing recognised (kind "unknown"), for a
    decoding probe; at most `max_parts` of them. Not matched by the proxy as they are."""
    encrypted: list[str] = field(default_factory=list)
    """Paths of encrypted containers (archives, PDFs): their content could not be inspected."""
    containers: list[str] = field(default_factory=list)
    """Paths of the containers opened (kinds and entry indexes only), for events."""

    def add(self, part: PayloadPart, limits: ExtractLimits) -> bool:
        """Keep `part` unless the part budget is spent; returns False when extraction should stop."""
        if len(self.parts) >= limits.max_parts:
            if not self.truncated:
                self.truncated = True
                self.errors.append(f"more than {limits.max_parts} candidate parts: the rest were not inspected")
            return False
        self.parts.append(part)
        return True
