"""Decode an upload body once and extract what inspection needs (pure: runs off the event loop).

The proxy's only entry into `agent.payload` for request bodies: the extraction, the decoded
prefix the shadow classifier reads, and the bytes a resumable-upload chunk contributes.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.payload import Extraction, ExtractLimits, MediaProbe, extract_payload
from agent.payload.encoding import decode_content
from agent.payload.multipart import parse_multipart
from agent.payload.types import PayloadError
from agent.shadow.shape import MAX_BODY_PREFIX

INLINE_EXTRACT_BYTES = 64 << 10
"""Uncompressed bodies up to this size are parsed on the event loop (well under a millisecond)."""
BODY_PREFIX_BYTES = MAX_BODY_PREFIX + 1
"""What the shadow classifier reads of a decoded body (+1 byte: it notes that there was more)."""


@dataclass
class Prepared:
    extraction: Extraction
    chunk_bytes: bytes | memoryview
    body_prefix: bytes = b""
    """The decoded body's first `BODY_PREFIX_BYTES` (for the shadow classifier)."""
    decoded: bytes | memoryview = b""
    """The body after Content-Encoding (for probing and split-upload pieces)."""


def prepare_upload(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None,
    limits: ExtractLimits,
    probe: MediaProbe,
    chunk_field: str | None,
) -> Prepared:
    """Decode once, extract candidate parts, and isolate the bytes a chunked upload contributes."""
    try:
        decoded = decode_content(body, content_encoding, limits)
    except PayloadError as exc:
        return Prepared(Extraction(errors=[str(exc)], decoded_size=len(body)), b"")
    extraction = extract_payload(decoded, content_type, None, limits, probe)
    prefix = decoded[:BODY_PREFIX_BYTES] if len(decoded) > BODY_PREFIX_BYTES else decoded
    chunk_bytes: bytes | memoryview = decoded
    if chunk_field is not None and content_type and content_type.lower().startswith("multipart/"):
        chunk_bytes = b""
        try:
            for part in parse_multipart(decoded, content_type).parts:
                if part.name == chunk_field:
                    chunk_bytes = part.data
                    break
        except PayloadError as exc:
            extraction.errors.append(str(exc))
    return Prepared(extraction, chunk_bytes, prefix, decoded)
