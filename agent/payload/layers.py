"""Text that is itself encoded: base64 of base64, base64 of hex, hex of base64.

A clinician (or a script) that base64-encodes a file which is already base64 text, or pastes
`xxd -p` output into a tool that base64-encodes it again, hides the media's magic number one
layer down: the first decoding gives ASCII, not `ID3` or `RIFF`. `encoded_media_head` peels
layers off a decoded head (a few KB, never the whole body) and says whether media or a
wrapper sits underneath, so the walker decodes the run only then and walks the decoded text
again, one layer at a time.

The number of layers is bounded (`MAX_TEXT_LAYERS`, `ExtractLimits.max_text_layers`) for two
reasons. Each layer is a full decode of the run (3/4 of its size for base64, 1/2 for hex) drawn
on the request's expansion budget, and every layer multiplies the chances that random text
decodes to something with a plausible signature; three layers already cover every chain seen
in practice (double base64, base64 of hex, hex of base64, and one more on top), while an
adversary who stacks ten gains nothing a decoder would not also have to undo on the far side.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable

MAX_TEXT_LAYERS = 3
"""Encodings of encodings peeled off one run: see the module docstring for why it is bounded."""
_SPACE = re.compile(rb"\s+|\\[nr]")
_HEX_TEXT = re.compile(rb"[0-9a-fA-F]{32,}")
_B64_TEXT = re.compile(rb"[A-Za-z0-9+/_-]{32,}")
_URLSAFE = bytes.maketrans(b"-_", b"+/")
HEAD_CHARS = 8192
"""Encoded characters of a head decoded per layer: enough for any signature, cheap to redo."""


def inner_head(head: bytes) -> bytes | None:
    """What `head` decodes to when it is base64 or hex text from its first character, else None.

    Hex first: hex digits are base64 characters too, and 32 hex digits in a row from
    base64 of binary data are vanishingly rare.
    """
    text = head[:HEAD_CHARS].strip()
    if b"\n" in text[:256] or b" " in text[:256] or b"\\" in text[:256]:
        text = _SPACE.sub(b"", text)  # line-wrapped (the `base64` tool, MIME, xxd -p)
    hexed = _HEX_TEXT.match(text)
    if hexed is not None:
        digits = hexed.group()
        return binascii.unhexlify(digits[: len(digits) - len(digits) % 2])
    encoded = _B64_TEXT.match(text)
    if encoded is None:
        return None
    chars = encoded.group().translate(_URLSAFE)
    try:
        return binascii.a2b_base64(chars[: len(chars) - len(chars) % 4], strict_mode=False)
    except (binascii.Error, ValueError):
        return None


def encoded_media_head(head: bytes, is_media: Callable[[bytes], bool], layers: int = MAX_TEXT_LAYERS) -> bool:
    """`head` is encoded text with media (or a wrapper: `is_media` decides) at most `layers` down."""
    return peel(head, is_media, layers) == MEDIA


MEDIA = "media"
DEEPER = "deeper"


def peel(head: bytes, is_media: Callable[[bytes], bool], layers: int) -> str | None:
    """Peel up to `layers` encodings off `head`: MEDIA when media (or a wrapper) shows under one
    of them, DEEPER when the text is still encoded after the last (the bound was reached: the
    caller reports it, so the request fails closed rather than passing unread), else None."""
    for _ in range(layers):
        inner = inner_head(head)
        if not inner:
            return None
        if is_media(inner):
            return MEDIA
        head = inner
    return DEEPER if layers >= 0 and inner_head(head) else None
