"""Synthetic signals for media unit tests (real media files are for the integration tests)."""

from __future__ import annotations

import numpy as np
import pytest

from agent.media.decode import AUDIO_RATE


def babble(seconds: float, seed: int, tempo: float = 1.0) -> np.ndarray:
    """Speech-like int16 audio at 11,025 Hz: harmonic stacks whose pitch and formants change
    every 60-250 ms, with pauses. `tempo` > 1 says the same thing faster (same pitches)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * AUDIO_RATE), dtype=np.float64)
    pos = 0
    while pos < out.size:
        length = int(rng.uniform(0.06, 0.25) * AUDIO_RATE / tempo)
        if rng.random() < 0.15:
            pos += length
            continue
        t = np.arange(min(length, out.size - pos)) / AUDIO_RATE
        f0 = rng.uniform(90, 220)
        formants = rng.uniform([300, 900, 2000], [800, 1800, 3200])
        segment = np.zeros(t.size)
        for k in range(1, int(3400 / f0)):
            gain = sum(np.exp(-(((k * f0) - f) ** 2) / (2 * 120.0**2)) for f in formants)
            segment += gain * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3))
        envelope = np.minimum(1.0, np.minimum(t, t[-1] - t + 1e-3) / 0.02)
        out[pos : pos + t.size] = segment * envelope
        pos += t.size
    out *= 0.3 * 32767 / (np.abs(out).max() or 1.0)
    return out.astype(np.int16)


@pytest.fixture(scope="session")
def long_babble() -> np.ndarray:
    return babble(100.0, seed=3)
