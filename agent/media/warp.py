"""Warp hypotheses: undo a playback-speed, tempo or pitch change on the query side.

Landmark hashes hold a peak's frequency bin and the frame gap to its partner, so a dictation
played at 1.5x (pitch kept), resampled faster, or pitch-shifted shares almost no hash with its
enrolled original. Rather than change the index, a query that matched nothing is re-read
under a few hypotheses of what was done to it, each one undone exactly:

- pitch: the decoded 11,025 Hz samples are resampled by the pitch ratio, which puts every
  partial back on its original frequency bin (and stretches time by the same ratio);
- time: the STFT then steps by a hop scaled to the remaining duration ratio, so that its
  frames land on the original's 23.2 ms grid and frame gaps mean what they meant at enrolment.

A hypothesis is therefore (pitch ratio p, duration ratio d) of the query relative to the
original: tempo change x with pitch kept is (1, 1/x), a resampled speed change s is (s, 1/s),
a pitch shift of k semitones is (2^(k/12), 1). The hop trick costs nothing over a plain STFT
(no phase vocoder, no atempo filter), so each hypothesis costs one spectrogram, peak picking
and one landmark lookup on at most `WINDOW_S` seconds of the query.

The search is coarse-to-fine: a coarse grid of hypotheses is scored by the best landmark
votes on a fitted line (the index's own Hough fit absorbs +/-5 % of residual tempo); only
the best few are refined on a finer grid around them, and only the best refined hypothesis
goes to the calibrated decision. Because trying many hypotheses multiplies the chances of a
chance alignment, a warped candidate must also beat what the unwarped query got for the same
asset by `GAIN` times (see `service.MediaService._warped_match`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise

import av
import numpy as np
import numpy.typing as npt

from agent.media import landmarks
from agent.media.chroma import ChromaprintStream
from agent.media.decode import AUDIO_RATE
from agent.media.fingerprint import AudioPrint

WINDOW_S = 24.0  # at most this much of the query (in the query's own time) is re-read
MIN_WINDOW_S = 2.0
I16Array = npt.NDArray[np.int16]
F32Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Hypothesis:
    """The query is the original with pitch x `pitch` and durations x `duration`."""

    pitch: float
    duration: float

    @property
    def label(self) -> str:
        return f"p{self.pitch:.3f}d{self.duration:.3f}"


def _geometric(lo: float, hi: float, step: float) -> list[float]:
    n = int(np.ceil(np.log(hi / lo) / np.log(step)))
    return [float(x) for x in np.geomspace(lo, hi, n + 1)]


def coarse_grid() -> list[Hypothesis]:
    """Tempo 0.5x-2.0x (pitch kept), speed 0.75x-2.5x (resampled), pitch +/-3 semitones.

    Tempo steps can be wide (the line fit absorbs +/-5 % of residual slope, and frame gaps
    tolerate a few percent); pitch steps cannot (a peak 2 % off at 3 kHz is 3 bins off), so
    the pitch families use finer steps and are refined further.
    """
    tempos = [Hypothesis(1.0, 1.0 / tempo) for tempo in _geometric(0.5, 2.0, 1.08) if abs(tempo - 1.0) > 0.035]
    # Speed up to 2.5x: a 22.05 kHz file played as if it were 48 kHz or 52.9 kHz ("asetrate"
    # with another file's rate) is a 2.2-2.4x resampled speed change.
    return [*tempos, *_speeds(1.03, skip=0.015), *_pitches(3.2, 0.4, skip=0.015)]


def _speeds(step: float, *, skip: float) -> list[Hypothesis]:
    """Resampled speed changes 0.75-2.5x in geometric steps, leaving out those within `skip` of 1."""
    return [Hypothesis(speed, 1.0 / speed) for speed in _geometric(0.75, 2.5, step) if abs(speed - 1.0) > skip]


def _pitches(reach: float, step: float, *, skip: float) -> list[Hypothesis]:
    """Pitch shifts of -reach..+reach semitones in `step`, leaving out those within `skip` of 1."""
    ratios = (float(2.0 ** (semitones / 12.0)) for semitones in np.arange(-reach, reach + 0.01, step))
    return [Hypothesis(ratio, 1.0) for ratio in ratios if abs(ratio - 1.0) > skip]


def gate_grid() -> list[Hypothesis]:
    """The coarse grid's tempo steps, with speed and pitch in ~1 % steps: the gate has no
    refinement stage, and a pitch 1 % off moves a 3 kHz peak by 1.5 bins (a wrong hash)."""
    tempos = [h for h in coarse_grid() if h.pitch == 1.0]
    return [*tempos, *_speeds(1.01, skip=0.005), *_pitches(3.3, 0.15, skip=0.005)]


def refine(h: Hypothesis) -> list[Hypothesis]:
    """A finer grid around `h`: pitch in ~1 % steps, duration in ~3 % steps."""
    out: list[Hypothesis] = []
    for dp in (0.99, 1.0, 1.01):
        for dd in (0.97, 1.0, 1.03):
            if dp == 1.0 and dd == 1.0:
                continue
            if h.pitch == 1.0 and dp != 1.0 and abs(h.duration - 1.0) > 0.1:
                continue  # tempo family: pitch was kept
            out.append(Hypothesis(h.pitch * dp, h.duration * dd))
    return out


def _window(samples: I16Array, seconds: float) -> F32Array:
    """The middle `seconds` of the query (speech is densest away from the edges)."""
    n = samples.size
    keep = int(seconds * AUDIO_RATE)
    start = max(0, (n - keep) // 2)
    return samples[start : start + keep].astype(np.float32) * np.float32(1.0 / 32768.0)


def _resampled(x: F32Array, pitch: float) -> F32Array:
    """`x` stretched to `pitch` times as many samples (linear interpolation: the speech band
    ends at 3.5 kHz, far below the 5.5 kHz Nyquist frequency, where it is accurate enough for
    peak positions, and any ratio costs the same)."""
    if pitch == 1.0:
        return x
    n = int(x.size * pitch)
    out: F32Array = np.interp(np.arange(n, dtype=np.float64) / pitch, np.arange(x.size), x).astype(np.float32)
    return out


def _spectrogram(x: F32Array, hop: float, lo: int = landmarks.BIN_LO, hi: int = landmarks.BIN_HI) -> F32Array:
    """`landmarks.spectrogram_db` with a fractional hop (frames on the original's grid), of
    bins `lo`..`hi` (default: the speech band landmarks use)."""
    n_fft = landmarks.N_FFT
    if x.size < n_fft:
        return np.zeros((0, hi - lo), dtype=np.float32)
    count = 1 + int((x.size - n_fft) / hop)
    starts = np.round(np.arange(count) * hop).astype(np.int64)
    starts = starts[starts + n_fft <= x.size]
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[starts]
    windowed = (frames * landmarks._WINDOW).astype(np.float64)
    spectrum = np.fft.rfft(windowed, axis=1)[:, lo:hi].astype(np.complex64)
    power = spectrum.real**2 + spectrum.imag**2
    db: F32Array = (10.0 * np.log10(power / (n_fft / 4) ** 2 + 1e-12)).astype(np.float32)
    return db


FINE_HOP = 64  # shared STFT for hypotheses of one pitch: frames picked from a 5.8 ms grid


class _Spectra:
    """Spectrograms of one query window, shared between hypotheses of the same pitch: one
    STFT at a fine hop per pitch, from which each duration hypothesis picks its frames."""

    def __init__(self, x: F32Array) -> None:
        self.x = x
        self._fine: dict[float, F32Array] = {}

    def get(self, h: Hypothesis, shared: bool) -> F32Array:
        hop = landmarks.HOP * h.duration * h.pitch
        if not shared:
            return _spectrogram(_resampled(self.x, h.pitch), hop)
        fine = self._fine.get(h.pitch)
        if fine is None:
            fine = self._fine[h.pitch] = _spectrogram(_resampled(self.x, h.pitch), FINE_HOP)
        rows = np.round(np.arange(0.0, fine.shape[0] - 0.5, hop / FINE_HOP)).astype(np.int64)
        picked: F32Array = fine[rows[rows < fine.shape[0]]]
        return picked


def print_of(spec: F32Array) -> AudioPrint:
    """Landmarks (no chromaprint) of a spectrogram on the original's frame grid."""
    frames, bins, strength = landmarks.find_peaks(spec)
    hashes, times = landmarks.pair_hashes(landmarks.thin_peaks(frames, bins, strength))
    return AudioPrint(
        chroma=np.zeros(0, dtype=np.uint32),
        hashes=hashes,
        times=times,
        seconds=spec.shape[0] * landmarks.FRAME_SECONDS,
    )


def warped_print(x: F32Array, h: Hypothesis) -> AudioPrint:
    """Landmarks of the query window `x` with hypothesis `h` undone (no chromaprint)."""
    return print_of(_Spectra(x).get(h, shared=False))


COARSE_WINDOW_S = 10.0  # coarse scoring reads this much of the query
GATE_WINDOW_S = 10.0  # the gate reads this much (see `gate_votes`)
REFINE_TOP = 2
FINAL_TOP = 1


def _coarse_scores(
    spectra: _Spectra, hyps: list[Hypothesis], coarse: Callable[[AudioPrint], tuple[str, int] | None]
) -> dict[Hypothesis, int]:
    """`coarse` votes of every hypothesis (spectra shared within a pitch of 3+ hypotheses)."""
    by_pitch: dict[float, int] = {}
    for h in hyps:
        by_pitch[h.pitch] = by_pitch.get(h.pitch, 0) + 1
    scored: dict[Hypothesis, int] = {}
    for h in hyps:
        if h not in scored:
            best = coarse(print_of(spectra.get(h, by_pitch[h.pitch] >= 3)))
            scored[h] = best[1] if best is not None else 0
    return scored


def _parabolic(y0: F32Array, y1: F32Array, y2: F32Array) -> npt.NDArray[np.float64]:
    """Offset (-0.5..0.5) of the top of the parabola through three samples around a maximum."""
    curve = (y0 - 2.0 * y1 + y2).astype(np.float64)
    flat = np.abs(curve) < 1e-6
    offset = np.where(flat, 0.0, 0.5 * (y0 - y2) / np.where(flat, -1.0, curve))
    return np.clip(offset, -0.5, 0.5)


def _query_peaks(x: F32Array) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], F32Array]:
    """Peaks of the query as it came, over every bin up to Nyquist: (frames, bins, strength),
    frames and bins refined to the top of a parabola (a peak moved by a factor must land on
    the right integer bin and frame gap)."""
    spec = _spectrogram(x, landmarks.HOP, 1, landmarks.N_FFT // 2)
    peaks = landmarks.thin_peaks(*landmarks.find_peaks(spec))
    f, b = peaks.frames.astype(np.int64), peaks.bins.astype(np.int64)
    frames, bins = f.astype(np.float64), b.astype(np.float64)
    inner = (b > 0) & (b < spec.shape[1] - 1)
    bins[inner] += _parabolic(spec[f[inner], b[inner] - 1], spec[f[inner], b[inner]], spec[f[inner], b[inner] + 1])
    inner = (f > 0) & (f < spec.shape[0] - 1)
    frames[inner] += _parabolic(spec[f[inner] - 1, b[inner]], spec[f[inner], b[inner]], spec[f[inner] + 1, b[inner]])
    return frames, bins + 1.0, peaks.strength  # spectrogram columns start at bin 1


def gate_votes(
    samples: I16Array,
    coarse: Callable[[AudioPrint], tuple[str, int] | None],
    grid: Iterable[Hypothesis] | None = None,
) -> int:
    """The best coarse votes of any grid hypothesis on the middle `GATE_WINDOW_S` seconds,
    with peaks picked once: the cheap first look. The query's own peaks are moved to where
    each hypothesis says the original had them (frame / duration, bin / pitch) and paired
    there, so a hypothesis costs one pairing and one lookup, not a resampling, an STFT and a
    peak search. Peak picking is not exactly scale-covariant, so this finds fewer votes than
    the search; but a warped copy still piles some up in one offset bin under the right
    hypothesis while unrelated sound gets two or three chance hits under all of them, so most
    uploads that match nothing stop here at a fraction of the search's cost."""
    x = _window(samples, GATE_WINDOW_S)
    if x.size < MIN_WINDOW_S * AUDIO_RATE:
        return 0
    frames, bins, strength = _query_peaks(x)
    band = landmarks.BIN_HI - landmarks.BIN_LO
    best = 0
    for h in grid if grid is not None else gate_grid():
        rb = np.round(bins / h.pitch).astype(np.int64) - landmarks.BIN_LO
        rf = np.round(frames / h.duration).astype(np.int64)
        ok = (rb >= 0) & (rb < band)
        order = np.lexsort((rb[ok], rf[ok]))
        peaks = landmarks.Peaks(rf[ok][order].astype(np.int32), rb[ok][order].astype(np.int32), strength[ok][order])
        hashes, times = landmarks.pair_hashes(peaks)
        votes = coarse(AudioPrint(np.zeros(0, dtype=np.uint32), hashes, times, x.size / AUDIO_RATE))
        best = max(best, votes[1] if votes is not None else 0)
    return best


def search_hypotheses[C](
    samples: I16Array,
    coarse: Callable[[AudioPrint], tuple[str, int] | None],
    full: Callable[[AudioPrint], list[C]],
    grid: Iterable[Hypothesis] | None = None,
    gate: int = 0,
) -> list[tuple[Hypothesis, list[C]]]:
    """Coarse-to-fine search: score `grid` (default `coarse_grid()`) with `coarse` (an asset
    and its best offset-bin votes) on a short window, refine the best REFINE_TOP on a finer
    grid, then run `full` (the index search) for the best FINAL_TOP on the whole window.
    With `gate` > 0, nothing is searched unless `gate_votes` reaches it."""
    short = _window(samples, COARSE_WINDOW_S)
    if short.size < MIN_WINDOW_S * AUDIO_RATE:
        return []
    hyps = list(grid if grid is not None else coarse_grid())
    if gate > 0 and gate_votes(samples, coarse) < gate:
        return []
    spectra = _Spectra(short)
    scored = _coarse_scores(spectra, hyps, coarse)
    for top in sorted(scored, key=lambda k: -scored[k])[:REFINE_TOP]:
        if scored[top] == 0:
            break
        for h in refine(top):
            if h not in scored:
                votes = coarse(print_of(spectra.get(h, False)))
                scored[h] = votes[1] if votes is not None else 0
    final = sorted(scored, key=lambda k: -scored[k])[:FINAL_TOP]
    whole = _window(samples, WINDOW_S)
    return [(h, full(warped_print(whole, h))) for h in final if scored[h] > 0]


def _atempo(x: F32Array, factor: float) -> F32Array:
    """`x` played `factor` times faster with its pitch kept (ffmpeg's atempo through PyAV;
    one atempo stage takes 0.5..2.0, so larger changes are chained)."""
    stages: list[float] = []
    left = factor
    while left > 2.0 or left < 0.5:
        stages.append(2.0 if left > 2.0 else 0.5)
        left /= stages[-1]
    stages.append(left)
    graph = av.filter.Graph()
    nodes = [graph.add_abuffer(format="flt", sample_rate=AUDIO_RATE, layout="mono")]
    nodes += [graph.add("atempo", f"{stage:.6f}") for stage in stages]
    nodes.append(graph.add("abuffersink"))
    for a, b in pairwise(nodes):
        a.link_to(b)
    graph.configure()
    frame = av.AudioFrame.from_ndarray(x.reshape(1, -1), format="flt", layout="mono")
    frame.sample_rate = AUDIO_RATE
    frame.pts = 0
    graph.push(frame)
    graph.push(None)
    out: list[F32Array] = []
    while True:
        try:
            pulled = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            break
        out.append(pulled.to_ndarray().reshape(-1).astype(np.float32))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def restored_chroma(samples: I16Array, h: Hypothesis) -> npt.NDArray[np.uint32]:
    """Chromaprint items of the query's full window (`WINDOW_S`) with `h` undone in both
    pitch and time (resampled, then time-stretched with atempo), on the original's time
    line from the window's start: the independent check of a warped landmark match."""
    x = _resampled(_window(samples, WINDOW_S), h.pitch)
    stretch = h.duration * h.pitch  # durations of the resampled window relative to the original
    if abs(stretch - 1.0) > 1e-3:
        x = _atempo(x, stretch)
    stream = ChromaprintStream()
    stream.feed((np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16))
    return stream.finish()
