"""WORLD-vocoder voice transform for benchmarks/scrub_voice.py, run inside benchmarks/.venv-privacy.

pyworld is not in the agent venv (0.3.5 imports pkg_resources), so this measurement-only
transform runs next to the speaker encoder. argv[1] lists one job a line: input WAV, output WAV,
F0 scale, spectral-envelope warp (tab-separated). Each utterance is analysed (harvest F0,
CheapTrick envelope, D4C aperiodicity), its F0 multiplied by the scale, its envelope and
aperiodicity stretched along frequency by the warp (> 1 moves formants up), and resynthesised.
"""

import sys
import wave

import numpy as np
import pyworld


def warp(envelope: np.ndarray, factor: float) -> np.ndarray:
    """Each frame's spectrum read at bin/factor: formants move by `factor`."""
    bins = np.arange(envelope.shape[1], dtype=np.float64)
    source = np.clip(bins / factor, 0, envelope.shape[1] - 1)
    return np.ascontiguousarray([np.interp(source, bins, frame) for frame in envelope])


def transform(x: np.ndarray, rate: int, f0_scale: float, factor: float) -> np.ndarray:
    f0, times = pyworld.dio(x, rate)
    f0 = pyworld.stonemask(x, f0, times, rate)
    envelope = pyworld.cheaptrick(x, f0, times, rate)
    aperiodicity = pyworld.d4c(x, f0, times, rate)
    y = pyworld.synthesize(f0 * f0_scale, warp(envelope, factor), warp(aperiodicity, factor), rate)[: x.size]
    y = np.pad(y, (0, x.size - y.size))
    rms_in, rms_out = np.sqrt(np.mean(x**2)), np.sqrt(np.mean(y**2)) + 1e-9
    y = y * (rms_in / rms_out)
    return np.clip(y, -0.97, 0.97)


with open(sys.argv[1]) as listing:
    for line in listing.read().splitlines():
        if not line:
            continue
        source, target, f0_scale, factor = line.split("\t")
        with wave.open(source) as reader:
            rate = reader.getframerate()
            x = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").astype(np.float64) / 32768
        y = transform(x, rate, float(f0_scale), float(factor))
        with wave.open(target, "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(rate)
            writer.writeframes((y * 32767).astype("<i2").tobytes())
