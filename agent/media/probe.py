"""Probe by decoding: bytes libmagic calls "unknown" that may still be a recording.

Decoders are more forgiving than file-type sniffers: an MP3 with junk or zeros in front
plays (the decoder hunts for the next frame sync), a WAV glued behind a `%PDF` prefix plays
from its `RIFF` header, and WavPack, TTA, AC-3, VOC or MXF files are media libmagic may not
name. A middle piece of a split MP3 is decodable from its first frame sync, and a middle
piece of a WAV is plain PCM. So when sniffing gives up, this module:

1. looks for media markers at any offset in the first `MARKER_WINDOW` bytes (after a leading
   run of one byte value, so zero padding costs nothing): container magic numbers (ID3,
   RIFF/WAVE, W64, `ftyp`, OggS, fLaC, EBML, WavPack, TTA, VOC, MXF, AIFF, ASF, FLV...) and
   MPEG audio / ADTS frame syncs that are confirmed by a second frame where the first one's
   header says it ends (a lone 0xFFE is noise);
2. lets ffmpeg (PyAV, the allowed demuxers only) try from each marker, in file order;
3. as a last resort, when the bytes look like 16-bit PCM (neighbouring samples correlate the
   way sampled sound does, which compressed or encrypted bytes never do), matches them as
   s16le mono or stereo at the common rates.

Every step is bounded: marker candidates (`MAX_MARKERS`), PCM rate attempts (`PCM_RATES`),
bytes examined, and a wall-clock budget over the whole probe. This module never decides a
verdict: it reports whether the bytes were readable as media and what matched.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from agent.media.model import MatchOutcome, MediaLimits

MARKER_WINDOW = 1 << 20
"""How far into the bytes (after a leading run of one value) markers are searched."""
SKIP_RUN_LIMIT = 64 << 20
MIN_RUN = 64
"""Shorter runs are part of the data, not padding."""
"""A leading run of one byte value (zero padding) is skipped up to this length."""
MAX_MARKERS = 6
"""Decode attempts from markers, at most."""
PCM_RATES: tuple[int, ...] = (16_000, 44_100, 48_000, 22_050, 8_000, 24_000, 11_025, 32_000)
"""Tried in this order for headerless PCM (the commonest recording rates first)."""
PCM_MIN_CORRELATION = 0.45
"""Neighbouring 16-bit samples of sound correlate above this; compressed bytes score about 0."""
PCM_SAMPLE_BYTES = 1 << 20
"""How much of the data the PCM plausibility test reads."""
PCM_MAX_BYTES = 32 << 20
"""Headerless PCM longer than this is matched on its first `PCM_MAX_BYTES` (minutes of audio)."""
DEFAULT_BUDGET_S = 8.0


class DecodingMatcher(Protocol):
    """What the probe needs of `agent.media.MediaService` (thread-safe)."""

    def match_decodable(self, data: bytes, *, limits: MediaLimits | None = None) -> MatchOutcome: ...

    def match_pcm(
        self, pcm: bytes, *, sample_rate: int, channels: int = 1, sample_format: str = "s16le"
    ) -> MatchOutcome: ...


@dataclass(frozen=True)
class Marker:
    offset: int
    label: str
    """What the marker says the bytes are ("mp3-frame", "riff", "wavpack"...): goes into events."""


@dataclass
class ProbeResult:
    """What probing found: `outcome` of the first readable attempt (or None), and how it was read."""

    outcome: MatchOutcome | None = None
    how: str | None = None
    """"marker:mp3-frame@1024", "pcm:s16le/16000/1": how the bytes were read (no content)."""
    attempts: int = 0
    exhausted: bool = False
    """The time budget ran out before every attempt was made."""
    tried: list[str] = field(default_factory=list)

    @property
    def readable(self) -> bool:
        return self.outcome is not None


# (pattern, bytes before the match where the file starts, label, the literal the pattern starts
# with). Patterns are literal enough that a hit in random bytes is rare; a false hit costs one
# failed decode attempt. Each literal is looked for with `bytes.find` (memchr speed) and its
# pattern tried only there: `re` scanning 1 MB costs about 2 ms per pattern, 40 ms for the table.
_MARKERS: tuple[tuple[re.Pattern[bytes], int, str, bytes], ...] = (
    (re.compile(rb"ID3[\x02-\x04]\x00"), 0, "id3", b"ID3"),
    (re.compile(rb"RIFF.{4}(?:WAVE|AVI |RMP3)", re.DOTALL), 0, "riff", b"RIFF"),
    (re.compile(rb"RF64.{4}WAVE", re.DOTALL), 0, "rf64", b"RF64"),
    (re.compile(rb"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb"), 0, "w64", b"riff.\x91\xcf\x11"),
    (re.compile(rb"wvpk.{4}[\x02-\x10]\x04", re.DOTALL), 0, "wavpack", b"wvpk"),
    (re.compile(rb"TTA1[\x01-\x03]\x00"), 0, "tta", b"TTA1"),
    (re.compile(rb"Creative Voice File\x1a"), 0, "voc", b"Creative Voice File\x1a"),
    (re.compile(rb"\x06\x0e\x2b\x34\x02\x05\x01\x01\x0d\x01\x02\x01\x01\x02"), 0, "mxf", b"\x06\x0e+4"),
    (
        re.compile(rb"ftyp(?:isom|iso[2-9]|mp4[12]|M4[ABV] |qt  |3gp[4-9]|3g2a|avc1|dash|mmp4|MSNV|f4v )"),
        4,
        "mp4",
        b"ftyp",
    ),
    (re.compile(rb"OggS\x00\x02"), 0, "ogg", b"OggS\x00\x02"),
    (re.compile(rb"fLaC\x00"), 0, "flac", b"fLaC\x00"),
    (re.compile(rb"\x1a\x45\xdf\xa3"), 0, "ebml", b"\x1aE\xdf\xa3"),
    (re.compile(rb"FORM.{4}AIF[FC]", re.DOTALL), 0, "aiff", b"FORM"),
    (re.compile(rb"#!AMR"), 0, "amr", b"#!AMR"),
    (re.compile(rb"caff\x00\x01"), 0, "caf", b"caff\x00\x01"),
    (re.compile(rb"\x2esnd\x00\x00\x00"), 0, "au", b".snd\x00\x00\x00"),
    (re.compile(rb"FLV\x01"), 0, "flv", b"FLV\x01"),
    (re.compile(rb"\x30\x26\xb2\x75\x8e\x66\xcf\x11"), 0, "asf", b"0&\xb2u\x8ef\xcf\x11"),
    (re.compile(rb"\x00\x00\x01\xba[\x21-\x2f\x44-\x7f]"), 0, "mpeg-ps", b"\x00\x00\x01\xba"),
)
_SYNC = re.compile(rb"\xff[\xe0-\xff]")
_AC3_SYNC = re.compile(rb"\x0b\x77")
MAX_SYNC_CHECKS = 4096

# MPEG audio frame headers (ISO 11172-3 / 13818-3): kbit/s by [version is MPEG-1][layer][index].
_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {3: (44_100, 48_000, 32_000), 2: (22_050, 24_000, 16_000), 0: (11_025, 12_000, 8_000)}
# AC-3 frame sizes in 16-bit words for 48 kHz by frmsizecod // 2 (the 32/44.1 kHz rows differ; 48 kHz
# is what encoders emit by default, and ffmpeg confirms any candidate anyway).
_AC3_WORDS_48K = (64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024, 1152, 1280)


def mpeg_frame_length(header: bytes) -> int | None:
    """Length in bytes of the MPEG audio (layer I-III) or ADTS frame whose header starts `header`."""
    if len(header) < 7 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version = (header[1] >> 3) & 0x03
    layer_bits = (header[1] >> 1) & 0x03
    if layer_bits == 0:  # ADTS (AAC): 0xFFF, layer 00
        if header[1] & 0xF6 != 0xF0 or (header[2] >> 2) & 0x0F > 12:
            return None
        length = ((header[3] & 0x03) << 11) | (header[4] << 3) | (header[5] >> 5)
        return length if length >= 7 else None
    if version == 1:
        return None
    index, rate_index = header[2] >> 4, (header[2] >> 2) & 0x03
    if index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    layer = 4 - layer_bits
    bitrate = _BITRATES[(mpeg1, layer)][index] * 1000
    rate = _SAMPLE_RATES[version][rate_index]
    padding = (header[2] >> 1) & 0x01
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4
    if layer == 3 and not mpeg1:
        return 72 * bitrate // rate + padding
    return 144 * bitrate // rate + padding


def _ac3_frame_length(header: bytes) -> int | None:
    if len(header) < 5 or header[:2] != b"\x0b\x77":
        return None
    fscod, frmsizecod = header[4] >> 6, header[4] & 0x3F
    if fscod != 0 or frmsizecod >= 38:
        return None
    return _AC3_WORDS_48K[frmsizecod // 2] * 2


def leading_run(data: bytes | memoryview, limit: int = SKIP_RUN_LIMIT) -> int:
    """Length of the run of one byte value `data` starts with (zero padding, 0xFF fill)."""
    if len(data) < 2:
        return 0
    view = np.frombuffer(data[: min(len(data), limit)], dtype=np.uint8)
    first = view[0]
    step = 1 << 16
    for start in range(0, len(view), step):
        block = view[start : start + step]
        different = np.flatnonzero(block != first)
        if different.size:
            run = start + int(different[0])
            return run if run >= MIN_RUN else 0
    return len(view)


def find_markers(data: bytes | memoryview, *, window: int = MARKER_WINDOW, limit: int = MAX_MARKERS) -> list[Marker]:
    """Media markers in the first `window` bytes after a leading run, in file order, at most `limit`."""
    base = leading_run(data)
    region = bytes(data[base : base + window])
    found: dict[int, str] = {}
    for pattern, back, label, literal in _MARKERS:
        at = region.find(literal)
        while at >= 0:
            if pattern.match(region, at) and at >= back:
                found.setdefault(at - back, label)
                break  # the first of each kind is enough: later ones are the same file
            at = region.find(literal, at + 1)
    checks = 0
    for match in _SYNC.finditer(region):
        checks += 1
        if checks > MAX_SYNC_CHECKS:
            break
        start = match.start()
        length = mpeg_frame_length(region[start : start + 8])
        if length is None:
            continue
        after = mpeg_frame_length(region[start + length : start + length + 8])
        if after is not None:
            found.setdefault(start, "mpeg-frame")
            break
    for match in _AC3_SYNC.finditer(region):
        start = match.start()
        length = _ac3_frame_length(region[start : start + 6])
        if length is not None and region[start + length : start + length + 2] == b"\x0b\x77":
            found.setdefault(start, "ac3")
            break
    return [Marker(base + offset, label) for offset, label in sorted(found.items())[:limit]]


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """The dot product without BLAS: `np.dot` hands 1-D products to OpenBLAS's thread pool,
    whose threads spin for cores on a busy machine (22 ms instead of 0.3 ms per call on two
    loaded cores: the 100 MB ZIP walk went from 1.6 to 3.9 s). `einsum` sums in this thread."""
    return float(np.einsum("i,i->", a, b))


def pcm_layout(data: bytes | memoryview) -> tuple[int, int] | None:
    """(byte alignment 0|1, channels 1|2) when `data` looks like s16le sound, else None.

    Sampled sound changes little from one sample to the next: the correlation of neighbouring
    samples (lag 1 for mono, lag 2 for interleaved stereo) is high, while compressed, encrypted
    or text bytes read as 16-bit samples score near zero; read one byte off (a piece cut at an
    odd offset) the high and low bytes swap roles and the correlation collapses, which finds
    the alignment. Stereo is told from mono by its sample pairs: the two samples of one instant
    (left, right) are closer to each other than to the next instant's, or its lag-2
    correlation beats lag 1; in mono both differences are alike.
    """
    best: tuple[float, int, int] | None = None
    for align in (0, 1):
        usable = (min(len(data), PCM_SAMPLE_BYTES) - align) // 4 * 4
        if usable < 4096:
            return None
        samples = np.frombuffer(data[align : align + usable], dtype="<i2").astype(np.float64)
        samples -= samples.mean()
        energy = _dot(samples, samples)
        if energy <= 0.0:
            continue
        mono = _dot(samples[:-1], samples[1:]) / energy
        stereo = _dot(samples[:-2], samples[2:]) / energy
        within = float(np.abs(samples[0::2] - samples[1::2]).mean())
        across = float(np.abs(samples[1:-1:2] - samples[2::2]).mean())
        channels = 2 if (within < 0.5 * across or stereo > mono + 0.05) else 1
        score = max(mono, stereo)
        if score >= PCM_MIN_CORRELATION and (best is None or score > best[0]):
            best = (score, align, channels)
    return None if best is None else (best[1], best[2])


def probe_match(
    media: DecodingMatcher,
    data: bytes | memoryview,
    *,
    limits: MediaLimits | None = None,
    budget_s: float = DEFAULT_BUDGET_S,
    rates: Sequence[int] = PCM_RATES,
) -> ProbeResult:
    """Read `data` as media from any marker, then as headerless PCM; stop at the first match.

    The first readable attempt's outcome is kept unless a later one matches; attempts stop at a
    match or when `budget_s` is spent.
    """
    result = ProbeResult()
    deadline = time.monotonic() + budget_s
    base = limits or MediaLimits()

    def spent() -> bool:
        if time.monotonic() > deadline:
            result.exhausted = True
            return True
        return False

    for marker in find_markers(data):
        if spent():
            return result
        result.attempts += 1
        how = f"marker:{marker.label}@{marker.offset}"
        result.tried.append(how)
        # Each decode gets what is left of the budget (a marker in hostile bytes cannot hold the
        # probe for the full decode limit).
        remaining = max(0.5, deadline - time.monotonic())
        bounded = replace(base, max_decode_s=min(base.max_decode_s, remaining))
        outcome = media.match_decodable(bytes(data[marker.offset :]), limits=bounded)
        if outcome.media_kind is not None:
            if result.outcome is None or outcome.match is not None:
                result.outcome, result.how = outcome, how
            if outcome.match is not None:
                return result
    if result.outcome is not None:
        return result  # read as a file: it is not headerless PCM
    layout = pcm_layout(data)
    if layout is None:
        return result
    align, channels = layout
    frame = 2 * channels
    size = min(len(data) - align, PCM_MAX_BYTES)
    pcm = bytes(data[align : align + size - size % frame])
    for rate in rates:
        if spent():
            return result
        result.attempts += 1
        how = f"pcm:s16le/{rate}/{channels}"
        result.tried.append(how)
        outcome = media.match_pcm(pcm, sample_rate=rate, channels=channels)
        if outcome.media_kind is not None and (result.outcome is None or outcome.match is not None):
            result.outcome, result.how = outcome, how
        if outcome.match is not None:
            return result
    return result
