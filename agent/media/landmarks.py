"""Spectral landmark hashes for speech (Wang-style constellation pairs, numpy/scipy).

Chromaprint is tuned for music: on short, noisy or telephone-band speech its 32-bit items
flip too many bits to be found. Landmarks hold up there because a hash depends only on two
strong, local spectral peaks, and a match needs only some of them to survive.

Pipeline (all vectorised; audio arrives in chunks and is processed in blocks, so memory
does not grow with the file's length):
1. STFT of 11,025 Hz audio: 512-sample Hann window, 256-sample hop (23.2 ms frames), the
   bins from 250 Hz to 3.5 kHz (what survives telephone band and 8 kHz resampling).
2. Log magnitude minus its moving average over +/-0.75 s per bin: stationary noise, channel
   colour and volume drop out.
3. Peaks: local maxima over +/-5 bins x +/-3 frames standing out by at least 3 dB; then at
   most `PEAKS_PER_WINDOW` strongest within any +/-0.5 s window. Both tests are local, so an
   excerpt selects the same peaks as the whole recording did.
4. Pairs: each peak with its next `FANOUT` peaks within 1..31 frames and +/-31 bins:
   hash = f1 (8 bits) | df (6 bits) | dt (5 bits), 19 bits, kept with the anchor's frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.ndimage import uniform_filter1d

from agent.media.decode import AUDIO_RATE

N_FFT = 512
HOP = 256
FRAME_SECONDS = HOP / AUDIO_RATE  # 23.2 ms
BIN_LO = 12  # 258 Hz
BIN_HI = BIN_LO + 152  # 3.53 kHz (exclusive); 152 bins fit 8 bits
NORM_FRAMES = 65  # moving-average length for the per-bin normalisation (+/-0.75 s)
PEAK_NBR_BINS = 5
PEAK_NBR_FRAMES = 3
PEAK_MIN_DB = 3.0
FLOOR_DB = -75.0  # below this (dB re full scale) is silence: no peaks
PEAKS_PER_WINDOW = 18
PEAK_WINDOW_FRAMES = 22  # +/-0.51 s
FANOUT = 3
DT_MAX = 31
DF_MAX = 31
HASH_BITS = 19
BLOCK_FRAMES = 2048  # ~47 s of audio per processing block
# Context each block needs on either side so block edges do not change the peaks.
MARGIN_FRAMES = NORM_FRAMES // 2 + PEAK_WINDOW_FRAMES + PEAK_NBR_FRAMES + 2
_BLOCK_SAMPLES = (BLOCK_FRAMES + 2 * MARGIN_FRAMES) * HOP + N_FFT  # one block with its margins

F32Array = npt.NDArray[np.float32]
I32Array = npt.NDArray[np.int32]
U32Array = npt.NDArray[np.uint32]

_WINDOW = np.hanning(N_FFT + 1)[:-1].astype(np.float32)


@dataclass(frozen=True)
class Peaks:
    """Spectral peaks, sorted by frame then bin."""

    frames: I32Array
    bins: I32Array
    strength: F32Array


def spectrogram_db(samples: F32Array) -> F32Array:
    """Log magnitude (dB re full scale), shape (frames, bins in the speech band)."""
    if samples.size < N_FFT:
        return np.zeros((0, BIN_HI - BIN_LO), dtype=np.float32)
    count = 1 + (samples.size - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(samples, N_FFT)[::HOP][:count]
    # numpy's FFT of float32 rows gives the double-precision transform rounded to complex64;
    # converting the whole block to float64 once is the same arithmetic (bit for bit, tested)
    # at a third of the cost of numpy's row-by-row conversion.
    windowed = (frames * _WINDOW).astype(np.float64)
    spectrum = np.fft.rfft(windowed, axis=1)[:, BIN_LO:BIN_HI].astype(np.complex64)
    power = spectrum.real**2 + spectrum.imag**2
    scale = (N_FFT / 4) ** 2  # a full-scale sine reads ~0 dB
    db: F32Array = (10.0 * np.log10(power / scale + 1e-12)).astype(np.float32)
    return db


def _sliding_max(values: F32Array, half: int, axis: int) -> F32Array:
    """Maximum over +/-`half` along `axis`, edges repeated: scipy's maximum_filter with
    mode="nearest", by doubling the window with whole-array maxima (a few numpy passes
    instead of a per-element loop; maxima are exact, so the result is identical)."""
    size = 2 * half + 1
    pad = [(0, 0)] * values.ndim
    pad[axis] = (half, half)
    out = np.pad(values, pad, mode="edge")
    width = 1  # `out[i]` is the maximum of `width` padded values from i
    while width < size:
        step = min(width, size - width)
        n = out.shape[axis] - step
        head = tuple(slice(0, n) if d == axis else slice(None) for d in range(out.ndim))
        tail = tuple(slice(step, step + n) if d == axis else slice(None) for d in range(out.ndim))
        out = np.maximum(out[head], out[tail])
        width += step
    return out


def find_peaks(spec_db: F32Array) -> tuple[I32Array, I32Array, F32Array]:
    """Local spectral maxima that stand out from the local level: (frames, bins, strength)."""
    if spec_db.shape[0] == 0:
        empty = np.zeros(0, dtype=np.int32)
        return empty, empty.copy(), np.zeros(0, dtype=np.float32)
    norm = spec_db - uniform_filter1d(spec_db, size=NORM_FRAMES, axis=0, mode="nearest")
    local_max = _sliding_max(_sliding_max(norm, PEAK_NBR_FRAMES, axis=0), PEAK_NBR_BINS, axis=1)
    is_peak = (norm == local_max) & (norm >= PEAK_MIN_DB) & (spec_db > FLOOR_DB)
    frames, bins = np.nonzero(is_peak)
    return frames.astype(np.int32), bins.astype(np.int32), norm[frames, bins].astype(np.float32)


def thin_peaks(frames: I32Array, bins: I32Array, strength: F32Array) -> Peaks:
    """Keep a peak when fewer than PEAKS_PER_WINDOW peaks within +/-0.5 s are stronger."""
    order = np.lexsort((bins, frames))
    frames, bins, strength = frames[order], bins[order], strength[order]
    n = frames.size
    stronger = np.zeros(n, dtype=np.int32)
    for direction in (1, -1):
        shift = 1
        while shift < n:
            if direction > 0:
                a, b = slice(0, n - shift), slice(shift, n)
            else:
                a, b = slice(shift, n), slice(0, n - shift)
            near = np.abs(frames[b] - frames[a]) <= PEAK_WINDOW_FRAMES
            if not near.any():
                break
            beats = near & (
                (strength[b] > strength[a]) | ((strength[b] == strength[a]) & (bins[b] < bins[a]) & (direction > 0))
            )
            stronger[a] += beats
            shift += 1
    keep = stronger < PEAKS_PER_WINDOW
    return Peaks(frames=frames[keep], bins=bins[keep], strength=strength[keep])


def pair_hashes(peaks: Peaks) -> tuple[U32Array, U32Array]:
    """(hashes, anchor frames) of constellation pairs, in anchor order."""
    frames, bins = peaks.frames, peaks.bins
    n = frames.size
    if n < 2:
        return np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.uint32)
    taken = np.zeros(n, dtype=np.int32)
    out_hash: list[npt.NDArray[np.int64]] = []
    out_time: list[npt.NDArray[np.int64]] = []
    shift = 1
    while shift < n:
        a = np.arange(0, n - shift)
        dt = frames[a + shift] - frames[a]
        if (dt > DT_MAX).all():
            break
        df = bins[a + shift] - bins[a]
        ok = (dt >= 1) & (dt <= DT_MAX) & (np.abs(df) <= DF_MAX) & (taken[a] < FANOUT)
        chosen = a[ok]
        taken[chosen] += 1
        h = (bins[chosen].astype(np.int64) << 11) | ((df[ok] + DF_MAX).astype(np.int64) << 5) | (dt[ok] - 1)
        out_hash.append(h)
        out_time.append(frames[chosen].astype(np.int64))
        shift += 1
    hashes = np.concatenate(out_hash) if out_hash else np.zeros(0, dtype=np.int64)
    times = np.concatenate(out_time) if out_time else np.zeros(0, dtype=np.int64)
    order = np.argsort(times, kind="stable")
    return hashes[order].astype(np.uint32), times[order].astype(np.uint32)


class LandmarkStream:
    """Incremental peak extraction over chunks of 11,025 Hz int16 audio.

    Decoders deliver a thousand samples or so at a time: chunks wait in a list and are joined
    only when a whole block (plus its context margins) is there, and each block's spectrogram
    covers exactly that block, so the cost is linear in the length of the recording whatever
    the chunk sizes.
    """

    def __init__(self) -> None:
        self._buffer = np.zeros(0, dtype=np.float32)
        self._pending: list[npt.NDArray[np.int16]] = []
        self._pending_samples = 0
        self._buffer_frame0 = 0  # absolute frame index of the buffer's first sample
        self._emitted_to = 0  # absolute frame up to which peaks were emitted
        self._frames: list[I32Array] = []
        self._bins: list[I32Array] = []
        self._strength: list[F32Array] = []
        self.samples = 0

    def feed(self, samples: npt.NDArray[np.int16]) -> None:
        if samples.size == 0:
            return
        self._pending.append(samples)
        self._pending_samples += int(samples.size)
        self.samples += int(samples.size)
        if self._buffer.size + self._pending_samples >= _BLOCK_SAMPLES:
            self._join_pending()
            while self._buffer.size >= _BLOCK_SAMPLES:
                self._process(final=False)

    def _join_pending(self) -> None:
        if not self._pending:
            return
        chunk = np.concatenate(self._pending).astype(np.float32) * np.float32(1.0 / 32768.0)
        self._pending.clear()
        self._pending_samples = 0
        self._buffer = np.concatenate([self._buffer, chunk]) if self._buffer.size else chunk

    def _process(self, *, final: bool) -> None:
        spec = spectrogram_db(self._buffer if final else self._buffer[:_BLOCK_SAMPLES])
        frames, bins, strength = find_peaks(spec)
        frames += self._buffer_frame0
        start = self._emitted_to
        stop = self._buffer_frame0 + spec.shape[0] if final else start + BLOCK_FRAMES
        # Thin with context on both sides, then keep only this block's peaks.
        window = (frames >= start - PEAK_WINDOW_FRAMES) & (frames < stop + PEAK_WINDOW_FRAMES)
        if not final:
            window &= frames < self._buffer_frame0 + spec.shape[0] - NORM_FRAMES // 2 - PEAK_NBR_FRAMES
        thinned = thin_peaks(frames[window], bins[window], strength[window])
        mine = (thinned.frames >= start) & (thinned.frames < stop)
        self._frames.append(thinned.frames[mine])
        self._bins.append(thinned.bins[mine])
        self._strength.append(thinned.strength[mine])
        self._emitted_to = stop
        if not final:
            # Keep enough history for the next block's normalisation and thinning context.
            keep_from = stop - MARGIN_FRAMES
            drop = (keep_from - self._buffer_frame0) * HOP
            self._buffer = self._buffer[drop:]
            self._buffer_frame0 = keep_from

    @property
    def settled_frames(self) -> int:
        """Frames whose peaks are final (emitted); `settled()` holds exactly these."""
        return self._emitted_to

    def settled(self) -> Peaks:
        """The peaks emitted so far: a prefix of what `finish()` will return."""
        if not self._frames:
            empty = np.zeros(0, dtype=np.int32)
            return Peaks(empty, empty.copy(), np.zeros(0, dtype=np.float32))
        return Peaks(np.concatenate(self._frames), np.concatenate(self._bins), np.concatenate(self._strength))

    def finish(self) -> Peaks:
        self._join_pending()
        while self._buffer.size >= _BLOCK_SAMPLES:
            self._process(final=False)
        if self._buffer.size >= N_FFT:
            self._process(final=True)
        if not self._frames:
            empty = np.zeros(0, dtype=np.int32)
            return Peaks(empty, empty.copy(), np.zeros(0, dtype=np.float32))
        return Peaks(
            frames=np.concatenate(self._frames),
            bins=np.concatenate(self._bins),
            strength=np.concatenate(self._strength),
        )


def landmarks_of(samples: npt.NDArray[np.int16]) -> tuple[U32Array, U32Array]:
    """Hashes and anchor frames of a whole clip (tests and benchmarks)."""
    stream = LandmarkStream()
    stream.feed(samples)
    return pair_hashes(stream.finish())
