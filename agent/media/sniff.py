"""What bytes really are, by content (libmagic through python-magic; byte signatures on Windows,
agent.media.signatures), never by file name.

An upload called `notes.txt` that holds an MP3 is audio; a `.wav` that holds a PNG is an
image. The kind given here is provisional for containers that may hold either (an MP4 or
WebM with only a sound track is reported as video here and decoded as audio later).
"""

from __future__ import annotations

from pathlib import Path

from agent.errors import MediaError
from agent.media.model import Sniffed
from agent.media.signatures import mime_of_head
from agent.payload.sniff import marker_media
from agent.platform.native import optional_binding

magic = optional_binding("magic")
"""None on Windows, where no wheel ships libmagic: byte signatures answer instead."""

# libmagic needs a few KB for most containers; MP4 `moov`-first files are recognised from the
# `ftyp` box at offset 4, MP3 files after an ID3 tag may need more.
SNIFF_BYTES = 64 * 1024
PREFIX_BYTES = 8 * 1024

_AUDIO = {
    "audio/mpeg",
    "audio/mp3",
    "audio/x-wav",
    "audio/wav",
    "audio/vnd.wave",
    "audio/x-hx-aac-adts",
    "audio/aac",
    "audio/x-aac",
    "audio/mp4",
    "audio/x-m4a",
    "audio/ogg",
    "audio/opus",
    "audio/flac",
    "audio/x-flac",
    "audio/webm",
    "audio/amr",
    "audio/x-amr",
    "audio/amr-wb",
    "audio/3gpp",
    "audio/x-aiff",
    "audio/aiff",
    "audio/x-ms-wma",
    "audio/x-matroska",
    "audio/basic",
    "audio/x-caf",
    "application/ogg",
    # What libmagic names the formats of the payload core's marker table.
    "audio/x-w64",
    "audio/vnd.dolby.dd-raw",
    "audio/ac3",
    "audio/x-unknown",
    "audio/x-voc",
    "audio/x-wavpack",
    "audio/x-tta",
}
_VIDEO = {
    "video/mp4",
    "video/quicktime",
    "video/webm",
    "video/x-matroska",
    "video/x-msvideo",
    "video/avi",
    "video/3gpp",
    "video/3gpp2",
    "video/mp2t",
    "video/mpeg",
    "video/x-flv",
    "video/x-ms-asf",
    "video/x-ms-wmv",
    "video/x-m4v",
    "video/x-dv",  # DV camcorders
    "video/ogg",
    "application/mxf",
}
_IMAGE = {
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/bmp",
    "image/x-ms-bmp",
    # Stills a phone, a scanner or an export may produce: HEIC (iPhone photos), AVIF (Android,
    # browsers), TIFF, JPEG 2000.
    "image/heic",
    "image/heif",
    "image/avif",
    "image/tiff",
    "image/jp2",
}


def kind_of_mime(mime: str) -> str | None:
    """'audio' | 'video' | 'image' for MIME types we inspect, else None."""
    base = mime.split(";", 1)[0].strip().lower()
    if base in _AUDIO:
        return "audio"
    if base in _VIDEO:
        return "video"
    if base in _IMAGE:
        return "image"
    return None


def _magic_mime(data: bytes) -> str:
    if not data:
        return "application/x-empty"
    if magic is None:
        return mime_of_head(data)
    try:
        mime = magic.from_buffer(data, mime=True)
    except (magic.MagicException, OSError, ValueError) as exc:  # libmagic refuses some inputs
        raise MediaError(f"cannot identify content type: {exc}") from None
    return str(mime or "application/octet-stream")


def _marked_mime(head: bytes) -> str | None:
    """A format libmagic does not know (WavPack, TTA), from the payload core's marker table."""
    hit = marker_media(head)
    return hit.mime if hit is not None and hit.offset == 0 else None


def sniff_bytes(data: bytes) -> Sniffed:
    """The content type of `data` (only the first 64 KB are examined)."""
    head = bytes(data[:SNIFF_BYTES])
    mime = _magic_mime(head)
    kind = kind_of_mime(mime)
    if kind is None:
        marked = _marked_mime(head)
        if marked is not None:
            return Sniffed(mime=marked, kind=kind_of_mime(marked))
    return Sniffed(mime=mime, kind=kind)


def read_prefix(path: Path, size: int = SNIFF_BYTES) -> bytes:
    """The first `size` bytes of a regular file; devices, FIFOs and folders are refused."""
    try:
        if not path.is_file():
            what = "a folder" if path.is_dir() else ("missing" if not path.exists() else "not a regular file")
            raise MediaError(f"{path}: {what}")
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError as exc:
        raise MediaError(f"{path}: cannot read: {exc.strerror or exc}") from None


def sniff_path(path: Path) -> Sniffed:
    """The content type of the file at `path`, from its first 64 KB."""
    return sniff_bytes(read_prefix(Path(path)))


def looks_like_media(prefix: bytes) -> bool:
    """Cheap test on the first few KB of a body: is it audio, video or an image?"""
    if len(prefix) < 4:
        return False
    head = bytes(prefix[:PREFIX_BYTES])
    return kind_of_mime(_magic_mime(head)) is not None or _marked_mime(head) is not None
