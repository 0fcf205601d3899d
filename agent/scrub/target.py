"""Speaker anonymisation that keeps the words: every voice moved onto one common target voice.

A random shift (McAdams, `psola`) moves a voice *somewhere else*, but keeps what sets it apart
from other voices: a high voice shifted down is still the highest of the lowered voices, and a
speaker-embedding model links it back. This transform instead measures the speaker's own
characteristics in the recording and replaces them with fixed targets, so every speaker comes
out near the same "mean speaker":

- **pitch**: the median F0 is set to a target median and the F0 range (spread of the contour
  around the median) to a target range (Praat's "Change gender", PSOLA: timing kept);
- **vocal-tract length**: the speaker's formant scale is estimated from the median F1-F4 of the
  voiced frames (Praat Burg analysis) and all formants are moved by target / own, so long and
  short vocal tracts meet in between;
- **timbre and channel**: the long-term average spectrum (LTAS) of the result is equalised to a
  fixed target curve (a smooth filter, one per file), which removes the speaker's (and the
  microphone's) spectral tilt and colour.

Each target gets a small random jitter per file (bounded), so the method is not a fixed
function that could be learnt back exactly. Phonetic content (which formants move *within* the
recording, pitch movements, timing) is kept, and with it the words. `praat-parselmouth` (Praat
compiled into the wheel; no model, nothing to download) plus numpy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from agent.scrub.psola import PITCH_CEILING_HZ, PITCH_FLOOR_HZ, _parselmouth

Signal = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Target:
    """The common voice every speaker is moved to, and the per-file jitter around it."""

    median_f0: float = 150.0
    """Target median F0 in Hz (between typical adult male ~110 and female ~210)."""
    f0_spread: float = 0.12
    """Target spread of F0 around the median, as the std of log(F0) (natural log; 0.12 ~ 2 semitones)."""
    formant_scale: float = 1.0
    """Target mean of F1-F4 relative to REFERENCE_FORMANTS (1.0: an average adult vocal tract)."""
    max_formant_ratio: float = 1.25
    """Formant moves are limited to [1/x, x]: beyond that PSOLA resynthesis hurts the words."""
    equalise: bool = True
    """Equalise the long-term spectrum to TARGET_LTAS."""
    jitter: float = 0.05
    """Each target is multiplied by a factor drawn from [1 - jitter, 1 + jitter] per file."""


REFERENCE_FORMANTS = (550.0, 1600.0, 2650.0, 3650.0)
"""Mean F1-F4 (Hz) over many vowels of an average adult (between typical male and female values)."""

MAX_FORMANT_HZ = 5500.0
"""Praat's Burg analysis ceiling (5 formants below it): the usual setting for mixed voices."""

LTAS_BANDS = 24
"""The long-term spectrum is compared in this many mel-spaced bands (a smooth correction)."""


@dataclass(frozen=True)
class Draw:
    """One file's jitter of the targets (never printed or stored)."""

    f0: float
    spread: float
    formant: float
    noise_seed: int = 0


def random_draw(target: Target, rng: random.Random | None = None) -> Draw:
    source = rng if rng is not None else random.SystemRandom()
    j = target.jitter
    return Draw(
        source.uniform(1 - j, 1 + j),
        source.uniform(1 - j, 1 + j),
        source.uniform(1 - j, 1 + j),
        source.randrange(1, 2**31),
    )


def _pitch_stats(pitch: Any) -> tuple[float, float] | None:
    """Median F0 (Hz) and std of log F0 of the voiced frames; None when (almost) nothing is voiced."""
    f0 = pitch.selected_array["frequency"]
    voiced = f0[f0 > 0]
    if voiced.size < 5:
        return None
    return float(np.median(voiced)), float(np.std(np.log(voiced)))


def formant_scale(sound: Any, pitch: Any) -> float | None:
    """The speaker's formant scale: geometric mean of median F1-F4 / REFERENCE_FORMANTS (voiced frames)."""
    from parselmouth.praat import call

    formant = sound.to_formant_burg(time_step=0.01, max_number_of_formants=5, maximum_formant=MAX_FORMANT_HZ)
    times = np.asarray(formant.xs())
    f0 = pitch.selected_array["frequency"]
    nearest = np.clip(np.searchsorted(np.asarray(pitch.xs()), times), 0, f0.size - 1)
    keep = f0[nearest] > 0
    if keep.sum() < 5:
        return None
    ratios = []
    for k, ref in enumerate(REFERENCE_FORMANTS, start=1):
        values = np.asarray(call(formant, "To Matrix", k).values[0])[keep]
        values = values[np.isfinite(values) & (values > 0)]
        if values.size:
            ratios.append(np.median(values) / ref)
    return float(np.exp(np.mean(np.log(ratios)))) if ratios else None


def _mel_bands(rate: int, n_fft: int) -> npt.NDArray[np.float64]:
    """Triangular mel filterbank (LTAS_BANDS x bins), 80 Hz to Nyquist."""
    mel = np.linspace(2595 * np.log10(1 + 80 / 700), 2595 * np.log10(1 + rate / 2 / 700), LTAS_BANDS + 2)
    hz = 700 * (10 ** (mel / 2595) - 1)
    freqs = np.fft.rfftfreq(n_fft, 1 / rate)
    bank = np.zeros((LTAS_BANDS, freqs.size))
    for b in range(LTAS_BANDS):
        lo, mid, hi = hz[b : b + 3]
        bank[b] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, None)
    return bank


def ltas_db(x: npt.NDArray[np.float64], rate: int, n_fft: int = 512) -> npt.NDArray[np.float64]:
    """Long-term average spectrum in LTAS_BANDS mel bands (dB), over the louder half of the frames."""
    hop = n_fft // 2
    if x.size < n_fft:
        return np.zeros(LTAS_BANDS)
    index = np.arange(n_fft)[None, :] + hop * np.arange(1 + (x.size - n_fft) // hop)[:, None]
    power = np.abs(np.fft.rfft(x[index] * np.hanning(n_fft), axis=1)) ** 2
    energy = power.sum(axis=1)
    loud = power[energy >= np.median(energy)]
    bands = _mel_bands(rate, n_fft) @ loud.mean(axis=0)
    return np.asarray(10 * np.log10(bands + 1e-12), dtype=np.float64)


_LTAS_80HZ_TO_8KHZ: tuple[float, ...] = (21.0, 22.7, 20.0, 20.6, 17.7, 15.3, 12.5, 10.3, 8.1, 6.0, 5.4, 5.0)
_LTAS_80HZ_TO_8KHZ += (3.4, 1.6, 1.9, 2.3, 0.2, -3.1, -8.2, -15.3, -36.6, -38.2, -37.8, -34.6)
TARGET_LTAS_DB: npt.NDArray[np.float64] = np.array(_LTAS_80HZ_TO_8KHZ)
"""Target long-term spectrum (dB per mel band, 80 Hz-8 kHz; only its shape matters): the mean
LTAS of the 41 dev-half recordings of benchmarks/scrub_voice.py (8 speakers, wide- and
narrow-band telephone prompts and LibriVox), i.e. a pooled "mean speaker and channel". Its top
bands are low because half the pooled recordings stop near 5.5 kHz: every output is
band-limited alike, so bandwidth no longer tells recordings apart."""


def equalise(x: npt.NDArray[np.float64], rate: int, target_db: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """`x` through a zero-phase filter that brings its LTAS to `target_db` (shape only, +-18 dB)."""
    n_fft = 512
    own = ltas_db(x, rate, n_fft)
    gain_db = target_db - own
    gain_db = np.clip(gain_db - gain_db.mean(), -18, 18)
    bank = _mel_bands(rate, n_fft)
    centres = (bank * np.fft.rfftfreq(n_fft, 1 / rate)).sum(axis=1) / bank.sum(axis=1)
    n_long = 1 << int(np.ceil(np.log2(x.size + n_fft)))
    freqs = np.fft.rfftfreq(n_long, 1 / rate)
    gain = 10 ** (np.interp(freqs, centres, gain_db) / 20)
    return np.fft.irfft(np.fft.rfft(x, n_long) * gain, n_long)[: x.size]


def to_target(samples: Signal, *, rate: int, target: Target = Target(), draw: Draw | None = None) -> Signal:
    """`samples` (mono float, -1..1) moved onto the target voice. Same length, RMS kept, no clipping."""
    parselmouth = _parselmouth()
    from parselmouth.praat import call, run

    draw = draw if draw is not None else random_draw(target)
    x = np.asarray(samples, dtype=np.float64)
    if x.size < rate // 10:
        return np.zeros_like(samples, dtype=np.float32)
    sound = parselmouth.Sound(x, float(rate))
    pitch = sound.to_pitch(pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ)
    stats = _pitch_stats(pitch)
    ratio = 1.0
    if target.formant_scale > 0:
        own = formant_scale(sound, pitch)
        if own is not None:
            ratio = float(
                np.clip(
                    target.formant_scale * draw.formant / own, 1 / target.max_formant_ratio, target.max_formant_ratio
                )
            )
    new_median, range_factor = 0.0, 1.0
    if stats is not None:
        spread = stats[1]
        new_median = target.median_f0 * draw.f0
        if target.f0_spread > 0 and spread > 0:
            range_factor = float(np.clip(target.f0_spread * draw.spread / spread, 0.3, 2.0))
    run(f"random_initializeWithSeedUnsafelyButPredictably ({draw.noise_seed})")
    try:
        changed = call(sound, "Change gender", PITCH_FLOOR_HZ, PITCH_CEILING_HZ, ratio, new_median, range_factor, 1.0)
    finally:
        run("random_initializeSafelyAndUnpredictably ()")
    y = np.asarray(changed.values[0], dtype=np.float64)[: x.size]
    y = np.nan_to_num(np.pad(y, (0, x.size - y.size)))
    if target.equalise:
        y = equalise(y, rate, TARGET_LTAS_DB)
    rms_in, rms_out = float(np.sqrt(np.mean(x**2))), float(np.sqrt(np.mean(y**2)))
    if rms_out > 0:
        y *= rms_in / rms_out
    peak = float(np.max(np.abs(y), initial=0.0))
    if peak > 0.97:
        y *= 0.97 / peak
    return np.asarray(y, dtype=np.float32)
