"""Realtime audio events: formats, decoding, the rolling window, garbage messages."""

from __future__ import annotations

import base64
import json
import warnings

import numpy as np
import pytest

from agent.payload.types import PcmFormat
from agent.proxy.realtime import ALAW, ULAW, RealtimeAudio, format_from_url, to_s16_mono

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # reference implementation of G.711 (removed in 3.13; present here)


def never_media(head: bytes) -> bool:
    return head.startswith(b"RIFF")


def tone(seconds: float, rate: int) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 440 * t) * 12000).astype("<i2").tobytes()


def append(pcm: bytes) -> bytes:
    return json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}).encode()


def test_g711_tables_match_audioop() -> None:
    codes = bytes(range(256))
    assert ULAW.tobytes() == audioop.ulaw2lin(codes, 2)
    assert ALAW.tobytes() == audioop.alaw2lin(codes, 2)


def test_stereo_and_float_conversion() -> None:
    stereo = np.array([[1000, 3000], [-2000, -4000]], dtype="<i2").tobytes()
    assert np.frombuffer(to_s16_mono(stereo, PcmFormat(16000, 2)), "<i2").tolist() == [2000, -3000]
    floats = np.array([0.5, -1.5], dtype="<f4").tobytes()
    out = np.frombuffer(to_s16_mono(floats, PcmFormat(16000, 1, "f32le")), "<i2").tolist()
    assert out == [16383, -32767]


def test_openai_window_and_due() -> None:
    audio = RealtimeAudio(PcmFormat(24000), never_media, window_s=10, check_every_s=2.5, min_window_s=3)
    second = tone(1.0, 24000)
    for _ in range(2):
        audio.feed(append(second), True)
    assert not audio.due()  # 2 s: not enough to recognise yet
    audio.feed(append(second), True)
    assert audio.due()
    window, rate = audio.take_window()
    assert rate == 24000
    assert len(window) == 3 * 48000
    assert not audio.due()
    for _ in range(20):
        audio.feed(append(second), True)
    window, _ = audio.take_window()
    assert len(window) == 10 * 48000  # bounded to the window
    assert audio.total_audio_s == pytest.approx(23.0)


def test_openai_session_update_switches_format() -> None:
    audio = RealtimeAudio(PcmFormat(24000), never_media)
    feed = audio.feed(
        json.dumps({"type": "session.update", "session": {"input_audio_format": "g711_ulaw"}}).encode(), True
    )
    assert feed.config
    assert audio.format == PcmFormat(8000, 1, "mulaw")
    audio.feed(append(b"\xff" * 8000), True)
    assert audio.total_audio_s == pytest.approx(1.0)
    ga = {"type": "session.update", "session": {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}}}}
    audio.feed(json.dumps(ga).encode(), True)
    assert audio.format == PcmFormat(24000, 1, "s16le")


def test_gemini_live_media_chunks_and_audio() -> None:
    audio = RealtimeAudio(PcmFormat(24000), never_media)
    pcm = tone(1.0, 16000)
    message = {
        "realtimeInput": {"mediaChunks": [{"mimeType": "audio/pcm;rate=16000", "data": base64.b64encode(pcm).decode()}]}
    }
    feed = audio.feed(json.dumps(message).encode(), True)
    assert feed.audio_bytes == len(pcm)
    assert audio.format.sample_rate == 16000
    snake = {"realtime_input": {"audio": {"mime_type": "audio/pcm;rate=16000", "data": base64.b64encode(pcm).decode()}}}
    assert audio.feed(json.dumps(snake).encode(), True).audio_bytes == len(pcm)


def test_conversation_item_clip_is_a_part() -> None:
    audio = RealtimeAudio(PcmFormat(24000), never_media)
    item = {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "content": [{"type": "input_audio", "audio": base64.b64encode(tone(2, 24000)).decode()}],
        },
    }
    feed = audio.feed(json.dumps(item).encode(), True)
    assert len(feed.parts) == 1
    assert feed.parts[0].pcm == PcmFormat(24000)


def test_binary_pcm_and_container_streams() -> None:
    raw = RealtimeAudio(format_from_url("encoding=linear16&sample_rate=16000", PcmFormat(24000)), never_media)
    assert raw.feed(tone(1.0, 16000), False).audio_bytes == 32000
    container = RealtimeAudio(PcmFormat(16000), never_media, max_container_bytes=100)
    container.feed(b"RIFF" + b"\0" * 50, False)
    assert container.container_mode
    assert len(container.container) == 54
    container.feed(b"\0" * 80, False)
    assert container.container_overflow


@pytest.mark.parametrize(
    "message",
    [
        b"not json at all \xff\xfe",
        b"[1, 2, 3]",
        b'{"type": "response.create"}',
        b"{" * 100000,
    ],
)
def test_garbage_text_is_ignored(message: bytes) -> None:
    feed = RealtimeAudio(PcmFormat(24000), never_media).feed(message, True)
    assert feed.audio_bytes == 0
    assert feed.error is None


def test_undecodable_audio_event_is_an_error() -> None:
    audio = RealtimeAudio(PcmFormat(24000), never_media)
    bad = json.dumps({"type": "input_audio_buffer.append", "audio": "@@@" * 100}).encode()
    assert audio.feed(bad, True).error is not None
    missing = json.dumps({"type": "input_audio_buffer.append"}).encode()
    assert audio.feed(missing, True).error is not None
    assert audio.errors == 2


def test_other_plausible_rates_are_tried_in_turn() -> None:
    audio = RealtimeAudio(PcmFormat(24000), never_media)
    first, second, third = (audio.next_alternate_rates(2) for _ in range(3))
    assert first == [16000, 48000]  # the likeliest lie first: 16 kHz sent as 24 kHz
    assert sorted(first + second + third[:1]) == [8000, 16000, 22050, 44100, 48000]
    assert 24000 not in first + second + third
    assert audio.next_alternate_rates(0) == []
    assert sorted(audio.next_alternate_rates(9)) == [8000, 16000, 22050, 44100, 48000]
