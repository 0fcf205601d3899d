"""Audio tracks: decode with PyAV, anonymise, mute or keep the voice, encode into a fresh stream."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av
import numpy as np

from agent.scrub.options import ScrubOptions
from agent.scrub.psola import psola_shift, random_shift
from agent.scrub.target import to_target
from agent.scrub.voice import PROCESS_RATE, mcadams, random_alpha


def decode_track(container: Any, options: ScrubOptions) -> tuple[np.ndarray[Any, Any], int, str]:
    """All samples of the first audio stream as planar float (channels, n), with rate and layout.

    Speech that is anonymised or muted is taken at 16 kHz mono (the rate McAdams is tuned for, ample for PSOLA;
    one channel also drops the spatial cues of a stereo recording); a kept voice keeps its rate.
    """
    stream = container.streams.audio[0]
    if options.voice == "keep":
        rate = int(stream.codec_context.sample_rate or 48_000)
        layout = "stereo" if (stream.codec_context.channels or 1) >= 2 else "mono"
    else:
        rate, layout = PROCESS_RATE, "mono"
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
    chunks = [
        frame.to_ndarray() for packet_frame in container.decode(stream) for frame in resampler.resample(packet_frame)
    ]
    chunks += [frame.to_ndarray() for frame in resampler.resample(None)]
    channels = 2 if layout == "stereo" else 1
    samples = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), dtype=np.float32)
    return samples.astype(np.float32), rate, layout


def transform(samples: np.ndarray[Any, Any], rate: int, options: ScrubOptions) -> tuple[np.ndarray[Any, Any], str]:
    """The samples with the voice treated as asked, and the phrase for the report."""
    if options.voice == "mute":
        return np.zeros_like(samples), "voice muted"
    if options.voice == "keep":
        return samples, "voice kept"
    if options.voice_method == "psola":
        return psola_shift(samples[0], random_shift(), rate=rate)[None, :], "voice anonymised"
    if options.voice_method == "target":
        return to_target(samples[0], rate=rate)[None, :], "voice anonymised"
    alpha = options.alpha if options.alpha is not None else random_alpha()
    return mcadams(samples[0], alpha, rate=rate)[None, :], "voice anonymised"


def encode_track(output: Any, stream: Any, samples: np.ndarray[Any, Any], rate: int, layout: str) -> None:
    """Encode planar float samples into `stream` of `output` (PyAV re-chunks to the codec's frame size)."""
    step = 4096
    for start in range(0, samples.shape[1], step):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples[:, start : start + step]), format="fltp", layout=layout
        )
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        output.mux(stream.encode(frame))
    output.mux(stream.encode(None))


AUDIO_FORMATS: dict[str, tuple[str, str, int | None]] = {
    # suffix: (container format, codec, forced sample rate)
    ".wav": ("wav", "pcm_s16le", None),
    ".flac": ("flac", "flac", None),
    ".ogg": ("ogg", "libopus", 48_000),
    ".opus": ("ogg", "libopus", 48_000),
    ".mp3": ("mp3", "libmp3lame", None),
    ".m4a": ("mp4", "aac", None),
    ".aac": ("adts", "aac", None),
}
DEFAULT_AUDIO_SUFFIX = ".m4a"
