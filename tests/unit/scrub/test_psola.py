"""The PSOLA voice shift (agent.scrub.psola) on real synthetic speech from espeak-ng: same length
and rate, pitch really moved (measured F0), random draws reproducible with a seed and spread in
both directions, and `--voice-method psola` goes through it end to end."""

from __future__ import annotations

import random
import wave
from pathlib import Path

import av
import numpy as np
import pytest

pytest.importorskip("parselmouth")

from agent.cli import main
from agent.scrub.psola import FORMANT_RANGE, PITCH_RANGE, VoiceShift, median_f0, psola_shift, random_shift
from tests.support.media import MediaFactory

RATE = 16_000


def _speech(media_factory: MediaFactory) -> np.ndarray:
    """espeak-ng raised to ~150 Hz, so a shift down by the range stays above the F0 floor."""
    wav = media_factory.speech("The patient was seen on the ward this morning and is feeling better.", pitch=90)
    with av.open(str(wav)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks = [f.to_ndarray().ravel() for fr in container.decode(audio=0) for f in resampler.resample(fr)]
        chunks += [f.to_ndarray().ravel() for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32)


@pytest.fixture(scope="module")
def speech(media_factory: MediaFactory) -> np.ndarray:
    return _speech(media_factory)


def test_length_kept_and_pitch_moved_both_ways(speech: np.ndarray) -> None:
    before = median_f0(speech, RATE)
    assert before is not None
    down = psola_shift(speech, VoiceShift(0.82, 0.65), rate=RATE)
    up = psola_shift(speech, VoiceShift(1 / 0.82, 1 / 0.65), rate=RATE)
    for out in (down, up):
        assert out.shape == speech.shape
        assert out.dtype == np.float32
        assert np.max(np.abs(out)) <= 0.97 + 1e-6
        assert abs(np.sqrt(np.mean(out**2)) - np.sqrt(np.mean(speech**2))) < 0.01  # loudness kept
    f0_down, f0_up = median_f0(down, RATE), median_f0(up, RATE)
    assert f0_down is not None
    assert f0_up is not None
    assert 0.55 < f0_down / before < 0.75, (before, f0_down)
    assert 1.35 < f0_up / before < 1.8, (before, f0_up)


def test_identity_shift_keeps_the_pitch(speech: np.ndarray) -> None:
    before = median_f0(speech, RATE)
    after = median_f0(psola_shift(speech, VoiceShift(1.0, 1.0), rate=RATE), RATE)
    assert before is not None
    assert after is not None
    assert abs(after / before - 1) < 0.05


def test_draws_are_seeded_bounded_and_go_both_ways() -> None:
    draws = [random_shift(random.Random(7)) for _ in range(2)]
    assert draws[0] == draws[1]
    many = [random_shift(random.Random(seed)) for seed in range(40)]
    downs = [s for s in many if s.pitch_ratio < 1]
    ups = [s for s in many if s.pitch_ratio > 1]
    assert downs
    assert ups
    for s in downs:
        assert FORMANT_RANGE[0] <= s.formant_ratio <= FORMANT_RANGE[1]
        assert PITCH_RANGE[0] <= s.pitch_ratio <= PITCH_RANGE[1]
    for s in ups:
        assert FORMANT_RANGE[0] <= 1 / s.formant_ratio <= FORMANT_RANGE[1]
        assert PITCH_RANGE[0] <= 1 / s.pitch_ratio <= PITCH_RANGE[1]
    assert len({s.formant_ratio for s in many}) == len(many)


def test_seeded_shift_gives_identical_audio(speech: np.ndarray) -> None:
    first = psola_shift(speech, random_shift(random.Random(3)), rate=RATE)
    second = psola_shift(speech, random_shift(random.Random(3)), rate=RATE)
    assert np.array_equal(first, second)


def test_silence_and_tiny_inputs_survive() -> None:
    silent = np.zeros(RATE, dtype=np.float32)
    assert np.array_equal(psola_shift(silent, VoiceShift(0.8, 0.6), rate=RATE), silent)
    tiny = np.full(100, 0.1, dtype=np.float32)
    assert psola_shift(tiny, VoiceShift(0.8, 0.6), rate=RATE).shape == tiny.shape


def test_scrub_cli_voice_method_psola(
    media_factory: MediaFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = media_factory.speech("Blood pressure one hundred and forty over ninety, pulse eighty.", pitch=90)
    out = tmp_path / "scrubbed.wav"
    code = main(
        ["scrub", str(source), "-o", str(out), "--voice-method", "psola", "--db", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    )
    assert code == 0, capsys.readouterr()
    assert "voice anonymised" in capsys.readouterr().out
    with wave.open(str(out)) as reader:
        rate = reader.getframerate()
        y = (np.frombuffer(reader.readframes(reader.getnframes()), "<i2") / 32768).astype(np.float32)
    with wave.open(str(source)) as reader:
        seconds_in = reader.getnframes() / reader.getframerate()
    assert rate == RATE
    assert abs(y.size / rate - seconds_in) < 0.05
    with av.open(str(source)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        x = np.concatenate([f.to_ndarray().ravel() for fr in container.decode(audio=0) for f in resampler.resample(fr)])
    before = median_f0(np.asarray(x, dtype=np.float32), RATE)
    after = median_f0(y, rate)
    assert before is not None
    assert after is not None
    ratio = after / before
    assert ratio < 0.85 or ratio > 1.2, ratio  # moved by at least the smallest draw, either way


def test_lineage_names_psola_and_its_ranges_only() -> None:
    from agent.scrub.lineage import methods_of
    from agent.scrub.options import ScrubOptions, ScrubResult

    options = ScrubOptions(voice="anonymise", voice_method="psola", faces="keep")
    methods = methods_of(options, ScrubResult(kind="audio", actions=["voice anonymised"]))
    assert methods["voice"] == {
        "mode": "anonymise",
        "method": "psola-change-gender",
        "formant_range": list(FORMANT_RANGE),
        "pitch_ratio_range": list(PITCH_RANGE),
    }
