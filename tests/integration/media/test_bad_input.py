"""Hostile and broken input: every case ends in a clear error or "no match", in bounded time,
never an exception out of the service."""

from __future__ import annotations

import os
import struct
import time
import zlib
from pathlib import Path

import pytest

from agent.media import MediaLimits, sniff_bytes
from agent.media.decode import MAX_FRAME_PIXELS
from agent.store import Store
from tests.support.media import MediaFactory

from .conftest import Clinic, make, tones


def png_bomb(width: int, height: int) -> bytes:
    """A real PNG of width x height black pixels: a few hundred KB that decode to gigabytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer = zlib.compressobj(9)
    row = bytes(width + 1)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_zero_length_and_text_are_not_media(clinic: Clinic, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("Patient reports no pain. Follow up in two weeks.\n" * 20)
    for path in (empty, text):
        outcome = clinic.service.match_path(path)
        assert outcome.match is None
        assert outcome.media_kind is None
    assert clinic.service.match_bytes(b"").media_kind is None


def test_mislabelled_media_is_recognised_by_content(clinic: Clinic, tmp_path: Path) -> None:
    disguised = tmp_path / "report.txt"
    disguised.write_bytes(clinic.dictations[1].read_bytes())
    outcome = clinic.service.match_path(disguised)
    assert outcome.mime == "audio/mpeg"
    assert outcome.match is not None
    assert outcome.match.asset_id == clinic.asset_of(clinic.dictations[1])


def test_truncated_audio_still_recognised_from_what_remains(clinic: Clinic, tmp_path: Path) -> None:
    data = clinic.dictations[1].read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: len(data) * 6 // 10])
    outcome = clinic.service.match_path(cut)
    assert outcome.match is not None
    assert outcome.match.asset_id == clinic.asset_of(clinic.dictations[1])


def test_truncated_mp4_is_a_clear_error(clinic: Clinic, tmp_path: Path) -> None:
    data = clinic.video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # the index (moov) is at the end: nothing decodable
    outcome = clinic.service.match_path(cut)
    assert outcome.match is None
    assert outcome.error is not None
    assert "decodable" in outcome.error or "truncated" in outcome.error


def test_corrupted_middle_does_not_crash(clinic: Clinic, tmp_path: Path) -> None:
    data = bytearray(clinic.dictations[0].read_bytes())
    start = len(data) // 3
    data[start : start + len(data) // 3] = os.urandom(len(data) // 3)
    broken = tmp_path / "broken.m4a"
    broken.write_bytes(bytes(data))
    outcome = clinic.service.match_path(broken)  # must return, whatever the decoder makes of it
    assert outcome.media_kind == "audio"
    assert outcome.ms < 10_000


def test_garbage_behind_a_media_header_is_an_error(clinic: Clinic) -> None:
    garbage = b"RIFF\x24\x08\x00\x00WAVEfmt " + os.urandom(4000)
    outcome = clinic.service.match_bytes(garbage)
    assert outcome.match is None
    assert outcome.error is not None


def test_size_limit_is_enforced_before_decoding(clinic: Clinic) -> None:
    outcome = clinic.service.match_path(clinic.dictations[0], limits=MediaLimits(max_bytes=10_000))
    assert outcome.error is not None
    assert "byte limit" in outcome.error
    data = clinic.dictations[0].read_bytes()
    assert "byte limit" in (clinic.service.match_bytes(data, limits=MediaLimits(max_bytes=1000)).error or "")


def test_duration_and_decode_time_limits_bound_endless_media(clinic: Clinic) -> None:
    long_audio = make(clinic.factory, "long_tone.flac", "-f", "lavfi", "-i", "sine=f=300:d=600:r=8000")
    started = time.perf_counter()
    outcome = clinic.service.match_path(long_audio, limits=MediaLimits(max_duration_s=20))
    assert time.perf_counter() - started < 10
    assert outcome.match is None
    assert outcome.error is not None
    assert "duration limit" in outcome.error
    slow = clinic.service.match_path(long_audio, limits=MediaLimits(max_decode_s=0.0))
    assert slow.error is not None
    assert "time limit" in slow.error


def test_decompression_bomb_picture_is_refused_before_decoding(clinic: Clinic) -> None:
    side = int(MAX_FRAME_PIXELS**0.5) + 1000
    bomb = png_bomb(side, side)
    assert len(bomb) < 2_000_000
    assert sniff_bytes(bomb).kind == "image"
    started = time.perf_counter()
    outcome = clinic.service.match_bytes(bomb)
    assert time.perf_counter() - started < 5
    assert outcome.match is None
    assert outcome.error is not None
    assert "pixel" in outcome.error or "decodable" in outcome.error


def test_half_second_clip_is_no_match_without_error(clinic: Clinic) -> None:
    clip = make(clinic.factory, "half_second.mp3", "-ss", "3", "-t", "0.5", "-i", str(clinic.dictation_wavs[0]))
    outcome = clinic.service.match_path(clip)
    assert outcome.match is None
    assert outcome.error is None
    assert outcome.media_kind == "audio"


def test_devices_fifos_and_folders_are_refused_without_blocking(clinic: Clinic, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.mp3"
    os.mkfifo(fifo)
    for path in (Path("/dev/zero"), fifo, tmp_path, tmp_path / "missing.wav"):
        started = time.perf_counter()
        outcome = clinic.service.match_path(path)
        assert time.perf_counter() - started < 2
        assert outcome.match is None
        assert outcome.error is not None


def test_playlists_that_point_elsewhere_are_not_followed(clinic: Clinic, tmp_path: Path) -> None:
    playlist = tmp_path / "clip.m3u8"
    playlist.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:9/a.ts\n#EXT-X-ENDLIST\n")
    outcome = clinic.service.match_path(playlist)
    assert outcome.match is None
    assert outcome.media_kind is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"sample_rate": 100}, "implausible"), ({"sample_rate": 16000, "sample_format": "u4"}, "unsupported")],
)
def test_bad_pcm_parameters_are_errors(clinic: Clinic, kwargs: dict[str, object], message: str) -> None:
    outcome = clinic.service.match_pcm(b"\x00\x01" * 16000, **kwargs)  # type: ignore[arg-type]
    assert outcome.match is None
    assert outcome.error is not None
    assert message in outcome.error


def test_pcm_noise_is_no_match(clinic: Clinic) -> None:
    outcome = clinic.service.match_pcm(os.urandom(2 * 16000 * 3), sample_rate=16000)
    assert outcome.match is None


def test_enrolling_what_cannot_be_fingerprinted_says_why(clinic: Clinic, tmp_path: Path) -> None:
    text = tmp_path / "a.mp3"
    text.write_text("not audio at all")
    assert "not audio, video or an image" in (clinic.service.enroll_path(text).error or "")
    silence = make(clinic.factory, "silence_enrol.wav", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "4")
    assert "nothing to fingerprint" in (clinic.service.enroll_path(silence).error or "")
    assert clinic.service.enroll_path(tmp_path / "nope.wav").error is not None


def test_a_failing_store_is_reported_as_the_store_not_the_file(
    media_factory: MediaFactory, store: Store, tmp_path: Path
) -> None:
    """The watcher keeps the file pending on `store_failed` (typed), and never parses `error` text."""
    from agent.media import MediaService

    service = MediaService(store, agent_id="ws-test")
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE media_print")  # the prints cannot be written
    outcome = service.enroll_path(tones(media_factory, "store-down.wav", 3.0))
    assert outcome.store_failed
    assert outcome.asset_id is None
    assert outcome.error is not None
    assert outcome.error.startswith("cannot store prints")
    not_media = tmp_path / "notes.wav"
    not_media.write_text("not a recording\n" * 10)
    assert not service.enroll_path(not_media).store_failed  # a bad file is the file's fault
