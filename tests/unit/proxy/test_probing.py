"""What unreadable bytes mean for an upload to an AI service, with the real decoder and an empty index."""

from __future__ import annotations

import io
import os
import wave
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agent.media import MediaService, looks_like_media
from agent.media.model import MediaLimits
from agent.payload import Extraction, ExtractLimits, extract_payload
from agent.payload.sniff import guarded
from agent.proxy.probing import ProbePolicy, probe_part, unread_leaves
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
