"""Audio a mono print would miss: a second audio track, and channels that cancel when mixed.

Screen recorders keep the microphone and the system audio in separate tracks, so the clinical
speech can sit in track 2 behind an unrelated track 1; and a stereo file whose right channel is
the left one negated mixes to silence. Both are decoded as extra passes appended to the print.
"""

from __future__ import annotations

from pathlib import Path

from agent.media.decode import DecodeReport, decode
from agent.media.model import MediaLimits
from tests.support.media import OTHER_SPEECH

from .conftest import Clinic, make


class _Counter:
    def __init__(self) -> None:
        self.samples = 0

    def audio(self, samples: object) -> None:
        self.samples += len(samples)  # type: ignore[arg-type]

    def wants_picture(self, t: float) -> bool:
        return False

    def picture(self, picture: object) -> None:
        pass

    def satisfied(self) -> bool:
        return False


def _report(path: Path) -> DecodeReport:
    return decode(path, _Counter(), MediaLimits(), want_video=False)  # type: ignore[arg-type]


def _other(clinic: Clinic) -> Path:
    return clinic.factory.speech(OTHER_SPEECH[1], voice="en-gb")


def test_dictation_in_the_second_audio_track_is_recognised(clinic: Clinic) -> None:
    wav = clinic.dictation_wavs[0]
    query = make(
        clinic.factory, "two_tracks.mkv", "-i", str(_other(clinic)), "-i", str(wav),
        "-map", "0:a", "-map", "1:a", "-c:a", "libopus", "-b:a", "48k",
    )  # fmt: skip
    assert _report(query).extra_audio == ["audio stream 2"]
    outcome = clinic.service.match_path(query)
    assert outcome.match is not None
    assert outcome.match.asset_id == clinic.asset_of(clinic.dictations[0])


def test_screen_recording_with_the_dictation_as_system_audio_is_recognised(clinic: Clinic) -> None:
    """A video whose first audio track is someone talking, the second the clinical dictation."""
    query = make(
        clinic.factory, "screen_two_tracks.mp4",
        "-f", "lavfi", "-i", "mandelbrot=s=320x240:rate=10:end_pts=60",
        "-i", str(_other(clinic)), "-i", str(clinic.dictation_wavs[1]),
        "-map", "0:v", "-map", "1:a", "-map", "2:a", "-shortest", "-c:a", "aac", "-b:a", "64k",
        "-c:v", "libx264", "-preset", "ultrafast",
    )  # fmt: skip
    outcome = clinic.service.match_path(query)
    assert outcome.match is not None
    assert outcome.match.asset_id == clinic.asset_of(clinic.dictations[1])


def test_stereo_whose_channels_cancel_in_the_mix_is_recognised(clinic: Clinic) -> None:
    wav = clinic.dictation_wavs[0]
    query = make(clinic.factory, "phase_inverted.m4a", "-i", str(wav), "-af", "pan=stereo|c0=c0|c1=-1*c0")
    assert _report(query).extra_audio == ["channel 1 of audio stream 1"]
    outcome = clinic.service.match_path(query)
    assert outcome.match is not None
    assert outcome.match.asset_id == clinic.asset_of(clinic.dictations[0])


def test_ordinary_stereo_and_single_tracks_take_one_pass_and_unrelated_tracks_do_not_match(clinic: Clinic) -> None:
    other = _other(clinic)
    stereo = make(clinic.factory, "other_stereo.mp3", "-i", str(other), "-ac", "2", "-b:a", "96k")
    assert _report(stereo).extra_audio == []
    assert _report(clinic.dictations[0]).extra_audio == []
    unrelated = make(
        clinic.factory, "unrelated_tracks.mkv", "-i", str(other), "-i", str(stereo),
        "-map", "0:a", "-map", "1:a", "-c:a", "libopus",
    )  # fmt: skip
    assert clinic.service.match_path(unrelated).match is None
