"""Speaker anonymisation that keeps the words: McAdams-coefficient LPC pole shifting.

This is the signal-processing baseline of the VoicePrivacy Challenge (B2, Patino et al. 2021):
each 20 ms frame is split by linear prediction into a vocal-tract filter and a residual; the
angle phi of every complex filter pole (a formant) is moved to phi ** alpha, and the residual is
re-synthesised through the shifted filter and overlap-added. Formants move, the excitation (and
so the timing and the words) stays. alpha is drawn per file from a range so that two files of
the same person are not shifted identically. numpy/scipy only: no model, nothing to download.
"""

from __future__ import annotations

import random

import numpy as np
import numpy.typing as npt
from scipy import signal

PROCESS_RATE = 16_000
"""Speech is processed at 16 kHz mono, the rate the baseline was designed and tuned for."""

ALPHA_RANGE = (0.75, 0.9)
"""Range alpha is drawn from (VoicePrivacy uses 0.8; < 1 moves low formants up, high ones down)."""

Signal = npt.NDArray[np.float32]


def random_alpha(rng: random.Random | None = None) -> float:
    """A McAdams coefficient for one file, from a system-random source unless `rng` is given."""
    source = rng if rng is not None else random.SystemRandom()
    return source.uniform(*ALPHA_RANGE)


def _frame_lpc(frames: npt.NDArray[np.float64], order: int) -> npt.NDArray[np.float64]:
    """LPC polynomials [1, a1..ap] of every row of `frames` (autocorrelation method, batched)."""
    n_fft = 1 << int(np.ceil(np.log2(2 * frames.shape[1])))
    spectrum = np.fft.rfft(frames, n_fft, axis=1)
    autocorr = np.fft.irfft(np.abs(spectrum) ** 2, n_fft, axis=1)[:, : order + 1]
    autocorr[:, 0] *= 1.0 + 1e-6  # white-noise correction keeps silent frames well-conditioned
    autocorr[:, 0] += 1e-12
    idx = np.abs(np.arange(order)[:, None] - np.arange(order)[None, :])
    toeplitz = autocorr[:, idx]
    coeffs = np.linalg.solve(toeplitz, -autocorr[:, 1 : order + 1, None])[:, :, 0]
    return np.concatenate([np.ones((frames.shape[0], 1)), coeffs], axis=1)


def _shift_poles(lpc: npt.NDArray[np.float64], alpha: float) -> npt.NDArray[np.float64]:
    """The LPC polynomials with every complex pole angle phi moved to phi ** alpha (batched)."""
    order = lpc.shape[1] - 1
    companion = np.zeros((lpc.shape[0], order, order))
    companion[:, 0, :] = -lpc[:, 1:]
    companion[:, np.arange(1, order), np.arange(order - 1)] = 1.0
    poles = np.linalg.eigvals(companion)
    angles = np.angle(poles)
    complex_pole = np.abs(poles.imag) > 1e-9
    new_angles = np.where(complex_pole, np.sign(angles) * np.clip(np.abs(angles) ** alpha, 0.0, np.pi), angles)
    shifted = np.abs(poles) * np.exp(1j * new_angles)
    # np.poly for each row: multiply (z - p) factors one pole at a time, all frames at once.
    poly = np.ones((lpc.shape[0], 1), dtype=np.complex128)
    for k in range(order):
        poly = np.concatenate([poly, np.zeros((lpc.shape[0], 1))], axis=1) - shifted[:, k : k + 1] * np.concatenate(
            [np.zeros((lpc.shape[0], 1)), poly], axis=1
        )
    return np.asarray(poly.real, dtype=np.float64)


def mcadams(
    samples: Signal, alpha: float, *, rate: int = PROCESS_RATE, order: int = 20, win_ms: float = 20.0
) -> Signal:
    """`samples` (mono float, -1..1) with formants moved by McAdams coefficient `alpha`.

    Same length as the input; output loudness matches the input's RMS and is limited below
    full scale, so it never clips.
    """
    x = np.asarray(samples, dtype=np.float64)
    win_len = int(win_ms * 0.001 * rate)
    shift = win_len // 2
    if x.size < win_len:
        return np.zeros_like(samples, dtype=np.float32)
    hann = np.hanning(win_len)
    window = np.sqrt(hann / (hann.sum() / shift))  # analysis x synthesis window sums to one
    n_frames = 1 + (x.size - win_len) // shift
    index = np.arange(win_len)[None, :] + shift * np.arange(n_frames)[:, None]
    dither = 1e-7 * np.random.default_rng(0).standard_normal(x.size)
    frames = (x + dither)[index] * window
    lpc = _frame_lpc(frames, order)
    shifted = _shift_poles(lpc, alpha)
    out = np.zeros(x.size)
    residuals = np.zeros_like(frames)  # the FIR (inverse filter) part, all frames at once
    for k in range(order + 1):
        residuals[:, k:] += lpc[:, k : k + 1] * frames[:, : win_len - k]
    for m in range(n_frames):
        rebuilt = signal.lfilter([1.0], shifted[m], residuals[m])
        out[m * shift : m * shift + win_len] += rebuilt * window
    out = np.nan_to_num(out)
    rms_in = float(np.sqrt(np.mean(x**2)))
    rms_out = float(np.sqrt(np.mean(out**2)))
    if rms_out > 0:
        out *= rms_in / rms_out
    peak = float(np.max(np.abs(out), initial=0.0))
    if peak > 0.97:
        out *= 0.97 / peak
    return out.astype(np.float32)
