"""Enrolled clinical media is recognised through every transformation family of docs/detection.md,
and nothing else is: real encoders, real libchromaprint, a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.media import OTHER_SPEECH

from .conftest import Clinic, lavfi_video, make, mix_noise, other_speech, pcm_s16le, tones

AUDIO_CASES = {
    "mp3_24k": (".mp3", ["-ac", "1", "-b:a", "24k"]),
    "opus_16k": (".ogg", ["-c:a", "libopus", "-b:a", "16k"]),
    "resampled_8k_flac": (".flac", ["-ar", "8000"]),
    "telephone_mulaw": (".wav", ["-af", "highpass=f=300,lowpass=f=3400", "-ar", "8000", "-c:a", "pcm_mulaw"]),
    "quieter_12db": (".m4a", ["-af", "volume=-12dB"]),
    "tempo_plus_4pct": (".mp3", ["-af", "atempo=1.04"]),
    "tempo_minus_4pct": (".webm", ["-af", "atempo=0.96", "-c:a", "libopus"]),
    "reverb": (".m4a", ["-af", "aecho=0.8:0.6:40|70:0.35|0.25"]),
    "excerpt_4s": (".mp3", ["-ss", "6.5", "-t", "4"]),
}


@pytest.mark.parametrize("case", sorted(AUDIO_CASES))
def test_transformed_dictation_is_recognised(clinic: Clinic, case: str) -> None:
    suffix, args = AUDIO_CASES[case]
    source = clinic.dictations[0]
    query = make(clinic.factory, f"q_{case}{suffix}", "-i", str(clinic.dictation_wavs[0]), *args)
    outcome = clinic.service.match_path(query)
    assert outcome.error is None
    assert outcome.match is not None, case
    assert outcome.match.asset_id == clinic.asset_of(source)
    assert outcome.match.kind == "audio"
    assert 0.0 < outcome.match.score <= 1.0
    if case.startswith("excerpt"):
        assert abs(outcome.match.offset_s - 6.5) < 0.3


def test_noisy_dictation_at_10db_snr_is_recognised(clinic: Clinic) -> None:
    noisy = make(
        clinic.factory,
        "q_noise10.m4a",
        "-i",
        str(mix_noise(clinic.factory, clinic.dictation_wavs[1], "noisy.wav", 10.0)),
    )
    outcome = clinic.service.match_path(noisy)
    assert outcome.match is not None
    assert outcome.match.asset_id == clinic.asset_of(clinic.dictations[1])


def test_speech_that_was_never_enrolled_is_not_matched(clinic: Clinic) -> None:
    for path in other_speech(clinic.factory):
        outcome = clinic.service.match_path(path)
        assert outcome.error is None
        assert outcome.match is None, path


def test_tones_and_silence_are_not_matched(clinic: Clinic) -> None:
    tones_file = tones(clinic.factory, "tones.mp3", seconds=8)
    assert clinic.service.match_path(tones_file).match is None
    silence = make(clinic.factory, "silence.wav", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "5")
    outcome = clinic.service.match_path(silence)
    assert outcome.match is None
    assert outcome.error is None


@pytest.mark.parametrize("rate", [16000, 24000])
def test_realtime_pcm_excerpt_is_recognised(clinic: Clinic, rate: int) -> None:
    pcm = pcm_s16le(clinic.factory, clinic.dictation_wavs[1], rate, start=5.0, seconds=4.0)
    outcome = clinic.service.match_pcm(pcm, sample_rate=rate, channels=1, sample_format="s16le")
    assert outcome.match is not None
    assert outcome.match.asset_id == clinic.asset_of(clinic.dictations[1])
    assert abs(outcome.match.offset_s - 5.0) < 0.3
    assert outcome.media_kind == "audio"


def test_realtime_pcm_of_other_speech_is_not_matched(clinic: Clinic) -> None:
    pcm = pcm_s16le(clinic.factory, other_speech(clinic.factory)[0], 24000, start=1.0, seconds=4.0)
    outcome = clinic.service.match_pcm(pcm, sample_rate=24000)
    assert outcome.match is None
    assert outcome.error is None


VIDEO_CASES = {
    "vp9_240p_with_sound": (
        ".webm",
        [
            "-vf",
            "scale=-2:240",
            "-c:v",
            "libvpx-vp9",
            "-b:v",
            "150k",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-c:a",
            "libopus",
            "-b:a",
            "24k",
        ],
        "audio",
    ),
    "silent_h264_crf35_15fps": (
        ".mp4",
        ["-an", "-r", "15", "-c:v", "libx264", "-crf", "35", "-preset", "veryfast"],
        "video",
    ),
    "silent_crop_10pct": (
        ".mp4",
        ["-an", "-vf", "crop=iw*0.9:ih*0.9,scale=-2:320", "-c:v", "libx264", "-preset", "veryfast"],
        "video",
    ),
    "silent_letterbox": (
        ".mov",
        ["-an", "-vf", "scale=400:224,pad=400:300:0:38:black", "-c:v", "libx264", "-preset", "veryfast"],
        "video",
    ),
    "silent_brighter": (
        ".mkv",
        ["-an", "-vf", "eq=brightness=0.12", "-c:v", "libx264", "-preset", "veryfast"],
        "video",
    ),
    "silent_excerpt_5s": (".mp4", ["-ss", "4", "-t", "5", "-an", "-c:v", "libx264", "-preset", "veryfast"], "video"),
    "sound_track_only": (".m4a", ["-vn", "-c:a", "aac", "-b:a", "48k"], "audio"),
}


@pytest.mark.parametrize("case", sorted(VIDEO_CASES))
def test_transformed_video_is_recognised(clinic: Clinic, case: str) -> None:
    suffix, args, kind = VIDEO_CASES[case]
    query = make(clinic.factory, f"qv_{case}{suffix}", "-i", str(clinic.video), *args)
    outcome = clinic.service.match_path(query)
    assert outcome.error is None
    assert outcome.match is not None, case
    assert outcome.match.asset_id == clinic.asset_of(clinic.video)
    assert outcome.match.kind == kind
    if "excerpt" in case:
        assert abs(outcome.match.offset_s - 4.0) <= 0.5


def test_silent_enrolled_video_is_recognised_by_its_frames(clinic: Clinic) -> None:
    query = make(
        clinic.factory,
        "qv_silent_vp9.webm",
        "-i",
        str(clinic.silent_video),
        "-c:v",
        "libvpx-vp9",
        "-b:v",
        "200k",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
    )
    outcome = clinic.service.match_path(query)
    assert outcome.match is not None
    assert outcome.match.kind == "video"
    assert outcome.match.asset_id == clinic.asset_of(clinic.silent_video)


@pytest.mark.parametrize(
    ("at", "suffix", "extra"),
    [(7.3, ".jpg", ["-q:v", "5"]), (3.1, ".png", []), (5.0, ".webp", ["-vf", "crop=iw*0.9:ih*0.9"])],
)
def test_single_frame_is_recognised(clinic: Clinic, at: float, suffix: str, extra: list[str]) -> None:
    frame = make(
        clinic.factory, f"frame_{at}{suffix}", "-ss", f"{at}", "-i", str(clinic.video), "-frames:v", "1", *extra
    )
    outcome = clinic.service.match_path(frame)
    assert outcome.media_kind == "image"
    assert outcome.match is not None
    assert outcome.match.asset_id == clinic.asset_of(clinic.video)
    assert outcome.match.kind == "image"
    assert abs(outcome.match.offset_s - at) <= 0.5


def test_lookalike_video_with_other_sound_is_not_matched(clinic: Clinic) -> None:
    """The same synthetic picture source with another hue and another sound track."""
    speech = clinic.factory.speech(OTHER_SPEECH[1], voice="en-us+f3")
    lookalike = lavfi_video(clinic.factory, "lookalike.mp4", "testsrc2=s=480x360:rate=25", 10.0, speech, 160)
    assert clinic.service.match_path(lookalike).match is None
    frame = make(clinic.factory, "lookalike_frame.jpg", "-ss", "4", "-i", str(lookalike), "-frames:v", "1")
    assert clinic.service.match_path(frame).match is None


def test_same_picture_source_but_other_sound_track_is_vetoed(clinic: Clinic) -> None:
    """Same pictures, same hue, different speech: frames alone cannot tell, the sound can."""
    speech = clinic.factory.speech(OTHER_SPEECH[0], voice="en-gb")
    twin = lavfi_video(clinic.factory, "twin.mp4", "testsrc2=s=480x360:rate=25", 10.0, speech, 40)
    assert clinic.service.match_path(twin).match is None
    silent_twin = make(clinic.factory, "twin_silent.mp4", "-i", str(twin), "-an", "-c:v", "copy")
    # Without a sound track the pictures are all there is, and they are the enrolled ones.
    assert clinic.service.match_path(silent_twin).match is not None


def test_unrelated_video_and_its_frame_are_not_matched(clinic: Clinic) -> None:
    other = lavfi_video(clinic.factory, "other_pattern.mp4", "life=s=320x240:rate=25:seed=7:mold=8", 8.0, None, 0)
    assert clinic.service.match_path(other).match is None
    frame = make(clinic.factory, "other_frame.png", "-ss", "3", "-i", str(other), "-frames:v", "1")
    assert clinic.service.match_path(frame).match is None


def test_enrolled_path_is_reported_but_only_to_the_caller(clinic: Clinic) -> None:
    query = make(clinic.factory, "q_path.ogg", "-i", str(clinic.dictation_wavs[1]), "-c:a", "libopus")
    outcome = clinic.service.match_path(query)
    assert outcome.match is not None
    assert Path(outcome.match.path) == clinic.dictations[1]
    assert outcome.mime == "audio/ogg"
