"""Speaker anonymisation that keeps the words: PSOLA pitch and formant shift (Praat's Change gender).

Praat's "Change gender" (through `praat-parselmouth`, Praat compiled into the wheel; no model,
nothing to download) resamples the recording to move every formant by one ratio, then puts the
pitch back where asked with pitch-synchronous overlap-add: the glottal pulses, and with them the
timing and the words, survive much better than through LPC pole shifting (McAdams). The target
pitch is the recording's own median F0 times a ratio; ratio and formant shift are drawn per file
from ranges, in a random direction (both down or both up), so two files of one person rarely
move alike. Ranges chosen on the dev half of benchmarks/scrub_voice.py (docs/deidentify.md
"Measured"): fewer word errors than McAdams' default, about the same linkability to an
original enrolment (`--voice-method psola` picks this one; the default is agent.scrub.target).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from agent.errors import ConfigError

FORMANT_RANGE = (0.86, 0.90)
"""Formant shift ratio drawn per file (or its inverse, upwards); 1 leaves the vocal tract."""

PITCH_RANGE = (0.72, 0.80)
"""Ratio of the new median F0 to the recording's own, drawn per file (inverted with the formants)."""

PITCH_FLOOR_HZ, PITCH_CEILING_HZ = 75.0, 500.0
"""Praat's pitch analysis bounds: adult speech, male to female."""

TARGET_F0_HZ = (85.0, 350.0)
"""The new median F0 is kept within this: a deep voice lowered further would leave the range
PSOLA (and a listener) handles well; a high one raised further would squeak."""

PACKAGE = "praat-parselmouth"

Signal = npt.NDArray[np.float32]


class VoiceToolMissing(ConfigError):
    """praat-parselmouth is not installed (exit 2, like any other set-up problem)."""


@dataclass(frozen=True)
class VoiceShift:
    """One file's transform (never printed or stored: it would help undo the shift)."""

    formant_ratio: float
    pitch_ratio: float
    noise_seed: int = 0
    """Seeds Praat's random generator (PSOLA's noise for unvoiced parts), so a seeded draw repeats."""


def random_shift(rng: random.Random | None = None) -> VoiceShift:
    """A shift for one file from a system-random source unless `rng` is given."""
    source = rng if rng is not None else random.SystemRandom()
    formant, pitch = source.uniform(*FORMANT_RANGE), source.uniform(*PITCH_RANGE)
    if source.random() < 0.5:
        formant, pitch = 1 / formant, 1 / pitch
    return VoiceShift(formant, pitch, source.randrange(1, 2**31))


def _parselmouth() -> Any:
    try:
        import parselmouth
    except ImportError as exc:
        raise VoiceToolMissing(
            f"`phiwall scrub --voice anonymise` needs the {PACKAGE} package, which is not installed",
            hint=f"install it with: pip install 'phiwall[scrub]' (or {PACKAGE}); --voice mute needs nothing",
        ) from exc
    return parselmouth


def median_f0(samples: npt.NDArray[np.floating[Any]], rate: int) -> float | None:
    """Median F0 of the voiced frames in Hz, None when nothing is voiced."""
    parselmouth = _parselmouth()
    sound = parselmouth.Sound(np.asarray(samples, dtype=np.float64), rate)
    pitch = sound.to_pitch(pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ)
    f0 = pitch.selected_array["frequency"]
    voiced = f0[f0 > 0]
    return float(np.median(voiced)) if voiced.size else None


def psola_shift(samples: Signal, shift: VoiceShift, *, rate: int) -> Signal:
    """`samples` (mono float, -1..1) with formants and pitch moved as `shift` says.

    Same length and rate as the input; loudness matches the input's RMS, limited below full scale.
    """
    parselmouth = _parselmouth()
    from parselmouth.praat import call, run

    x = np.asarray(samples, dtype=np.float64)
    if x.size < rate // 10:  # too short for a pitch analysis: nothing that could identify anyone
        return np.zeros_like(samples, dtype=np.float32)
    f0 = median_f0(samples, rate)
    new_median = float(np.clip(f0 * shift.pitch_ratio, *TARGET_F0_HZ)) if f0 is not None else 0.0  # 0: keep
    sound = parselmouth.Sound(x, float(rate))
    run(f"random_initializeWithSeedUnsafelyButPredictably ({shift.noise_seed})")
    try:
        changed = call(
            sound, "Change gender", PITCH_FLOOR_HZ, PITCH_CEILING_HZ, shift.formant_ratio, new_median, 1.0, 1.0
        )
    finally:  # other Praat users in the process get their unpredictable generator back
        run("random_initializeSafelyAndUnpredictably ()")
    y = np.asarray(changed.values[0], dtype=np.float64)[: x.size]
    y = np.nan_to_num(np.pad(y, (0, x.size - y.size)))
    rms_in, rms_out = float(np.sqrt(np.mean(x**2))), float(np.sqrt(np.mean(y**2)))
    if rms_out > 0:
        y *= rms_in / rms_out
    peak = float(np.max(np.abs(y), initial=0.0))
    if peak > 0.97:
        y *= 0.97 / peak
    return np.asarray(y, dtype=np.float32)
