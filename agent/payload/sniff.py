"""What a byte string is, from its first bytes: the one type sniffer of the payload core.

Three questions, from cheapest to dearest:

- `has_media_signature`: a fast negative test in front of libmagic (`agent.media.looks_like_media`
  costs about half a millisecond per call: too much for every long string in every JSON body).
  Every format the media decoder accepts starts with one of a handful of magic numbers.
- `marker_media`: one table of markers for what libmagic cannot see or misnames (W64, WavPack,
  TTA, AC-3, VOC, MXF) and for media that does not start at byte 0 (an MP3 behind junk or zeros,
  which decoders skip; a WAV behind a `%PDF` prefix): the offset where the media starts and its
  MIME type, so a leaf can be cut there and decoded.
- `media_kind`: the broad kind (audio, image, video) from a fixed table, the same on every
  machine, for the shadow classifier's features.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass

MediaKind = str  # "audio" | "image" | "video"
_DATA_URI = re.compile(rb"^data:(audio|image|video)/", re.IGNORECASE)

PREFIXES: tuple[bytes, ...] = (
    b"RIFF",  # WAV, AVI, WebP
    b"ID3",  # MP3 with a tag
    b"OggS",  # Ogg Vorbis/Opus/Theora
    b"fLaC",
    b"#!AMR",
    b"caff",  # Core Audio
    b"FORM",  # AIFF
    b".snd",  # Sun/NeXT audio
    b"\x1aE\xdf\xa3",  # Matroska / WebM
    b"FLV",
    b"\x30\x26\xb2\x75",  # ASF: WMA / WMV
    b"\x00\x00\x01\xba",  # MPEG program stream
    b"\xff\xd8\xff",  # JPEG
    b"II*\x00",  # TIFF, little-endian
    b"MM\x00*",  # TIFF, big-endian
    b"\x00\x00\x00\x0cjP  \r\n\x87\n",  # JPEG 2000 (JP2)
    b"\x1f\x07\x00",  # DV: the first DIF block's header
    b"\x89PNG",
    b"GIF8",
    b"BM",
)
ISO_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")  # MP4 / MOV / M4A / 3GP at offset 4


@dataclass(frozen=True)
class Marker:
    """A media format recognised by its bytes where libmagic cannot be relied on."""

    name: str
    pattern: re.Pattern[bytes]
    mime: str
    anywhere: bool
    """True: looked for at any offset of the scanned head (the media starts at the match)."""


MARKER_SCAN_BYTES = 64 << 10
"""How far into a leaf markers are looked for: junk and prefixes in front of media are small."""

MARKERS: tuple[Marker, ...] = (
    Marker("w64", re.compile(rb"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00", re.DOTALL), "audio/x-w64", True),
    Marker("wavpack", re.compile(rb"wvpk.{4}[\x02-\x10]\x04", re.DOTALL), "audio/x-wavpack", True),
    Marker("tta", re.compile(rb"TTA1[\x01\x02]\x00[\x01-\x08]\x00[\x08\x10\x18]\x00", re.DOTALL), "audio/x-tta", True),
    Marker("voc", re.compile(rb"Creative Voice File\x1a"), "audio/x-voc", True),
    Marker("mxf", re.compile(rb"\x06\x0e\x2b\x34\x02\x05\x01\x01\x0d\x01\x02\x01\x01\x02"), "application/mxf", True),
    Marker("wav", re.compile(rb"RIFF.{4}WAVE(?:fmt |LIST|bext|JUNK)", re.DOTALL), "audio/x-wav", True),
    Marker("mp3-id3", re.compile(rb"ID3[\x02-\x04]\x00"), "audio/mpeg", True),
    Marker("ogg", re.compile(rb"OggS\x00\x02"), "audio/ogg", True),
    Marker("flac", re.compile(rb"fLaC\x00"), "audio/flac", True),
    Marker("matroska", re.compile(rb"\x1aE\xdf\xa3"), "video/x-matroska", True),
    Marker("mp4", re.compile(rb"ftyp(?:isom|iso[2-6]|mp4[12]|M4A |M4V |qt  |3gp[4-6]|avc1|dash)"), "video/mp4", True),
    Marker("ac3", re.compile(rb"\x0b\x77"), "audio/ac3", False),
    Marker("caf", re.compile(rb"caff\x00\x01\x00\x00desc"), "audio/x-caf", True),
)
_LITERALS = {
    "w64": (b"riff\x2e\x91", 0),
    "wavpack": (b"wvpk", 0),
    "tta": (b"TTA1", 0),
    "voc": (b"Creative Voice", 0),
    "mxf": (b"\x06\x0e\x2b\x34\x02\x05", 0),
    "wav": (b"WAVE", 8),
    "mp3-id3": (b"ID3", 0),
    "ogg": (b"OggS", 0),
    "flac": (b"fLaC", 0),
    "matroska": (b"\x1aE\xdf\xa3", 0),
    "mp4": (b"ftyp", 0),
    "caf": (b"caff", 0),
}
"""Per marker, a literal it contains and how far before it the marker starts: `bytes.find` on
the literal (C speed) finds candidates, the marker's pattern confirms them."""
_BOX_OFFSET = {"mp4": 4}
"""Markers found after the start of their file: an MP4's `ftyp` is its bytes 4 to 8."""
# MPEG audio layer III frame header: sync, MPEG-1/2/2.5, layer III, a real bitrate and rate.
_MP3_FRAME = re.compile(rb"\xff[\xe2\xe3\xf2\xf3\xfa\xfb][\x10-\xeb]", re.DOTALL)
_MP3_BITRATES = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2
    0: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2.5
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_frame_length(header: bytes) -> int:
    """Length of the MPEG layer III frame starting with `header` (4 bytes), 0 if not one."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE6 != 0xE2:
        return 0
    version = (header[1] >> 3) & 3
    if version == 1:
        return 0
    bitrate_index, rate_index = header[2] >> 4, (header[2] >> 2) & 3
    if bitrate_index in (0, 15) or rate_index == 3:
        return 0
    padding = (header[2] >> 1) & 1
    per_frame = 144_000 if version == 3 else 72_000
    return per_frame * _MP3_BITRATES[version][bitrate_index] // _MP3_RATES[version][rate_index] + padding


def _mp3_after_junk(head: bytes) -> int | None:
    """Offset of the first of three chained MPEG-1 layer III frames (what a decoder locks onto)."""
    for match in _MP3_FRAME.finditer(head):
        start = match.start()
        position, chained = start, 0
        while chained < 3:
            length = _mp3_frame_length(head[position : position + 4])
            if not length:
                break
            position += length
            chained += 1
            if position + 4 > len(head):
                chained = 3 if chained >= 2 else chained
                break
        if chained >= 3:
            return start
    return None


@dataclass(frozen=True)
class MarkerHit:
    offset: int
    mime: str
    marker: str


def marker_media(head: bytes) -> MarkerHit | None:
    """Media that libmagic misses in `head` (the first `MARKER_SCAN_BYTES` of a leaf), or None.

    Offsets are where a leaf should be cut for the decoder: 0 for a W64 or WavPack file, the
    first real frame for an MP3 behind junk, the `RIFF` of a WAV behind a prefix. One regular
    expression pass for the markers, one for MPEG frame syncs (each checked for a chain of
    three frames).
    """
    head = head[:MARKER_SCAN_BYTES]
    best: MarkerHit | None = None
    for marker in MARKERS:
        if not marker.anywhere:
            continue
        literal, before = _LITERALS[marker.name]
        limit = len(head) if best is None else best.offset + before + len(literal)
        position = head.find(literal, 0, limit)
        while position >= 0:
            match = marker.pattern.match(head, max(0, position - before))
            if match is not None:
                start = match.start() - _BOX_OFFSET.get(marker.name, 0)
                if start >= 0 and (best is None or start < best.offset):
                    best = MarkerHit(start, marker.mime, marker.name)
                break
            position = head.find(literal, position + 1, limit)
    if best is None and head.startswith(b"\x0b\x77"):
        best = MarkerHit(0, "audio/ac3", "ac3")
    if best is None and transport_stream(head):
        best = MarkerHit(0, "video/mp2t", "mpegts")
    mp3 = _mp3_after_junk(head if best is None else head[: best.offset])
    if mp3 is not None:
        best = MarkerHit(mp3, "audio/mpeg", "mp3-frames")
    return best


TS_PACKETS = 4
"""Packets in a row a transport stream must show (sync byte 0x47 at each packet's start)."""


def transport_stream(head: bytes) -> bool:
    """An MPEG transport stream from its first byte: 188-byte packets (broadcast, HLS, `.ts`
    from screen and device recorders) or 192-byte ones (M2TS: AVCHD camcorders' `.mts`, Blu-ray),
    each starting with the sync byte. libmagic names neither reliably ("data")."""
    for size, first in ((188, 0), (192, 4)):
        last = first + size * (TS_PACKETS - 1)
        if len(head) > last and all(head[first + size * k] == 0x47 for k in range(TS_PACKETS)):
            return True
    return False


_MARKED_PREFIXES = (b"riff\x2e\x91", b"wvpk", b"TTA1", b"\x0b\x77", b"Creative Voice", b"\x06\x0e\x2b\x34", b"caff")
"""The marker table's formats from byte 0 (W64, WavPack, TTA, AC-3, VOC, MXF, CAF)."""


def has_media_signature(head: bytes) -> bool:
    """False when `head` cannot be the start of a media file PhiWall decodes."""
    if len(head) < 4:
        return False
    if head.startswith(PREFIXES) or head[4:8] in ISO_BOXES:
        return True
    if head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # MPEG audio / ADTS frame sync
        return True
    if head.startswith(_MARKED_PREFIXES):
        return True
    # Transport streams, two packets in a row (`transport_stream` wants 4; spelled out here, as
    # this test runs on every base64 run's head and a call with a loop costs 1.5 us there).
    if head[0] == 0x47 and len(head) > 188 and head[188] == 0x47:
        return True
    return len(head) > 196 and head[4] == 0x47 and head[196] == 0x47  # M2TS (192-byte packets)


def guarded(probe: Callable[[bytes], bool]) -> Callable[[bytes], bool]:
    """`probe` (libmagic) asked only when the magic numbers allow it."""

    def check(head: bytes) -> bool:
        return has_media_signature(head) and probe(head)

    return check


def media_kind(prefix: bytes) -> MediaKind | None:
    """The media kind of a payload from its first bytes, or None when it is not media.

    A fixed magic-number table rather than libmagic: the classifier's features must be the
    same on every machine and cost microseconds, and only the broad kind is needed here.
    """
    head = prefix[:16]
    if len(head) < 4:
        return None
    if head.startswith(b"RIFF") and len(head) >= 12:
        form = head[8:12]
        if form == b"WAVE":
            return "audio"
        if form == b"WEBP":
            return "image"
        if form == b"AVI ":
            return "video"
        return None
    if head.startswith((b"ID3", b"OggS", b"fLaC", b"#!AMR", b"caff", b"FORM")):
        return "audio"
    if head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return "audio"  # ADTS AAC
    if head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and head[1] != 0xFF and head[2] != 0xFF:
        return "audio"  # MPEG audio frame sync
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")):
        return "image"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video"  # Matroska / WebM
    if head[4:8] == b"ftyp" and len(head) >= 12:
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B ", b"M4P "):
            return "audio"
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"avif"):
            return "image"
        return "video"
    if len(prefix) >= 132 and prefix[128:132] == b"DICM":
        return "image"
    return None


def base64_media_kind(text: bytes) -> MediaKind | None:
    """The media kind of a long JSON string holding base64 media (data URI or bare)."""
    data_uri = _DATA_URI.match(text[:32])
    if data_uri:
        return data_uri.group(1).decode("ascii").lower()
    chunk = text[:176]
    chunk = chunk[: len(chunk) - len(chunk) % 4]
    try:
        decoded = base64.b64decode(chunk, validate=True)
    except (binascii.Error, ValueError):
        return None
    return media_kind(decoded)
