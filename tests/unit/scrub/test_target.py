"""The target-voice transform (agent.scrub.target) on real synthetic speech from espeak-ng: a low
and a high voice both land near the target pitch (closer to each other than before), the formant
scale estimate follows a real formant shift, the long-term spectrum moves towards the target
curve, and `--voice-method target` goes through it end to end with its lineage."""

from __future__ import annotations

import random
import wave
from pathlib import Path

import av
import numpy as np
import pytest

pytest.importorskip("parselmouth")

from agent.cli import main
from agent.scrub.psola import VoiceShift, median_f0, psola_shift
from agent.scrub.target import TARGET_LTAS_DB, Draw, Target, equalise, formant_scale, ltas_db, random_draw, to_target
from tests.support.media import MediaFactory

RATE = 16_000
TEXT = "The patient was seen on the ward this morning and is feeling much better today."


def _decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks = [f.to_ndarray().ravel() for fr in container.decode(audio=0) for f in resampler.resample(fr)]
        chunks += [f.to_ndarray().ravel() for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32)


@pytest.fixture(scope="module")
def low(media_factory: MediaFactory) -> np.ndarray:
    return _decode(media_factory.speech(TEXT, pitch=20))


@pytest.fixture(scope="module")
def high(media_factory: MediaFactory) -> np.ndarray:
    return _decode(media_factory.speech(TEXT, pitch=99))


NO_JITTER = Draw(1.0, 1.0, 1.0, 1)


def test_low_and_high_voices_meet_at_the_target_pitch(low: np.ndarray, high: np.ndarray) -> None:
    f0_low, f0_high = median_f0(low, RATE), median_f0(high, RATE)
    assert f0_low is not None
    assert f0_high is not None
    assert f0_high / f0_low > 1.4  # the two voices really differ
    outs = [to_target(x, rate=RATE, draw=NO_JITTER) for x in (low, high)]
    medians = []
    for x, y in zip((low, high), outs, strict=True):
        m = median_f0(y, RATE)
        assert y.shape == x.shape
        assert y.dtype == np.float32
        assert np.max(np.abs(y)) <= 0.97 + 1e-6
        assert abs(np.sqrt(np.mean(y**2)) - np.sqrt(np.mean(x**2))) < 0.01  # loudness kept
        assert m is not None
        assert abs(m / Target().median_f0 - 1) < 0.1, m
        medians.append(m)
    assert max(medians) / min(medians) < 1.15


def test_formant_scale_follows_a_formant_shift(high: np.ndarray) -> None:
    import parselmouth

    def scale(x: np.ndarray) -> float:
        sound = parselmouth.Sound(np.asarray(x, dtype=np.float64), float(RATE))
        value = formant_scale(sound, sound.to_pitch(pitch_floor=75, pitch_ceiling=500))
        assert value is not None
        return value

    before = scale(high)
    after = scale(psola_shift(high, VoiceShift(0.85, 1.0), rate=RATE))
    assert 0.78 < after / before < 0.95, (before, after)


def test_equalise_moves_the_long_term_spectrum_to_the_target(low: np.ndarray) -> None:
    tilted = np.asarray(low, dtype=np.float64)
    tilted = np.append(tilted[0], tilted[1:] - 0.95 * tilted[:-1])  # pre-emphasis: +20 dB at the top
    target = TARGET_LTAS_DB - TARGET_LTAS_DB.mean()

    def distance(x: np.ndarray) -> float:
        own = ltas_db(x, RATE)
        return float(np.abs((own - own.mean()) - target)[:20].mean())

    assert distance(equalise(tilted, RATE, TARGET_LTAS_DB)) < 0.5 * distance(tilted)


def test_draws_are_seeded_bounded_and_spread() -> None:
    target = Target()
    assert random_draw(target, random.Random(4)) == random_draw(target, random.Random(4))
    many = [random_draw(target, random.Random(seed)) for seed in range(30)]
    for d in many:
        for value in (d.f0, d.spread, d.formant):
            assert 1 - target.jitter <= value <= 1 + target.jitter
    assert len({d.f0 for d in many}) == len(many)


def test_silence_and_tiny_inputs_survive() -> None:
    silent = np.zeros(RATE, dtype=np.float32)
    assert np.array_equal(to_target(silent, rate=RATE, draw=NO_JITTER), silent)
    tiny = np.full(100, 0.1, dtype=np.float32)
    assert to_target(tiny, rate=RATE).shape == tiny.shape


def test_scrub_cli_voice_method_target(
    media_factory: MediaFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = media_factory.speech("Blood pressure one hundred and forty over ninety, pulse eighty.", pitch=15)
    out = tmp_path / "scrubbed.wav"
    db = tmp_path / "db.sqlite"
    code = main(["scrub", str(source), "-o", str(out), "--voice-method", "target", "--db", f"sqlite:///{db}"])
    assert code == 0, capsys.readouterr()
    assert "voice anonymised" in capsys.readouterr().out
    with wave.open(str(out)) as reader:
        rate = reader.getframerate()
        y = (np.frombuffer(reader.readframes(reader.getnframes()), "<i2") / 32768).astype(np.float32)
    x = _decode(source)
    assert rate == RATE
    assert abs(y.size - x.size) < 0.05 * RATE
    before, after = median_f0(x, RATE), median_f0(y, RATE)
    assert before is not None
    assert after is not None
    assert before < 110  # espeak at pitch 15 is a deep voice ...
    assert abs(after / Target().median_f0 - 1) < 0.1  # ... moved up to the target


def test_lineage_names_the_target_not_the_draw() -> None:
    from agent.scrub.lineage import methods_of
    from agent.scrub.options import ScrubOptions, ScrubResult

    options = ScrubOptions(voice="anonymise", voice_method="target", faces="keep")
    methods = methods_of(options, ScrubResult(kind="audio", actions=["voice anonymised"]))
    target = Target()
    assert methods["voice"] == {
        "mode": "anonymise",
        "method": "target-voice",
        "median_f0": target.median_f0,
        "f0_spread": target.f0_spread,
        "formant_scale": target.formant_scale,
        "equalise": target.equalise,
        "jitter": target.jitter,
    }
