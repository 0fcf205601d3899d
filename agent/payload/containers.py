"""Containers a recording can hide in, opened through maintained libraries, within a budget.

ZIP (and what is a ZIP: OOXML `.docx`/`.pptx`, ODF, EPUB) through `zipfile`; tar, 7z, RAR,
ISO 9660 and cpio through libarchive (`libarchive-c`; on Windows, where no wheel ships it, tar
through `tarfile` and the others fail closed: agent.platform.native); gzip, bzip2, xz and zstd files through
the standard library and `zstandard`; MIME email and MHTML through `email`; PDF embedded files
through `pypdf`. Nothing here parses a format by hand: it recognises a container by its magic
number, asks the library for its entries and draws every byte on the request's
`ExpansionBudget`.

An entry is read only as far as its head (`HEAD_BYTES`) unless the head says it may matter
(media, another container, text that may carry encoded media): a 100 MB archive of office
files costs one head per entry, not 100 MB of decompression. Entries are labelled by their
index and extension only (`zip#3(.wav)`): file names inside an archive may name a patient.
"""

from __future__ import annotations

import bz2
import email
import email.policy
import io
import logging
import lzma
import re
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import PurePosixPath
from typing import Any

import zstandard
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from agent.payload.budget import BoundExceeded, EncryptedContainer, ExpansionBudget
from agent.payload.types import PayloadError
from agent.platform.native import optional_binding

libarchive = optional_binding("libarchive")
"""None on Windows (no wheel ships libarchive): tar through `tarfile`, the rest fail closed."""

HEAD_BYTES = 64 << 10
logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings on odd PDFs are not ours to print
"""What is read of every entry before deciding whether the rest is worth expanding."""
_CHUNK = 1 << 20
_BLOCK = 64 << 10
"""libarchive reads: an archive cut short loses at most the block that reaches past the cut."""
_MAX_EXTENSION = 8
_EMAIL_HEAD = re.compile(
    rb"\A(?:[\x21-\x39\x3b-\x7e]{1,76}:[^\r\n]*\r?\n(?:[ \t][^\r\n]*\r?\n)*){1,200}?"
    rb"(?:MIME-Version|Content-Type):",
    re.IGNORECASE,
)
_ISO_MAGIC_OFFSETS = (0x8001, 0x8801, 0x9001)


@dataclass(frozen=True)
class Entry:
    """One member of a container: its label (kind, index, extension) and its bytes."""

    label: str
    data: bytes | memoryview
    """A view into the container's own buffer for a stored ZIP entry (no copy), else the
    expanded bytes (one buffer per entry, sized once where the archive says the size)."""
    declared_type: str | None = None


# A zlib stream (RFC 1950: what pako.deflate, zlib.compress and Java's Deflater write) has a
# two-byte header only: 0x78 (deflate, 32 KB window) and a check byte, by level 0x01, 0x5E,
# 0x9C or 0xDA. Text can start "x^" too: the trial inflate tells them apart (none of 100,000
# "x^" sentences inflated 512 bytes without error).
ZLIB_HEADS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")
_ZLIB_TRIAL_BYTES = 512


def _zlib_stream(head: bytes) -> bool:
    """A zlib header whose first bytes also inflate without error: two bytes alone are a weak
    sign, and a leaf wrongly taken for a container would fail closed as a corrupt one."""
    if not head.startswith(ZLIB_HEADS):
        return False
    try:
        zlib.decompressobj().decompress(head[:_ZLIB_TRIAL_BYTES], 1 << 16)
    except zlib.error:
        return False
    return True


Wanted = Callable[[bytes, int], bool]
"""Given an entry's head and its declared size (0: unknown): is the rest worth expanding?"""


def container_kind(head: bytes) -> str | None:
    """The container format `head` (the first bytes of a leaf) starts, or None."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and head[3:4].isdigit():
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    if _zlib_stream(head):
        return "zlib"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    if head[257:262] == b"ustar":
        return "tar"
    if head.startswith((b"070701", b"070702", b"070707", b"\xc7\x71", b"\x71\xc7")):
        return "cpio"
    if len(head) > _ISO_MAGIC_OFFSETS[0] and any(head[at : at + 5] == b"CD001" for at in _ISO_MAGIC_OFFSETS):
        return "iso"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head[:1].isalpha() and b":" in head[:78] and _EMAIL_HEAD.match(head[:16384]):
        return "email"  # (the cheap tests first: a header line starts with a name and a colon)
    return None


def _label(kind: str, index: int, name: str | None) -> str:
    suffix = PurePosixPath(name or "").suffix.lower()
    if suffix and len(suffix) <= _MAX_EXTENSION and suffix[1:].isalnum():
        return f"{kind}#{index}({suffix})"
    return f"{kind}#{index}"


def _read_limited(
    read: Callable[[int], bytes], budget: ExpansionBudget, consumed: int, what: str, out: bytearray
) -> bytearray:
    """All of a stream into `out`, drawn on the budget chunk by chunk (so a bomb stops at the
    bound). Returned as the buffer it was read into: a `bytes` copy would double the peak; on an
    error `out` holds what was read before it."""
    while True:
        chunk = read(_CHUNK)
        if not chunk:
            return out
        out += chunk
        budget.spend(len(chunk))
        budget.check_ratio(len(out), consumed, what)


def _read_sized(read: Callable[[int], bytes], head: bytes, size: int) -> memoryview:
    """A stream whose size is known (a ZIP entry: `zipfile` never returns more than the central
    directory says), read into one buffer of that size: no growth, no copy at the end."""
    buffer = bytearray(size)
    buffer[: len(head)] = head
    filled = len(head)
    while filled < size:
        chunk = read(min(_CHUNK, size - filled))
        if not chunk:
            raise EOFError("entry ends before its declared size")
        buffer[filled : filled + len(chunk)] = chunk
        filled += len(chunk)
    return memoryview(buffer)


# --- compressed single files --------------------------------------------------------------------


_ZLIB_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "zlib": zlib.MAX_WBITS}
"""The zlib module's window bits per format it reads (gzip members, zlib streams)."""
COMPRESSED_KINDS = ("gzip", "zlib", "bzip2", "xz", "zstd")
"""Container kinds that are one compressed file."""


class _Incremental:
    """A compressed file read chunk by chunk (concatenated gzip members and xz/bzip2 streams included)."""

    def __init__(self, kind: str, data: bytes) -> None:
        self.kind = kind
        self.pending = data
        self.decoder = self._new()

    def _new(self) -> Any:
        if self.kind in _ZLIB_WBITS:
            return zlib.decompressobj(_ZLIB_WBITS[self.kind])
        return bz2.BZ2Decompressor() if self.kind == "bzip2" else lzma.LZMADecompressor()

    def read(self, size: int) -> bytes:
        while True:
            decoder = self.decoder
            chunk: bytes = b"" if decoder.eof else decoder.decompress(self.pending, size)
            if not decoder.eof or chunk:
                self.pending = decoder.unconsumed_tail if self.kind in _ZLIB_WBITS else b""
            if chunk:
                return chunk
            if decoder.eof:
                unused: bytes = decoder.unused_data
                if not unused.strip(b"\x00"):
                    return b""
                self.decoder, self.pending = self._new(), unused  # the next member
                continue
            if not self.pending and (self.kind in _ZLIB_WBITS or decoder.needs_input):
                raise EOFError("compressed data ends early")


def _stream(kind: str, data: bytes) -> Callable[[int], bytes]:
    """An incremental reader of a compressed file."""
    if kind == "zstd":
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
        return reader.read
    return _Incremental(kind, data).read


def _compressed_file(kind: str, data: bytes, budget: ExpansionBudget) -> Iterator[Entry]:
    """A compressed file's content. One cut short (the first pieces of a `.tar.gz` sent in
    pieces, joined so far: see `joining.py`) yields what it holds up to the cut, then the error:
    a recording is recognisable from an excerpt, and the cut still fails closed to AI services."""
    budget.entry()
    expanded = bytearray()
    try:
        _read_limited(_stream(kind, data), budget, len(data), f"{kind} file", expanded)
    except PayloadError:
        raise
    except EOFError as exc:
        if len(expanded) >= HEAD_BYTES:
            yield Entry(kind, memoryview(expanded))
        raise PayloadError(f"{kind} file is corrupt: {str(exc)[:100]}") from None
    except (zlib.error, OSError, lzma.LZMAError, zstandard.ZstdError) as exc:
        raise PayloadError(f"{kind} file is corrupt: {str(exc)[:100]}") from None
    yield Entry(kind, memoryview(expanded))


# --- archives ------------------------------------------------------------------------------------


class _ViewFile(io.RawIOBase):
    """A seekable read-only file over a buffer, without copying it (`io.BytesIO` copies a view:
    a 100 MB ZIP that is a multipart part would be held twice)."""

    def __init__(self, data: bytes | memoryview) -> None:
        self._view = memoryview(data).cast("B")
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        chunk = self._view[self._position : self._position + len(buffer)]
        buffer[: len(chunk)] = chunk
        self._position += len(chunk)
        return len(chunk)


def _stored_view(view: memoryview, info: zipfile.ZipInfo) -> memoryview | None:
    """A stored (uncompressed) entry's bytes where they lie in the archive, or None if they
    do not fit in it. The data starts after the entry's local header (30 bytes, its name and its
    extra field, whose lengths the local header gives: they may differ from the central
    directory's); `zipfile` has already checked that header when it opened the entry."""
    at = info.header_offset
    if at + 30 > len(view):
        return None
    name_length, extra_length = struct.unpack_from("<HH", view, at + 26)
    start = at + 30 + name_length + extra_length
    if start + info.file_size > len(view):
        return None
    return view[start : start + info.file_size]


def _zip(data: bytes | memoryview, budget: ExpansionBudget, wanted: Wanted) -> Iterator[Entry]:
    view = memoryview(data).cast("B")
    try:
        archive = zipfile.ZipFile(io.BufferedReader(_ViewFile(view)))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        if bytes(view[-(66 << 10) :]).find(b"PK\x05\x06") < 0:
            # The directory a ZIP is read from is at its end: a chunk of a resumable upload, or
            # a file cut short, holds local entries only. Said so, since it is not "corrupt".
            raise PayloadError("ZIP is cut short (no central directory at its end): a part of an archive") from None
        raise PayloadError(f"ZIP is corrupt: {str(exc)[:100]}") from None
    with archive:
        for index, info in enumerate(archive.infolist()):
            if info.is_dir():
                continue
            budget.entry()
            label = _label("zip", index, info.filename)
            if info.flag_bits & 0x1:
                raise EncryptedContainer(f"{label} is encrypted")
            try:
                with archive.open(info) as member:
                    head = member.read(HEAD_BYTES)
                    budget.spend(len(head))
                    if not wanted(head, info.file_size):
                        continue
                    # Drawn on the budget at the size the archive declares, before any of it is
                    # expanded: a bomb is refused without its memory being spent.
                    budget.check_ratio(info.file_size, info.compress_size, label)
                    budget.spend(max(0, info.file_size - len(head)))
                    stored = _stored_view(view, info) if info.compress_type == zipfile.ZIP_STORED else None
                    entry = stored if stored is not None else _read_sized(member.read, head, info.file_size)
            except PayloadError:
                raise
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError, zlib.error) as exc:
                raise PayloadError(f"{label} is corrupt: {str(exc)[:100]}") from None
            yield Entry(label, entry)
            del entry  # the walker may hold only a head of it (leaves.py): let the rest go


def _libarchive(kind: str, data: bytes, budget: ExpansionBudget, wanted: Wanted) -> Iterator[Entry]:
    """tar (any compression), 7z, RAR, ISO 9660, cpio: whatever libarchive reads."""
    assert libarchive is not None, "open_container checks"
    try:
        with libarchive.memory_reader(data) as archive:
            for index, entry in enumerate(archive):
                if not entry.isfile:
                    continue
                budget.entry()
                label = _label(kind, index, entry.pathname)
                size = entry.size or 0  # 0 when the archive does not say (streams)
                head = bytearray()
                keep = True
                cut: Exception | None = None  # libarchive.exception.ArchiveError
                try:
                    for block in entry.get_blocks(_BLOCK):
                        budget.spend(len(block))
                        head += block
                        budget.check_ratio(len(head), len(data), label)
                        if keep and len(head) >= HEAD_BYTES and not wanted(bytes(head[:HEAD_BYTES]), size):
                            keep = False
                        if not keep:
                            break  # libarchive skips the rest of the entry
                except libarchive.exception.ArchiveError as exc:
                    # An archive cut short (pieces joined so far): what the entry holds up to the
                    # cut is walked, then the error stands.
                    cut, keep = exc, keep and len(head) >= HEAD_BYTES
                if keep and (len(head) >= HEAD_BYTES or wanted(bytes(head), len(head))):
                    yield Entry(label, memoryview(head))
                del head
                if cut is not None:
                    raise cut
    except libarchive.exception.ArchiveError as exc:
        message = str(exc)
        if "ncrypt" in message or "assphrase" in message:
            raise EncryptedContainer(f"{kind} content is encrypted") from None
        raise PayloadError(f"{kind} archive is corrupt: {message[:100]}") from None


def _tarfile(data: bytes, budget: ExpansionBudget, wanted: Wanted) -> Iterator[Entry]:
    """Plain tar through the standard library, where libarchive is absent (Windows)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for index, member in enumerate(archive):
                if not member.isfile():
                    continue
                budget.entry()
                label = _label("tar", index, member.name)
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                head = handle.read(HEAD_BYTES)
                budget.spend(len(head))
                budget.check_ratio(len(head), len(data), label)
                if len(head) < HEAD_BYTES:
                    if wanted(head, len(head)):
                        yield Entry(label, memoryview(head))
                    continue
                if not wanted(head, member.size):
                    continue
                rest = bytearray(head)
                while block := handle.read(_CHUNK):
                    budget.spend(len(block))
                    rest += block
                    budget.check_ratio(len(rest), len(data), label)
                yield Entry(label, memoryview(rest))
                del rest
    except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
        raise PayloadError(f"tar archive is corrupt: {str(exc)[:100]}") from None


# --- documents -----------------------------------------------------------------------------------


def _email(data: bytes, budget: ExpansionBudget) -> Iterator[Entry]:
    """MIME email (.eml) and MHTML: every leaf part, transfer encoding undone by `email`."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    index = 0
    for part in message.walk():
        if part.is_multipart():
            continue
        budget.entry()
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes) or not payload:
            continue
        budget.spend(len(payload))
        filename = part.get_filename() if isinstance(part, EmailMessage) else None
        yield Entry(_label("email", index, filename), payload, part.get_content_type())
        index += 1


def _pdf(data: bytes, budget: ExpansionBudget) -> Iterator[Entry]:
    """PDF embedded files (the EmbeddedFiles name tree, where attachments live)."""
    if b"%%EOF" not in data[-2048:]:
        # Not a whole PDF (media behind a `%PDF` prefix, a truncated file): pypdf would rebuild
        # its cross-reference table by scanning every byte, for nothing.
        raise PayloadError("PDF has no end-of-file marker")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise EncryptedContainer("PDF is encrypted")
        attachments = reader.attachments
    except EncryptedContainer:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError, OSError) as exc:
        raise PayloadError(f"PDF is corrupt: {str(exc)[:100]}") from None
    index = 0
    for name, contents in attachments.items():
        for content in contents:
            budget.entry()
            budget.spend(len(content))
            yield Entry(_label("pdf", index, name), content)
            index += 1


def open_container(kind: str, data: bytes | memoryview, budget: ExpansionBudget, wanted: Wanted) -> Iterator[Entry]:
    """The entries of a `kind` container (see `container_kind`), bounded by `budget`.

    Raises PayloadError when the container is corrupt, EncryptedContainer when it is
    encrypted, BoundExceeded when it passes a bound.
    """
    if kind == "zip":
        return _zip(data, budget, wanted)  # read in place: ZIPs are the commonest large container
    data = bytes(data)
    if kind in COMPRESSED_KINDS:
        return _compressed_file(kind, data, budget)
    if kind in ("tar", "7z", "rar", "iso", "cpio"):
        if libarchive is not None:
            return _libarchive(kind, data, budget, wanted)
        if kind == "tar":
            return _tarfile(data, budget, wanted)
        raise PayloadError(f"{kind} archives cannot be opened here: libarchive is not installed (Windows)")
    if kind == "email":
        return _email(data, budget)
    if kind == "pdf":
        return _pdf(data, budget)
    raise PayloadError(f"unknown container kind {kind!r}")


__all__ = [
    "COMPRESSED_KINDS",
    "ZLIB_HEADS",
    "BoundExceeded",
    "EncryptedContainer",
    "Entry",
    "container_kind",
    "open_container",
]
