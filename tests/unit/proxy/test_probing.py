"""What unreadable bytes mean for an upload to an AI service, with the real decoder and an empty index."""

from __future__ import annotations

import io
import os
import random
import sqlite3
import wave
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agent.media import MediaService, looks_like_media
from agent.media.model import MediaLimits
from agent.payload import Extraction, ExtractLimits, extract_payload
from agent.payload.sniff import guarded
from agent.proxy.probing import OPAQUE_BITS_PER_BYTE, ProbePolicy, byte_entropy, probe_part, unread_leaves
from agent.store import open_store

LIMITS = MediaLimits(max_decode_s=10)


@pytest.fixture
def media(tmp_path: Path) -> Iterator[MediaService]:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield MediaService(store, agent_id="unit")
    store.dispose()


def tone_pcm(seconds: float = 4.0, rate: int = 16_000) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    wave = np.sin(2 * np.pi * 220 * t) * 6000 * (1 + np.sin(2 * np.pi * 0.7 * t))
    return wave.astype("<i2").tobytes()


def test_unidentified_bytes_above_the_floor_fail_closed(media: MediaService) -> None:
    probed = probe_part(media, os.urandom(100_000), "application/octet-stream", ProbePolicy(), LIMITS)
    assert probed.outcome is None
    assert probed.error is not None
    assert "could not be read as media" in probed.error


def test_policy_can_let_unreadable_bytes_pass(media: MediaService) -> None:
    policy = ProbePolicy(fail_closed=False)
    assert probe_part(media, os.urandom(100_000), "application/octet-stream", policy, LIMITS).error is None


def test_below_the_floor_and_named_documents_are_not_failed(media: MediaService) -> None:
    assert probe_part(media, os.urandom(10_000), "application/octet-stream", ProbePolicy(), LIMITS).error is None
    document = b"%PDF-1.7\n" + os.urandom(100_000)
    assert probe_part(media, document, "application/pdf", ProbePolicy(), LIMITS).error is None


def test_noise_libmagic_guesses_a_type_for_still_fails_closed(media: MediaService) -> None:
    """libmagic names random bytes that start 0xE9 a DOS executable: a guess, not a reason to pass."""
    noise = b"\xe9\x12" + random.Random(1).randbytes(100_000)  # fixed: libmagic's guess varies (0.5 %)
    sniffed = media.match_bytes(noise, limits=LIMITS).mime
    assert sniffed == "application/x-dosexec"
    probed = probe_part(media, noise, sniffed, ProbePolicy(), LIMITS)
    assert probed.error is not None
    assert "compressed or encrypted bytes (libmagic guesses application/x-dosexec)" in probed.error


def test_named_binaries_that_are_not_opaque_pass(tmp_path: Path, media: MediaService) -> None:
    database = tmp_path / "notes.db"
    with sqlite3.connect(database) as connection:
        connection.execute("create table note(text)")
        connection.executemany("insert into note values (?)", [(f"row {i} of a plain table",) for i in range(5000)])
    data = database.read_bytes()
    assert len(data) > ProbePolicy().floor
    sniffed = media.match_bytes(data, limits=LIMITS).mime
    assert sniffed == "application/vnd.sqlite3"
    assert probe_part(media, data, sniffed, ProbePolicy(), LIMITS).error is None


def test_byte_entropy_tells_opaque_bytes_from_structured_ones() -> None:
    assert byte_entropy(os.urandom(200_000)) > 7.9
    words = " ".join(f"word{n % 977} {n * 7919 % 100_003}" for n in range(60_000)).encode()
    assert byte_entropy(zlib.compress(words)) > OPAQUE_BITS_PER_BYTE
    assert byte_entropy(("a plain note about nothing in particular. " * 3000).encode()) < OPAQUE_BITS_PER_BYTE
    assert byte_entropy(b"\x00" * 100_000 + b"\x01" * 100) < 1.0
    # Sampled across the bytes: a structured header or padding does not hide an opaque body.
    assert byte_entropy(b"\x00" * 20_000 + os.urandom(300_000)) > OPAQUE_BITS_PER_BYTE
    assert byte_entropy(b"") == 0.0


def test_headerless_pcm_is_read_as_audio(media: MediaService) -> None:
    probed = probe_part(media, tone_pcm(), "application/octet-stream", ProbePolicy(), LIMITS)
    assert probed.error is None
    assert probed.outcome is not None
    assert probed.outcome.media_kind == "audio"
    assert probed.how == "pcm:s16le/16000/1"


def walk(body: bytes, content_type: str | None) -> Extraction:
    """The real payload walker over `body`, with the real libmagic media probe."""
    return extract_payload(body, content_type, None, ExtractLimits(), guarded(looks_like_media))


def test_unread_leaves_of_a_body() -> None:
    body = b"\x00\x01" + os.urandom(70_000)
    [leaf] = unread_leaves(walk(body, "application/octet-stream"), floor=65_536)
    assert leaf.where == "body"
    assert unread_leaves(walk(body[:1000], None), floor=65_536) == []
    assert unread_leaves(walk(body, None), floor=200_000) == []


def test_unread_leaves_of_multipart_and_archives() -> None:
    blob = b"\x00\x01" + os.urandom(70_000)
    body = (
        b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + blob + b"\r\n--b--\r\n"
    )
    [leaf] = unread_leaves(walk(body, "multipart/form-data; boundary=b"), floor=65_536)
    assert leaf.where.startswith("multipart:file")
    assert bytes(leaf.data) == blob
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes.txt", "hello")
        archive.writestr("a/recording.bin", blob)
    [entry] = unread_leaves(walk(packed.getvalue(), "application/zip"), floor=65_536)
    assert "zip" in entry.where
    assert bytes(entry.data) == blob


def test_text_and_media_are_not_unread_leaves() -> None:
    text = ("a plain note about nothing in particular. " * 3000).encode()
    assert unread_leaves(walk(text, "application/octet-stream"), floor=65_536) == []
    wav = io.BytesIO()
    with wave.open(wav, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(tone_pcm())
    extraction = walk(wav.getvalue(), None)
    assert extraction.parts
    assert unread_leaves(extraction, floor=65_536) == []
