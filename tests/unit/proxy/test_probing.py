"""What unreadable bytes mean for an upload to an AI service, with the real decoder and an empty index."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agent.media import MediaService
from agent.media.model import MediaLimits
from agent.payload.types import Extraction, PayloadPart
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


def test_unread_leaves_of_a_body() -> None:
    body = os.urandom(70_000)
    [leaf] = unread_leaves(body, "application/octet-stream", Extraction(), floor=65_536)
    assert leaf.where == "body"
    assert unread_leaves(body, "application/json", Extraction(), floor=65_536) == []
    assert unread_leaves(body[:1000], None, Extraction(), floor=65_536) == []
    found = Extraction(parts=[PayloadPart("body@0", body)])
    assert unread_leaves(body, None, found, floor=65_536) == []


def test_unread_leaves_of_multipart() -> None:
    blob = os.urandom(70_000)
    body = (
        b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + blob + b"\r\n--b--\r\n"
    )
    [leaf] = unread_leaves(body, "multipart/form-data; boundary=b", Extraction(), floor=65_536)
    assert leaf.where == "multipart:file"
    assert bytes(leaf.data) == blob
    taken = Extraction(parts=[PayloadPart("multipart:file", blob)])
    assert unread_leaves(body, "multipart/form-data; boundary=b", taken, floor=65_536) == []
