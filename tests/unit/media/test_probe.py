"""Media markers at any offset, MPEG frame checks, and the headerless-PCM plausibility test."""

from __future__ import annotations

import os

import numpy as np

from agent.media.probe import find_markers, leading_run, mpeg_frame_length, pcm_layout

# MPEG-1 layer III, 128 kbit/s, 44.1 kHz, no padding: 417-byte frames.
MP3_HEADER = b"\xff\xfb\x90\x00"


def mp3_frames(count: int) -> bytes:
    return (MP3_HEADER + bytes(413)) * count


def test_mpeg_frame_length() -> None:
    assert mpeg_frame_length(MP3_HEADER + bytes(4)) == 417
    assert mpeg_frame_length(b"\xff\xfb\xf0\x00" + bytes(4)) is None  # bitrate index 15 is invalid
    assert mpeg_frame_length(b"\x00\x00\x00\x00" + bytes(4)) is None


def test_frame_sync_needs_a_second_frame_where_the_first_ends() -> None:
    junk = bytes(range(7, 250)) * 10
    assert [(m.label, m.offset) for m in find_markers(junk + mp3_frames(3))] == [("mpeg-frame", len(junk))]
    lone = junk + MP3_HEADER + bytes(1000)
    assert find_markers(lone) == []


def test_leading_padding_is_skipped() -> None:
    data = bytes(3 << 20) + b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(100)
    assert leading_run(data) == 3 << 20
    assert [(m.label, m.offset) for m in find_markers(data)] == [("riff", 3 << 20)]
    assert leading_run(b"RIFF....") == 0


def test_container_markers_behind_a_prefix() -> None:
    prefix = b"%PDF-1.7\n" + bytes(range(1, 200))
    for magic, label in [
        (b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb", "w64"),
        (b"wvpk\x00\x00\x00\x00\x10\x04", "wavpack"),
        (b"TTA1\x01\x00", "tta"),
        (b"Creative Voice File\x1a", "voc"),
        (b"OggS\x00\x02", "ogg"),
        (b"fLaC\x00", "flac"),
        (b"\x1a\x45\xdf\xa3", "ebml"),
    ]:
        markers = find_markers(prefix + magic + bytes(64))
        assert [(m.label, m.offset) for m in markers] == [(label, len(prefix))], label
    assert [(m.label, m.offset) for m in find_markers(prefix + b"\x00\x00\x00\x20ftypisom")] == [("mp4", len(prefix))]


def test_markers_are_bounded() -> None:
    assert len(find_markers(b"RIFF\x00\x00\x00\x00WAVE" + b"OggS\x00\x02" + b"fLaC\x00" + b"ID3\x03\x00", limit=2)) == 2


def _tone(rate: int, seconds: float, freq: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * 8000 + np.sin(2 * np.pi * 3.1 * freq * t) * 3000).astype("<i2")


def test_pcm_layout_mono_stereo_and_alignment() -> None:
    mono = _tone(16_000, 1.0, 220).tobytes()
    assert pcm_layout(mono) == (0, 1)
    assert pcm_layout(b"\x07" + mono) == (1, 1)  # a piece cut at an odd byte offset
    left, right = _tone(48_000, 1.0, 300), _tone(48_000, 1.0, 450)
    stereo = np.stack([left, right], axis=1).reshape(-1).astype("<i2").tobytes()
    assert pcm_layout(stereo) == (0, 2)
    duplicated = np.repeat(left, 2).astype("<i2").tobytes()  # mono upmixed: left == right
    assert pcm_layout(duplicated) == (0, 2)


def test_compressed_or_random_bytes_are_not_pcm() -> None:
    assert pcm_layout(os.urandom(200_000)) is None
    assert pcm_layout(bytes(200_000)) is None  # silence carries nothing to match
    assert pcm_layout(b"x" * 100) is None
