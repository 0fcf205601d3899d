"""The MIME type of a head of bytes without libmagic: what sniffing falls back to on Windows.

No Windows wheel ships libmagic (agent.platform.native), so there the media kinds PhiWall
inspects are recognised from their leading bytes: the payload core's marker table first
(agent.payload.sniff), then the fixed signatures below. Only the types `kind_of_mime` knows
matter here; anything else is `application/octet-stream`, which the callers treat as "not
media" exactly as they treat libmagic's names for documents and text.
"""

from __future__ import annotations

from agent.payload.sniff import marker_media

OCTETS = "application/octet-stream"
PICTURE_BRANDS = {
    "avif": "image/avif",
    "heic": "image/heic",
    "heix": "image/heic",
    "heim": "image/heic",
    "heis": "image/heic",
    "mif1": "image/heic",
}
"""`ftyp` major brands of HEIF/AVIF stills (ISO/IEC 23008-12) and their MIME types; `decode`
reads a file with one of them as a picture."""
_SEQUENCE_BRANDS = {"avis": "image/avif", "msf1": "image/heic", "hevc": "image/heic"}
"""HEIF/AVIF picture sequences: named as libmagic names them, decoded as video (read as
pictures, a file so branded would lose its sound)."""
_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "image/jp2"),
    (b"ID3", "audio/mpeg"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"#!AMR-WB\n", "audio/amr-wb"),
    (b"#!AMR\n", "audio/amr"),
    (b"caff", "audio/x-caf"),
    (b".snd", "audio/basic"),
    (b"FLV\x01", "video/x-flv"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "video/x-ms-asf"),
    (b"\x00\x00\x01\xba", "video/mpeg"),
    (b"\x00\x00\x01\xb3", "video/mpeg"),
)
_RIFF = {b"WAVE": "audio/x-wav", b"AVI ": "video/x-msvideo", b"WEBP": "image/webp"}
_AIFF = {b"AIFF": "audio/x-aiff", b"AIFC": "audio/x-aiff"}


def _iso_media(head: bytes) -> str | None:
    """MP4 family by the `ftyp` box at offset 4 and its major brand."""
    if head[4:8] != b"ftyp":
        return None
    brand = head[8:12]
    if brand in (b"M4A ", b"M4B "):
        return "audio/mp4"
    if brand == b"qt  ":
        return "video/quicktime"
    name = brand.decode("latin-1")
    picture = PICTURE_BRANDS.get(name) or _SEQUENCE_BRANDS.get(name)
    if picture is not None:
        return picture
    if brand.startswith(b"3g2"):
        return "video/3gpp2"
    if brand.startswith(b"3gp"):
        return "video/3gpp"
    return "video/mp4"


def _frame_sync(head: bytes) -> str | None:
    """A bare MPEG audio frame (MP3 without ID3) or an ADTS AAC frame at byte 0."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    if head[1] & 0x16 == 0x10:  # layer bits 00 with MPEG-4/2 ID: ADTS
        return "audio/aac"
    if head[1] & 0x06 and head[2] & 0xF0 != 0xF0 and head[2] & 0x0C != 0x0C:
        return "audio/mpeg"  # a layer, a valid bitrate index and sample rate
    return None


def mime_of_head(head: bytes) -> str:
    """The MIME type of media starting at byte 0 of `head`, or application/octet-stream."""
    if not head:
        return "application/x-empty"
    iso = _iso_media(head)
    if iso is not None:
        return iso
    hit = marker_media(head)
    if hit is not None and hit.offset == 0 and hit.mime != "video/x-matroska":
        return hit.mime
    if head.startswith(b"\x1aE\xdf\xa3"):
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head.startswith(b"RIFF") and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head.startswith(b"FORM") and head[8:12] in _AIFF:
        return _AIFF[head[8:12]]
    if head.startswith(b"BM") and len(head) > 14 and head[6:10] == b"\0\0\0\0":
        return "image/bmp"  # BITMAPFILEHEADER: its two reserved words are zero
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "video/mp2t"
    for prefix, mime in _PREFIXES:
        if head.startswith(prefix):
            return mime
    return _frame_sync(head) or OCTETS
