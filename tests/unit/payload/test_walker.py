"""The payload walker on every wrapper and encoding, with real media and real libraries.

Each case wraps a recording the test made (espeak-ng + ffmpeg) and checks that the walker
hands back exactly the recording's bytes, with a path that names wrappers only (container
kinds, entry indexes, extensions: never a file name from inside an archive).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import random
import textwrap
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import pytest

from agent.media import looks_like_media
from agent.payload import ExtractLimits, extract_payload
from agent.payload.sniff import MARKER_SCAN_BYTES, guarded, marker_media
from agent.payload.types import Extraction
from tests.support.media import DICTATIONS, MediaFactory
from tests.unit.payload import wrappers

PROBE = guarded(looks_like_media)
LIMITS = ExtractLimits(max_bytes=64 << 20)


@pytest.fixture(scope="module")
def wav(media_factory: MediaFactory) -> bytes:
    return media_factory.speech(DICTATIONS[0]).read_bytes()


@pytest.fixture(scope="module")
def mp3(media_factory: MediaFactory) -> bytes:
    src = media_factory.speech(DICTATIONS[0])
    return media_factory.encode(
        src, ".mp3", "-codec:a", "libmp3lame", "-b:a", "64k", "-id3v2_version", "0"
    ).read_bytes()


def walk(body: bytes, content_type: str | None = None, limits: ExtractLimits = LIMITS) -> Extraction:
    return extract_payload(body, content_type, None, limits, PROBE)


def found(extraction: Extraction, media: bytes) -> str:
    """The path of the part holding exactly `media` (fails the test when there is none)."""
    for part in extraction.parts:
        if bytes(part.data) == media:
            return part.where
    raise AssertionError(f"media not found; parts {[p.where for p in extraction.parts]}, errors {extraction.errors}")


# --- containers -------------------------------------------------------------------------------


@pytest.mark.parametrize("stored", [True, False], ids=["stored", "deflated"])
def test_zip(wav: bytes, stored: bool) -> None:
    body = wrappers.zip_of({"readme.txt": b"hello", "Smith_John_dictation.wav": wav}, stored=stored)
    result = walk(body, "application/zip")
    where = found(result, wav)
    assert where == "zip#1(.wav)"
    assert "Smith" not in where
    assert not result.errors


def test_docx_media_under_word_media(wav: bytes) -> None:
    where = found(walk(wrappers.docx_with(wav), "application/octet-stream"), wav)
    assert where == "zip#2(.wav)"


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz", "w"])
def test_tar(wav: bytes, mode: str) -> None:
    result = walk(wrappers.tar_of({"notes/a.txt": b"x" * 100, "notes/rec.wav": wav}, mode))
    assert found(result, wav).endswith("tar#1(.wav)")


def test_tar_zst(wav: bytes) -> None:
    body = wrappers.compressed(wrappers.tar_of({"rec.wav": wav}, "w"), "zstd")
    assert found(walk(body), wav) == "zstd > tar#0(.wav)"


@pytest.mark.parametrize("fmt", ["7zip", "cpio", "iso9660"])
def test_libarchive_formats(wav: bytes, fmt: str) -> None:
    body = wrappers.libarchive_of({"a.txt": b"hello there", "rec.wav": wav}, fmt)
    where = found(walk(body, "application/x-7z-compressed"), wav)
    assert where.startswith({"7zip": "7z#", "cpio": "cpio#", "iso9660": "iso#"}[fmt])
    assert where.endswith("(.wav)")


@pytest.mark.parametrize("kind", ["gzip", "zlib", "bzip2", "xz", "zstd"])
def test_compressed_files(wav: bytes, kind: str) -> None:
    assert found(walk(wrappers.compressed(wav, kind), "application/octet-stream"), wav) == kind


@pytest.mark.parametrize("level", [1, 3, 6, 9])
def test_zlib_stream_at_every_header_level(wav: bytes, level: int) -> None:
    """zlib's header byte says the level: 0x01, 0x5E (levels 2-5, "x^" as text), 0x9C, 0xDA."""
    assert found(walk(zlib.compress(wav, level), "application/octet-stream"), wav) == "zlib"


@pytest.mark.parametrize(
    "body",
    [b"x^2 + y^2 = z^2, " * 200, b"x\x9c" + b"not a stream at all " * 200, b"x\xda" + bytes(range(256)) * 40],
    ids=["caret-text", "header-then-text", "header-then-bytes"],
)
def test_text_and_bytes_that_start_like_zlib_are_not_a_corrupt_container(body: bytes) -> None:
    result = walk(body, "application/octet-stream")
    assert result.errors == []
    assert "zlib" not in result.containers


def test_zlib_stream_cut_short_fails_closed(wav: bytes) -> None:
    result = walk(zlib.compress(wav)[:40_000], "application/octet-stream")
    assert any("zlib file is corrupt" in e for e in result.errors)


@pytest.mark.parametrize(
    "encode",
    [
        lambda data: base64.b32encode(data).decode(),
        lambda data: base64.b32encode(data).decode().lower().rstrip("="),
        lambda data: " ".join(textwrap.wrap(base64.b64encode(data).decode(), 4)),
    ],
    ids=["base32", "base32-lower-unpadded", "base64-in-groups-of-four"],
)
def test_other_text_encodings_in_a_chat_message(wav: bytes, encode: Callable[[bytes], str]) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": "Transcribe this: " + encode(wav)}]}).encode()
    result = walk(body, "application/json")
    assert [bytes(part.data) for part in result.parts] == [wav]
    assert result.errors == []


def test_four_letter_words_are_not_grouped_base64() -> None:
    body = json.dumps({"text": "that this with from have been will your " * 300}).encode()  # 12 KB: scanned
    result = walk(body, "application/json")
    assert result.parts == []
    assert result.errors == []


def test_multipart_quoted_printable_part(wav: bytes) -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        b"Content-Type: audio/wav\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        + binascii.b2a_qp(wav, istext=False)  # binary-safe: line breaks encoded too
        + b"\r\n--b--\r\n"
    )
    assert found(walk(body, "multipart/form-data; boundary=b"), wav) == "multipart:file"


def test_eml_attachment(wav: bytes) -> None:
    where = found(walk(wrappers.eml_with(wav, "Jones_Mary.wav"), "message/rfc822"), wav)
    assert where.startswith("email#")
    assert "Jones" not in where


def test_mhtml(wav: bytes) -> None:
    assert found(walk(wrappers.mhtml_with(wav), "message/rfc822"), wav).startswith("email#")


def test_pdf_attachment(wav: bytes) -> None:
    assert found(walk(wrappers.pdf_with(wav), "application/pdf"), wav) == "pdf#0(.wav)"


def test_nested_zip_in_tar_gz_in_multipart(wav: bytes) -> None:
    inner = wrappers.zip_of({"rec.wav": wav})
    outer = wrappers.tar_of({"bundle.zip": inner})
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.tgz"\r\n'
        b"Content-Type: application/gzip\r\n\r\n" + outer + b"\r\n--b--\r\n"
    )
    result = walk(body, "multipart/form-data; boundary=b")
    assert found(result, wav) == "multipart:file > gzip > tar#0(.zip) > zip#0(.wav)"
    assert "multipart:file > gzip > tar#0(.zip) > zip" in result.containers


def test_large_office_files_are_not_expanded(wav: bytes) -> None:
    """Entries that are neither media, containers nor text are read as far as their head only."""
    filler = bytes(range(256)) * (8 << 10)  # 2 MB of binary that is not media
    body = wrappers.zip_of({f"blob{i}.bin": filler for i in range(10)} | {"rec.wav": wav})
    tracemalloc.start()
    result = walk(body)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert found(result, wav) == "zip#10(.wav)"
    assert peak < len(body) + 16 * len(wav) + (8 << 20)


# --- encrypted containers -----------------------------------------------------------------------


def test_encrypted_zip_is_reported(wav: bytes, tmp_path: Path) -> None:
    result = walk(wrappers.encrypted_zip(wav, tmp_path))
    assert result.encrypted
    assert result.encrypted[0].startswith("zip: zip#0(.wav) is encrypted")
    assert not result.parts


def test_encrypted_pdf_is_reported(wav: bytes) -> None:
    result = walk(wrappers.pdf_with(wav, password="secret"), "application/pdf")
    assert result.encrypted == ["pdf: PDF is encrypted"]


def test_encrypted_7z_is_reported(wav: bytes) -> None:
    import libarchive  # type: ignore[import-untyped]

    chunks: list[bytes] = []

    def write(data: bytes) -> int:
        chunks.append(bytes(data))
        return len(data)

    with libarchive.custom_writer(write, "zip", options="zip:encryption=aes256", passphrase="pw") as archive:
        archive.add_file_from_memory("rec.wav", len(wav), wav)
    result = walk(b"".join(chunks))
    assert result.encrypted, result.errors


# --- encodings --------------------------------------------------------------------------------


def chat(content: object) -> bytes:
    return json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": content}]}).encode()


ENCODINGS: dict[str, Callable[[bytes], tuple[bytes, str | None]]] = {
    "wrapped-base64-json": lambda m: (chat(wrappers.wrapped_base64(m)), "application/json"),
    "base64-after-prefix": lambda m: (chat("Transcribe this: " + base64.b64encode(m).decode()), "application/json"),
    "urlsafe-base64": lambda m: (chat(base64.urlsafe_b64encode(m).decode().rstrip("=")), "application/json"),
    "hex": lambda m: (chat(m.hex()), "application/json"),
    "base64-of-gzip": lambda m: (chat(base64.b64encode(gzip.compress(m)).decode()), "application/json"),
    "base64-of-zlib": lambda m: (  # a web app's pako.deflate + btoa
        json.dumps({"audio": base64.b64encode(wrappers.compressed(m, "zlib")).decode()}).encode(),
        "application/json",
    ),
    "base64-of-zip": lambda m: (chat(base64.b64encode(wrappers.zip_of({"a.wav": m})).decode()), "application/json"),
    "split-array": lambda m: (
        json.dumps({"chunks": [base64.b64encode(m[i : i + 30000]).decode() for i in range(0, len(m), 30000)]}).encode(),
        "application/json",
    ),
    "data-uri-in-text": lambda m: (
        chat("listen to data:audio/wav;base64," + base64.b64encode(m).decode() + " and summarise"),
        "application/json",
    ),
    "untyped-json": lambda m: (chat(base64.b64encode(m).decode()), None),
    "json-as-octet-stream": lambda m: (chat(base64.b64encode(m).decode()), "application/octet-stream"),
    "json+protobuf-positional": lambda m: (
        json.dumps([["models/gemini"], [[[None, [None, "audio/wav", base64.b64encode(m).decode()]]]]]).encode(),
        "application/json+protobuf",
    ),
    "batchexecute-f.req": lambda m: (
        urlencode(
            {"f.req": json.dumps([[["rpc", json.dumps([base64.b64encode(m).decode()]), None, "generic"]]])}
        ).encode(),
        "application/x-www-form-urlencoded;charset=UTF-8",
    ),
    "form-untyped": lambda m: (urlencode({"audio": base64.b64encode(m).decode(), "x": "1"}).encode(), None),
    "text-plain-wrapped": lambda m: (wrappers.wrapped_base64(m).encode(), "text/plain"),
    "vendor-type": lambda m: (chat(base64.b64encode(m).decode()), "application/vnd.acme.request+v2"),
    "multipart-field-without-type": lambda m: (
        b'--b\r\nContent-Disposition: form-data; name="audio"\r\n\r\n'
        + base64.b64encode(m)
        + b'\r\n--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper\r\n--b--\r\n',
        "multipart/form-data; boundary=b",
    ),
    "split-form-fields": lambda m: (
        urlencode(
            [(f"part{i}", base64.b64encode(m[i : i + 30000]).decode()) for i in range(0, len(m), 30000)]
        ).encode(),
        "application/x-www-form-urlencoded",
    ),
}


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_encodings(wav: bytes, name: str) -> None:
    body, content_type = ENCODINGS[name](wav)
    result = walk(body, content_type)
    found(result, wav)
    assert len(result.errors) == 0 or name == "split-array", result.errors


def test_chat_without_media_finds_nothing() -> None:
    result = walk(chat("x" * 5000 + " the patient is well " * 100), "application/json")
    assert not result.parts
    assert not result.errors
    assert not result.unknown


# --- media that does not start at byte 0 ----------------------------------------------------------


def test_mp3_behind_junk(mp3: bytes) -> None:
    body = b"\x00" * 3000 + bytes(range(256)) * 4 + mp3
    result = walk(body, "application/octet-stream")
    part = result.parts[0]
    assert bytes(part.data).endswith(mp3)
    assert len(part.data) <= len(mp3) + 4
    assert part.where.startswith("body@")


def test_wav_behind_pdf_prefix(wav: bytes) -> None:
    body = b"%PDF-1.7\n%junk\n" + wav
    result = walk(body, "application/pdf")
    assert found(result, wav) == f"body@{len(body) - len(wav)}"


@pytest.mark.parametrize(
    ("fmt", "marker"),
    [
        ("w64", "w64"),
        ("voc", "voc"),
        ("tta", "tta"),
        ("ac3", "ac3"),
        ("wv", "wavpack"),
        ("caf", "caf"),
        ("ts", "mpegts"),
        ("m2ts", "mpegts"),
    ],
)
def test_marker_table_formats(media_factory: MediaFactory, fmt: str, marker: str) -> None:
    src = media_factory.speech(DICTATIONS[0])
    args = {"w64": ["-f", "w64"], "voc": ["-f", "voc"], "m2ts": ["-f", "mpegts", "-mpegts_m2ts_mode", "1"]}.get(fmt, [])
    data = media_factory.encode(src, f".{fmt}", *args).read_bytes()
    hit = marker_media(data[:65536])
    assert hit is not None
    assert hit.marker == marker
    assert hit.offset == 0
    from_start = marker in ("ac3", "mpegts")  # known from their first byte only
    result = walk(data if from_start else b"JUNK" * 10 + data, "application/octet-stream")
    assert result.parts
    assert bytes(result.parts[0].data).endswith(data[-1000:])


def test_unknown_large_leaf_is_kept_for_probing() -> None:
    noise = bytes((i * 7919) % 251 for i in range(200_000))
    result = walk(noise, "application/octet-stream")
    assert not result.parts
    assert [(p.where, p.kind) for p in result.unknown] == [("body", "unknown")]


# --- bombs and bounds -------------------------------------------------------------------------------

SMALL = ExtractLimits(max_bytes=64 << 20, max_expanded_bytes=32 << 20)


def _bounded(body: bytes, bound: str, limits: ExtractLimits = SMALL) -> None:
    """The walk stops at a bound named in its error, holding no more than a few times the byte bound."""
    tracemalloc.start()
    result = walk(body, None, limits)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert any(f"(bound {bound})" in error or (bound == "any" and "(bound max_" in error) for error in result.errors), (
        result.errors
    )
    assert peak < 3 * limits.max_expanded_bytes, f"peak {peak >> 20} MB"


def _zeros_zip(size: int) -> bytes:
    return wrappers.zip_of({"text.txt": b"A" * size})  # text is always expanded (it may hold base64)


def test_zip_bomb() -> None:
    _bounded(_zeros_zip(200 << 20), "any")


def test_zip_bomb_ratio() -> None:
    limits = ExtractLimits(max_bytes=64 << 20, max_expanded_bytes=32 << 20, max_compression_ratio=50)
    _bounded(_zeros_zip(200 << 20), "max_compression_ratio", limits)


def test_zip_bomb_within_ratio_hits_total() -> None:
    limits = ExtractLimits(max_bytes=64 << 20, max_expanded_bytes=32 << 20, max_compression_ratio=10**6)
    _bounded(_zeros_zip(200 << 20), "max_expanded_bytes", limits)


@pytest.mark.parametrize("kind", ["gzip", "zlib", "bzip2", "xz", "zstd"])
def test_compressed_file_bombs(kind: str) -> None:
    _bounded(wrappers.compressed(bytes(200 << 20), kind), "any")


def test_tar_gz_bomb() -> None:
    _bounded(wrappers.tar_of({"a.txt": b"A" * (100 << 20)}), "any")


def test_7z_bomb() -> None:
    _bounded(wrappers.libarchive_of({"a.txt": b"A" * (100 << 20)}, "7zip"), "any")


def test_entry_count_bound() -> None:
    body = wrappers.zip_of({f"{i}.txt": b"x" for i in range(300)})
    _bounded(body, "max_entries", ExtractLimits(max_entries=100, max_expanded_bytes=32 << 20))


def test_depth_bound(wav: bytes) -> None:
    body = wav
    for _ in range(8):
        body = wrappers.zip_of({"inner.zip": body})
    _bounded(body, "max_container_depth")


def test_time_bound(wav: bytes) -> None:
    body = wrappers.zip_of({f"{i}.wav": wav for i in range(50)})
    _bounded(body, "max_expand_s", ExtractLimits(max_expand_s=0.0, max_expanded_bytes=32 << 20))


def test_corrupt_zip_is_an_error_not_a_crash(wav: bytes) -> None:
    body = wrappers.zip_of({"rec.wav": wav})
    result = walk(body[: len(body) // 2] + b"\x00" * 100)
    assert result.errors or result.parts == [] or found(result, wav)


def test_zip_path_never_holds_a_name() -> None:
    body = wrappers.zip_of({"Patient Smith.wav": b"RIFF" + bytes(1000), "noext": b"x"})
    with zipfile.ZipFile(__import__("io").BytesIO(body)) as archive:
        assert len(archive.infolist()) == 2
    result = walk(body)
    assert all("Smith" not in where for where in [p.where for p in result.parts] + result.containers)


def test_mp4_deep_in_an_envelope_starts_at_its_box_size(media_factory: MediaFactory) -> None:
    """Past the marker scan, the envelope scan finds `ftyp` and cuts 4 bytes before it."""
    m4a = media_factory.encode(media_factory.speech(DICTATIONS[0]), ".m4a", "-c:a", "aac", "-b:a", "32k").read_bytes()
    prefix = random.Random(5).randbytes(MARKER_SCAN_BYTES + 4096)
    result = walk(prefix + m4a, "application/octet-stream")
    assert found(result, m4a) == f"body@{len(prefix)}"


@pytest.mark.parametrize(("suffix", "args"), [(".tiff", ()), (".jp2", ()), (".dv", ("-s", "720x576", "-r", "25"))])
def test_stills_and_dv_pass_the_signature_gate(media_factory: MediaFactory, suffix: str, args: tuple[str, ...]) -> None:
    """The proxy's probe asks libmagic only when the magic numbers allow it (`guarded`)."""
    clip = media_factory.video(None, seconds=2.0)
    data = media_factory.encode(clip, suffix, "-frames:v", "1" if suffix != ".dv" else "10", *args).read_bytes()
    assert [(p.where, p.kind) for p in walk(data, "application/octet-stream").parts] == [("body", "media")]
