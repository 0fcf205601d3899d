"""Media hidden in text: `data:` URIs and base64 strings, as JSON and form bodies carry them.

AI APIs put files inside JSON as base64: OpenAI `input_audio.data`, Gemini `inline_data.data`,
Anthropic `source.data`, data: URIs in `image_url`. A string is decoded only when it could be
media: long enough, base64 alphabet, and either its decoded head sniffs as media or the
surrounding object declares a media type. A string in a field that *declares* media but is
not valid base64 is an inspection error (the caller fails closed on it), never ignored.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent.payload.types import PayloadError, PcmFormat

MediaProbe = Callable[[bytes], bool]
"""Cheap "is this the start of a media file?" test on the first few KB (agent.media.looks_like_media)."""

PROBE_CHARS = 8192
_B64_HEAD = re.compile(r"[A-Za-z0-9+/_-]{64}")
_WHITESPACE = re.compile(r"\s+")
_B64_BODY = re.compile(r"[A-Za-z0-9+/]*")
_DATA_URI = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[^,;]*)*?)(?P<b64>;base64)?,", re.IGNORECASE)
_RATE = re.compile(r"rate=(\d{4,6})")
_CHANNELS = re.compile(r"channels=(\d)")

# Keys whose sibling string holds the declared type of a base64 blob.
TYPE_KEYS = ("mime_type", "mimeType", "media_type", "mediaType", "content_type", "contentType", "format")
# Keys whose string value is declared to be binary data: invalid base64 there is an error.
DATA_KEYS = frozenset({"data", "audio", "file_data", "fileData", "b64_json", "bytes", "content"})

# OpenAI `input_audio.format` / realtime formats that mean headerless PCM.
# Names of headerless 16-bit little-endian PCM, with the sample rate each implies by default.
PCM_FORMAT_NAMES = {
    "pcm16": 24000,  # OpenAI realtime / input_audio
    "pcm": 24000,
    "audio/pcm": 24000,  # OpenAI realtime GA; Gemini always states ;rate=
    "pcm_s16le": 16000,
    "linear16": 16000,  # Google / Deepgram
    "audio/l16": 16000,
    "audio/raw": 16000,
    "audio/x-raw": 16000,
}


@dataclass(frozen=True)
class TextMedia:
    data: bytes
    declared_type: str | None
    pcm: PcmFormat | None


def pcm_format_for(declared: str | None) -> PcmFormat | None:
    """A PCM format if `declared` names headerless 16-bit PCM (`audio/pcm;rate=16000`, `pcm16`, `audio/L16`)."""
    if not declared:
        return None
    value = declared.strip().lower()
    base = value.split(";", 1)[0].strip()
    if base not in PCM_FORMAT_NAMES:
        return None
    rate_match = _RATE.search(value)
    channels_match = _CHANNELS.search(value)
    return PcmFormat(
        sample_rate=int(rate_match.group(1)) if rate_match else PCM_FORMAT_NAMES[base],
        channels=int(channels_match.group(1)) if channels_match else 1,
    )


def declared_media(declared: str | None) -> bool:
    if not declared:
        return False
    base = declared.strip().lower().split(";", 1)[0]
    return (
        base.startswith(("audio/", "video/", "image/"))
        or pcm_format_for(declared) is not None
        or base
        in {
            "wav",
            "mp3",
            "flac",
            "opus",
            "ogg",
            "aac",
            "m4a",
            "webm",
            "mp4",
        }
    )


def b64decode(text: str) -> bytes:
    """Standard or URL-safe base64, with or without padding and line breaks; PayloadError if not base64."""
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        pass
    cleaned = _WHITESPACE.sub("", text).replace("-", "+").replace("_", "/").rstrip("=")
    if not _B64_BODY.fullmatch(cleaned) or len(cleaned) % 4 == 1:
        raise PayloadError("invalid base64: characters outside the alphabet or a truncated final group")
    try:
        return binascii.a2b_base64(cleaned + "=" * (-len(cleaned) % 4), strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise PayloadError(f"invalid base64: {exc}") from None


def _probe_prefix(text: str) -> bytes | None:
    """The first few KB the string decodes to (lenient: only for sniffing, never for matching)."""
    head = text[:PROBE_CHARS]
    if "\n" in head or " " in head:
        head = _WHITESPACE.sub("", head)  # line-wrapped base64
    head = head[: len(head) - len(head) % 4].replace("-", "+").replace("_", "/")
    try:
        return binascii.a2b_base64(head, strict_mode=False)  # skips whitespace
    except (binascii.Error, ValueError):
        return None


def declared_type_in(container: Mapping[str, object]) -> str | None:
    for key in TYPE_KEYS:
        value = container.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, Mapping):  # OpenAI realtime GA: {"format": {"type": "audio/pcm", "rate": 24000}}
            kind, rate = value.get("type"), value.get("rate")
            if isinstance(kind, str):
                return f"{kind};rate={rate}" if isinstance(rate, int) else kind
    return None


def media_in_string(
    text: str,
    *,
    probe: MediaProbe,
    min_chars: int,
    declared: str | None = None,
    declared_data: bool = False,
) -> TextMedia | None:
    """Decode `text` if it carries media; None if it is just text.

    `declared` is the media type the surrounding structure gives; `declared_data` says the field
    is meant to hold binary data, so undecodable base64 there raises instead of passing silently.
    """
    if text.startswith(("data:", "DATA:", "Data:")):
        match = _DATA_URI.match(text)
        if match is None:
            raise PayloadError("malformed data: URI")
        mime = match.group("mime") or None
        payload = text[match.end() :]
        if not match.group("b64"):
            return None  # percent-encoded text data: URIs do not carry binary media in practice
        data = b64decode(payload)
        mime_full = (mime or "") + (match.group("params") or "")
        if declared_media(mime) or probe(data[:4096]):
            return TextMedia(data, mime_full or None, pcm_format_for(mime_full))
        return None
    if len(text) < min_chars:
        return None
    media_declared = declared_media(declared)
    if not _B64_HEAD.match(text):
        if media_declared:
            raise PayloadError("field declared as media does not hold base64")
        return None
    head = _probe_prefix(text)
    if head is None:
        if media_declared:
            raise PayloadError("field declared as media holds invalid base64")
        return None
    if not (media_declared or probe(head[:4096])):
        return None
    try:
        data = b64decode(text)
    except PayloadError:
        if media_declared or declared_data:
            raise
        return None
    return TextMedia(data, declared, pcm_format_for(declared))


# --- encoded media anywhere in text --------------------------------------------------------------

# A base64 run: at least 32 contiguous alphabet characters, then more groups separated by
# whitespace (line-wrapped base64 as the `base64` tool, MIME and SDKs emit), then padding.
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{32,}(?:[ \t]*(?:\r?\n|\\n|\\r\\n)?[ \t]*[A-Za-z0-9+/_-]+)*={0,2}")
# Hex: one run (`xxd -p` wraps it at 60 characters a line), or byte pairs apart (`de ad be ef`,
# `de:ad:be:ef`, a C array `0xde, 0xad` as `xxd -i` writes it).
_HEX_RUN = re.compile(r"[0-9a-fA-F]{32,}(?:[ \t]*(?:\r?\n|\\n|\\r\\n)[ \t]*[0-9a-fA-F]{2,})*")
_HEX_PAIRS = re.compile(r"(?:0[xX])?[0-9a-fA-F]{2}(?:(?:[ :,]\s*|\s+)(?:0[xX])?[0-9a-fA-F]{2}){127,}")
_HEX_NOISE = re.compile(r"0[xX]|[\s:,]+|\\[nr]")
# Base64 cut into 4-character groups by single spaces (as some dump tools and hand-written
# clients print it): 16 groups or more. Found from a translate and a `find`.
_GROUPED_B64 = re.compile(r"(?:[A-Za-z0-9+/]{4} ){15,}[A-Za-z0-9+/]{1,4}={0,2}")
GROUPED_NEEDLE = b"AAAA " * 16
"""16 groups of base64 characters (all mapped to "A") apart by single spaces."""
MIN_OTHER_ENCODING_CHARS = 8 << 10
"""Shorter text cannot hold a recording worth a fingerprint in base32 or grouped base64:
the JSON gate and the group scan skip it (chat turns pay nothing)."""
_GROUPED_MAP = bytes(
    0x41 if chr(byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" else byte
    for byte in range(256)
)
"""Every base64 character to "A" (the rest as it is): grouped base64 is one `find` away."""
# RFC 4648 base32 (one case throughout; its alphabet is within base64's, so a base64 run that
# holds nothing else is tried as base32 too: binary data in base64 all but never does).
_BASE32_UPPER = re.compile(r"[A-Z2-7]+=*")
_BASE32_LOWER = re.compile(r"[a-z2-7]+=*")
_HEXISH = bytes(0x68 if chr(byte) in "0123456789abcdefABCDEFxX:, \t\r\n\\" else 0x20 for byte in range(256))
"""Every character a hex run may hold to "h", the rest to a space: a long run is one `find` away."""


def _may_hold_hex(text: str, length: int) -> bool:
    """A necessary condition for a hex run of `length` characters, in C: chat text fails it at once."""
    return b"h" * length in text.encode("utf-8", "surrogatepass").translate(_HEXISH)


_DATA_URI_ANYWHERE = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[^,;\"'\s]*)*?);base64,", re.I)
_SPACE_OR_ESCAPED = re.compile(r"\s+|\\[nr]")
_URLSAFE_TABLE = str.maketrans("-_", "+/")
HEAD_CHARS = 8192


@dataclass(frozen=True)
class EncodedRun:
    """Encoded bytes found in text: where the run starts, how it is encoded, how to decode it."""

    start: int
    encoding: str
    """"base64", "base32", "hex" or "data-uri"."""
    text: str
    declared_type: str | None = None

    def head(self) -> list[bytes]:
        """The decoded start of the run (for base64, at each of the 4 alignments a prefix may cause)."""
        if self.encoding == "hex":
            chunk = _HEX_NOISE.sub("", self.text[: HEAD_CHARS * 3])[:HEAD_CHARS]
            return [binascii.unhexlify(chunk[: len(chunk) - len(chunk) % 2])]
        if self.encoding == "base32":
            chunk = _SPACE_OR_ESCAPED.sub("", self.text[: HEAD_CHARS + HEAD_CHARS // 8]).rstrip("=")
            return [b32decode(chunk[:HEAD_CHARS])]
        cleaned = _SPACE_OR_ESCAPED.sub("", self.text[: HEAD_CHARS + HEAD_CHARS // 8]).translate(_URLSAFE_TABLE)
        heads = []
        for skip in range(4 if self.encoding == "base64" else 1):
            chunk = cleaned[skip : skip + HEAD_CHARS]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            try:
                heads.append(binascii.a2b_base64(chunk, strict_mode=False))
            except (binascii.Error, ValueError):
                heads.append(b"")
        return heads

    def decode(self, skip: int = 0) -> bytes:
        """All of the run's bytes (lenient: a trailing partial group is dropped)."""
        if self.encoding == "hex":
            cleaned = _HEX_NOISE.sub("", self.text)
            return binascii.unhexlify(cleaned[: len(cleaned) - len(cleaned) % 2])
        if self.encoding == "base32":
            return b32decode(_SPACE_OR_ESCAPED.sub("", self.text))
        cleaned = _SPACE_OR_ESCAPED.sub("", self.text).translate(_URLSAFE_TABLE).rstrip("=")[skip:]
        if len(cleaned) % 4 == 1:
            cleaned = cleaned[:-1]  # a stray character: no whole byte in it
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            return binascii.a2b_base64(cleaned, strict_mode=False)
        except (binascii.Error, ValueError) as exc:
            raise PayloadError(f"invalid base64: {exc}") from None


def _may_hold_groups(text: str) -> bool:
    """A necessary condition for grouped base64 worth reading, in C: chat text fails it at once."""
    raw = text.encode("utf-8", "surrogatepass") if len(text) >= MIN_OTHER_ENCODING_CHARS else b""
    return GROUPED_NEEDLE in raw.translate(_GROUPED_MAP)


def is_base32(text: str) -> bool:
    """Whether a run of base64 alphabet is base32 instead: one case of letters and 2-7 only,
    whitespace and escaped line breaks aside (checked on its first 256 characters: base64 of
    binary data has both cases within a few)."""
    head = _SPACE_OR_ESCAPED.sub("", text[:256])
    return bool(head) and (_BASE32_UPPER.fullmatch(head) is not None or _BASE32_LOWER.fullmatch(head) is not None)


_B32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_B32_BITS = {ord(c): format(i, "05b") for i, c in enumerate(_B32_ALPHABET)}
_B32_BITS.update({ord(c.lower()): format(i, "05b") for i, c in enumerate(_B32_ALPHABET) if c.isalpha()})


def b32decode(text: str) -> bytes:
    """RFC 4648 base32 of either case, padding optional; bits short of a byte at the end are
    dropped. One translate and one integer: `base64.b32decode` is pure Python (13 us for 64
    characters, a second for a recording)."""
    cleaned = text.rstrip("=")
    bits = cleaned.translate(_B32_BITS)
    if len(bits) != 5 * len(cleaned):
        raise PayloadError("invalid base32: characters outside the alphabet")
    if not bits:
        return b""
    return (int(bits, 2) >> (len(bits) % 8)).to_bytes(len(bits) // 8, "big")


def encoded_runs(text: str, min_chars: int, max_runs: int = 16) -> list[EncodedRun]:
    """Runs of base64 (standard or URL-safe, wrapped or not, or in space-separated groups),
    base32, hex and `data:` URIs anywhere in `text`, at least `min_chars` long. Scans only:
    nothing is decoded here."""
    runs: list[EncodedRun] = []
    covered = -1
    for match in _DATA_URI_ANYWHERE.finditer(text):
        body = _B64_RUN.match(text, match.end())
        if body is not None:
            mime = (match.group("mime") or "") + (match.group("params") or "")
            runs.append(EncodedRun(body.start(), "data-uri", body.group(), mime or None))
        if len(runs) >= max_runs:
            return runs
    taken = {run.start for run in runs}
    for match in _B64_RUN.finditer(text):
        if match.start() in taken or match.start() <= covered:
            continue
        if match.end() - match.start() >= min_chars:
            run_text = match.group()
            runs.append(EncodedRun(match.start(), "base32" if is_base32(run_text) else "base64", run_text))
            covered = match.end()
            if len(runs) >= max_runs:
                return runs
    if _may_hold_groups(text):
        for match in _GROUPED_B64.finditer(text):
            if match.start() > covered and match.end() - match.start() >= min_chars:
                runs.append(EncodedRun(match.start(), "base64", match.group()))
                if len(runs) >= max_runs:
                    return runs
    hex_covered = -1
    for pattern in (_HEX_RUN, _HEX_PAIRS) if _may_hold_hex(text, min_chars * 2) else ():
        for match in pattern.finditer(text):
            if match.start() <= hex_covered or match.end() - match.start() < min_chars * 2:
                continue
            runs.append(EncodedRun(match.start(), "hex", match.group()))
            hex_covered = max(hex_covered, match.end())
            if len(runs) >= max_runs:
                return runs
    return runs


def base64_pieces(values: list[str], min_piece: int = 16) -> tuple[int, int] | None:
    """The first stretch of 2+ consecutive values that look like one base64 string cut in pieces
    (every piece all alphabet, every piece but the last a whole number of groups), as
    (first index, last index + 1), or None."""
    start = None
    for index, value in enumerate([*values, ""]):
        piece = value.strip()
        whole = len(piece) >= min_piece and _B64_BODY_URLSAFE.fullmatch(piece) is not None
        if whole and start is not None and len(values[index - 1].strip()) % 4 != 0:
            whole = False  # the previous piece ended mid-group: not a clean cut
        if whole:
            if start is None:
                start = index
            continue
        if start is not None and index - start >= 2:
            return start, index
        start = index if whole else None
    return None


_B64_BODY_URLSAFE = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
