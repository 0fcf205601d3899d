"""A fast negative test for "could this be media?" in front of libmagic.

`agent.media.looks_like_media` asks libmagic, which costs about half a millisecond per call:
too much to spend on every long string in every JSON body crossing the proxy. Every format
the media decoder accepts starts with one of a handful of magic numbers, so bytes without
one are rejected here in a microsecond, and only candidates go on to libmagic for the
positive answer.
"""

from __future__ import annotations

from collections.abc import Callable

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
    b"\x89PNG",
    b"GIF8",
    b"BM",
)
ISO_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")  # MP4 / MOV / M4A / 3GP at offset 4


def has_media_signature(head: bytes) -> bool:
    """False when `head` cannot be the start of a media file PhiWall decodes."""
    if len(head) < 4:
        return False
    if head.startswith(PREFIXES) or head[4:8] in ISO_BOXES:
        return True
    if head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # MPEG audio / ADTS frame sync
        return True
    return head[0] == 0x47 and len(head) > 188 and head[188] == 0x47  # MPEG transport stream


def guarded(probe: Callable[[bytes], bool]) -> Callable[[bytes], bool]:
    """`probe` (libmagic) asked only when the magic numbers allow it."""

    def check(head: bytes) -> bool:
        return has_media_signature(head) and probe(head)

    return check
