"""Wrap media the way a clinician's tools would: archives, documents, mail, encodings.

Every wrapper is made with a real library or tool (zipfile, libarchive, pypdf, email, the
`zip` command for encryption), at test time, from media the test made itself.
"""

from __future__ import annotations

import base64
import bz2
import email.message
import gzip
import io
import lzma
import subprocess
import tarfile
import zipfile
import zlib
from pathlib import Path

import libarchive  # type: ignore[import-untyped]
import zstandard
from pypdf import PdfWriter


def zip_of(entries: dict[str, bytes], *, stored: bool = False) -> bytes:
    buffer = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def docx_with(media: bytes) -> bytes:
    return zip_of(
        {
            "[Content_Types].xml": b'<?xml version="1.0"?><Types/>',
            "word/document.xml": b"<w:document>Dictation attached</w:document>",
            "word/media/media1.wav": media,
        }
    )


def tar_of(entries: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def libarchive_of(entries: dict[str, bytes], format_name: str, filter_name: str | None = None) -> bytes:
    """7z, cpio, ISO 9660 ... as libarchive writes them."""
    chunks: list[bytes] = []

    def write(data: bytes) -> int:
        chunks.append(bytes(data))
        return len(data)

    with libarchive.custom_writer(write, format_name, filter_name) as archive:
        for name, data in entries.items():
            archive.add_file_from_memory(name, len(data), data)
    return b"".join(chunks)


def compressed(data: bytes, kind: str) -> bytes:
    if kind == "gzip":
        return gzip.compress(data)
    if kind == "bzip2":
        return bz2.compress(data)
    if kind == "xz":
        return lzma.compress(data)
    if kind == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    if kind == "zlib":  # RFC 1950, as zlib.compress, pako.deflate and Java's Deflater write it
        return zlib.compress(data)
    raise ValueError(kind)


def eml_with(media: bytes, filename: str = "dictation.wav") -> bytes:
    message = email.message.EmailMessage()
    message["From"] = "dr@example.org"
    message["To"] = "me@example.org"
    message["Subject"] = "note"
    message.set_content("see attached")
    message.add_attachment(media, maintype="audio", subtype="wav", filename=filename)
    return message.as_bytes()


def mhtml_with(media: bytes) -> bytes:
    message = email.message.EmailMessage()
    message["MIME-Version"] = "1.0"
    message["Subject"] = "saved page"
    message.set_content("<html><audio src='cid:a'></audio></html>", subtype="html")
    message.add_related(media, maintype="audio", subtype="wav", cid="<a>")
    return message.as_bytes()


def pdf_with(media: bytes, *, password: str | None = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_attachment("dictation.wav", media)
    if password is not None:
        writer.encrypt(password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def pdf_without_attachments(pages: int = 1) -> bytes:
    """An ordinary document: blank pages, nothing embedded."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def encrypted_zip(media: bytes, tmp: Path) -> bytes:
    """A password-protected ZIP, made with the `zip` command (zipfile cannot write one)."""
    source = tmp / "dictation.wav"
    source.write_bytes(media)
    target = tmp / "locked.zip"
    subprocess.run(["zip", "-q", "-j", "-P", "secret", str(target), str(source)], check=True, timeout=60)
    return target.read_bytes()


def wrapped_base64(data: bytes, width: int = 76) -> str:
    text = base64.b64encode(data).decode()
    return "\n".join(text[i : i + width] for i in range(0, len(text), width))
