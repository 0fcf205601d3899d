"""Speech landmarks: block-wise extraction equals whole-file extraction, and an excerpt is
found at its true offset inside the recording it was cut from."""

from __future__ import annotations

import numpy as np

from agent.media import landmarks
from agent.media.audio_index import AudioSegment
from agent.media.decode import AUDIO_RATE
from agent.media.fingerprint import AudioPrint

from .conftest import babble


def as_print(samples: np.ndarray) -> AudioPrint:
    hashes, times = landmarks.landmarks_of(samples)
    return AudioPrint(
        chroma=np.zeros(0, dtype=np.uint32), hashes=hashes, times=times, seconds=samples.size / AUDIO_RATE
    )


def test_chunked_extraction_equals_one_pass(long_babble: np.ndarray) -> None:
    assert long_babble.size / AUDIO_RATE > 2 * landmarks.BLOCK_FRAMES * landmarks.FRAME_SECONDS
    whole_hashes, whole_times = landmarks.landmarks_of(long_babble)
    stream = landmarks.LandmarkStream()
    for start in range(0, long_babble.size, 7919):  # odd chunk size: block edges fall anywhere
        stream.feed(long_babble[start : start + 7919])
    hashes, times = landmarks.pair_hashes(stream.finish())
    assert whole_hashes.size > 20 * 100  # tens of hashes per second of speech-like sound
    assert np.array_equal(hashes, whole_hashes)
    assert np.array_equal(times, whole_times)


def test_excerpt_is_found_at_its_offset(long_babble: np.ndarray) -> None:
    other = babble(60.0, seed=9)
    segment = AudioSegment.build([("other", as_print(other)), ("source", as_print(long_babble))])
    start = int(37.3 * AUDIO_RATE)
    excerpt = long_babble[start : start + 5 * AUDIO_RATE]
    noisy = (excerpt + np.random.default_rng(0).normal(0, 300, excerpt.size)).clip(-32768, 32767).astype(np.int16)
    found = sorted(segment.search(as_print(noisy)), key=lambda c: c.lm_votes, reverse=True)
    assert found[0].asset_id == "source"
    assert abs(found[0].offset_s - 37.3) < 0.1
    assert found[0].lm_coverage > 0.8
    others = [c.lm_votes for c in found if c.asset_id == "other"]
    assert found[0].lm_votes > 5 * max(others, default=1)


def test_excerpt_late_in_a_long_query_is_found(long_babble: np.ndarray) -> None:
    """A recording uploaded after minutes of other sound: its hits lie *before* the recording's
    start on the index's time line (negative offset), i.e. inside the asset enrolled before it,
    yet they must be credited to the recording they come from."""
    segment = AudioSegment.build([("other", as_print(babble(60.0, seed=9))), ("source", as_print(long_babble))])
    start = int(12.0 * AUDIO_RATE)
    query = np.concatenate([babble(50.0, seed=5), long_babble[start : start + 8 * AUDIO_RATE]])
    found = sorted(segment.search(as_print(query)), key=lambda c: c.lm_votes, reverse=True)
    assert found
    assert found[0].asset_id == "source"
    assert found[0].lm_votes > 100
    assert found[0].offset_s == 0.0  # the query starts before the excerpt: clamped to the start


def test_offset_votes_are_credited_to_the_asset_the_hits_are_in() -> None:
    """The coarse vote on the global time line: 200 hits inside asset 1 at a negative offset
    (their global offset falls in asset 0's span) and 20 scattered hits in asset 0."""
    from agent.media.audio_index import _best_assets

    rng = np.random.default_rng(1)
    base = np.array([0, 1000, 2000, 3000], dtype=np.int64)
    positions = np.concatenate([1000 + rng.integers(0, 300, 200), rng.integers(0, 1000, 20)])
    query_times = np.concatenate([positions[:200] - 1000 + 700, rng.integers(0, 1000, 20)])
    chosen = _best_assets(positions - query_times + (1 << 30), positions, 16, base, np.ones(3, dtype=bool), 2)
    assert chosen[0] == 1


def test_tempo_change_is_recovered_as_a_slope(long_babble: np.ndarray) -> None:
    segment = AudioSegment.build([("source", as_print(long_babble))])
    faster = babble(100.0, seed=3, tempo=1.03)  # the same "words", 3% faster, same pitch
    start = round(20.0 / 1.03 * AUDIO_RATE)
    excerpt = faster[start : start + 12 * AUDIO_RATE]
    best = max(segment.search(as_print(excerpt)), key=lambda c: c.lm_votes)
    assert abs(best.slope - 1.03) <= 0.006
    assert abs(best.offset_s - 20.0) < 0.15
    plain = max(segment.search(as_print(long_babble[start : start + 12 * AUDIO_RATE])), key=lambda c: c.lm_votes)
    assert best.lm_votes > 0.3 * plain.lm_votes


def test_silence_has_no_landmarks() -> None:
    hashes, _ = landmarks.landmarks_of(np.zeros(5 * AUDIO_RATE, dtype=np.int16))
    assert hashes.size == 0


def test_line_fit_finds_the_offset_whatever_the_spread_of_noise() -> None:
    """Votes at one offset among hits spread over an odd-sized range (an edge that once shifted
    the fitted offset by a frame and lost every vote)."""
    from agent.media.audio_index import _fit_line

    rng = np.random.default_rng(4)
    tq = rng.integers(0, 400, 300)
    for true_offset, low in ((0, -4485), (1234, -3), (77, -1)):
        td = np.concatenate([tq[:200] + true_offset, rng.integers(low, 5000, 100)])
        tq_all = np.concatenate([tq[:200], tq[200:]])
        slope, offset, inliers = _fit_line(tq_all, td, np.arange(td.size))
        assert slope == 1.0
        assert offset == true_offset
        assert inliers[:200].all()


def test_spectrogram_equals_numpy_float32_fft(long_babble: np.ndarray) -> None:
    """The block-wise float64 transform gives exactly what numpy's float32 FFT gives (the
    prints enrolled before this optimisation must stay valid)."""
    samples = long_babble[: 30 * AUDIO_RATE].astype(np.float32) / 32768.0
    count = 1 + (samples.size - landmarks.N_FFT) // landmarks.HOP
    frames = np.lib.stride_tricks.sliding_window_view(samples, landmarks.N_FFT)[:: landmarks.HOP][:count]
    spectrum = np.fft.rfft(frames * landmarks._WINDOW, axis=1)[:, landmarks.BIN_LO : landmarks.BIN_HI]
    power = spectrum.real**2 + spectrum.imag**2
    expected = (10.0 * np.log10(power / (landmarks.N_FFT / 4) ** 2 + 1e-12)).astype(np.float32)
    assert np.array_equal(landmarks.spectrogram_db(samples), expected)


def test_sliding_max_equals_scipy_maximum_filter() -> None:
    from scipy.ndimage import maximum_filter

    rng = np.random.default_rng(2)
    for shape in [(1, 152), (4, 152), (7, 5), (600, 152), (50, 1)]:
        values = rng.standard_normal(shape).astype(np.float32).clip(None, 1.2)  # with ties
        expected = maximum_filter(values, size=(7, 11), mode="nearest")
        got = landmarks._sliding_max(landmarks._sliding_max(values, 3, axis=0), 5, axis=1)
        assert np.array_equal(got, expected), shape
