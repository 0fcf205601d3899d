"""Bounded decoding with PyAV: audio as 11,025 Hz mono s16, video as small sampled frames.

Every print is computed from one pass over the container: audio is resampled by libswresample
straight to the one rate the prints need (chromaprint works at 11,025 Hz; speech landmarks
use the band below 3.5 kHz), video frames are converted only when sampled, at a reduced size.

Safety, because uploads are hostile input:
- demuxers are restricted to an allow-list (no playlists, concat files or network protocols
  an upload could make ffmpeg fetch), and files are read through a Python file object, so
  image-sequence patterns in file names mean nothing;
- `max_pixels` on every video decoder refuses decompression-bomb images before allocation;
- decoded duration and wall-clock time are checked after every packet; what was decoded
  before a limit or a corruption is still delivered, with the reason recorded.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Protocol

import av
import numpy as np
import numpy.typing as npt

from agent.errors import MediaError
from agent.media.model import MediaLimits
from agent.media.signatures import PICTURE_BRANDS

AUDIO_RATE = 11_025
MAX_AUDIO_STREAMS = 4  # a screen recording's mic + system audio tracks; more is not a recording
AUDIO_BATCH = 1 << 15  # samples per delivery to the sink (~3 s)
FRAME_WIDTH = 160  # sampled frames are scaled to this width (height keeps the aspect ratio)
MAX_FRAME_PIXELS = 8192 * 8192  # larger pictures are refused before they are decoded

# Demuxers an upload may use. Anything else (hls, dash, concat, image2 patterns, network
# protocols, subtitle formats) is refused before ffmpeg acts on it.
ALLOWED_DEMUXERS = ",".join(
    [
        "mov,mp4,m4a,3gp,3g2,mj2",
        "matroska,webm",
        "avi",
        "wav",
        "w64",
        "wv",  # WavPack, TTA, AC-3, VOC, MXF: the payload core's marker table finds them
        "tta",
        "ac3",
        "eac3",
        "voc",
        "mxf",
        "mp3",
        "aac",
        "ogg",
        "flac",
        "amr",
        "amrnb",
        "amrwb",
        "aiff",
        "asf",
        "flv",
        "mpegts",
        "mpeg",
        "caf",
        "au",
        "jpeg_pipe",
        "png_pipe",
        "webp_pipe",
        "gif",
        "apng",
        "webp_anim",
        "bmp_pipe",
        "tiff_pipe",
        "j2k_pipe",  # JPEG 2000, raw or in its JP2 boxes
        "dv",
        "s16le",
        "s24le",
        "f32le",
        "mulaw",
        "alaw",
    ]
)
# Animated pictures: sampled like a video when they hold more than one frame.
ANIMATIONS = frozenset({"gif", "apng", "webp_anim"})
# Raw PCM formats a caller may name for headerless audio (realtime APIs).
PCM_FORMATS = {
    "s16le": "s16le",
    "pcm16": "s16le",
    "s24le": "s24le",
    "f32le": "f32le",
    "mulaw": "mulaw",
    "g711_ulaw": "mulaw",
    "alaw": "alaw",
    "g711_alaw": "alaw",
}

Int16Array = npt.NDArray[np.int16]
UInt8Array = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Picture:
    """One sampled video frame (or a still image), small, as Y/U/V planes of equal size."""

    t: float  # seconds from the start of the stream
    yuv: UInt8Array  # shape (3, height, width): Y, U, V (BT.601 full range, via RGB)
    detail: UInt8Array | None = None  # a larger grey copy, when the sink asked (local features)
    # U and V at half the grey copy's size, when the sink asked (`detail_colour`): the colour
    # check of a picture shown small (picture-in-picture) needs more than the small planes.
    detail_chroma: UInt8Array | None = None


class MediaSink(Protocol):
    """Receives decoded media as it comes, so nothing is held for the whole file."""

    def audio(self, samples: Int16Array) -> None: ...

    def wants_picture(self, t: float) -> bool:
        """Whether the frame at `t` seconds should be converted and delivered (sampling)."""
        ...

    def picture(self, picture: Picture) -> None: ...

    def satisfied(self) -> bool:
        """True once the sink needs nothing more (a match already proven): decoding stops."""
        ...


@dataclass
class DecodeReport:
    """What one decode saw. `problem` is set when decoding stopped early, with the reason."""

    container: str = ""
    has_audio: bool = False
    has_video: bool = False
    is_image: bool = False
    audio_s: float = 0.0
    video_s: float = 0.0
    pictures: int = 0
    problem: str | None = None
    hit_limit: bool = False
    satisfied: bool = False  # the sink stopped decoding early: it had what it needed
    audio_streams: int = 0
    extra_audio: list[str] = field(default_factory=list)
    """Audio decoded after the first stream, in order: other audio tracks, or one channel of a
    stream whose channels cancel out in the mono mix."""

    @property
    def duration_s(self) -> float:
        return max(self.audio_s, self.video_s)


def _ffmpeg_message(exc: BaseException) -> str:
    text = str(getattr(exc, "strerror", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() > self.end


class _Anonymous:
    """A readable, seekable file without a name: ffmpeg then probes by content only (with a
    name it would pick demuxers by extension, e.g. image2 with its file-sequence patterns)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle

    def read(self, size: int = -1) -> bytes:
        return self._handle.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()

    def close(self) -> None:
        self._handle.close()


def _open(source: Path | bytes, fmt: str | None, options: dict[str, str]) -> tuple[Any, _Anonymous]:
    raw: IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else Path(source).open("rb")  # noqa: SIM115
    handle = _Anonymous(raw)
    opts = {"format_whitelist": ALLOWED_DEMUXERS, "probesize": str(5 << 20), "analyzeduration": "5000000", **options}
    try:
        container = av.open(handle, mode="r", format=fmt, options=opts)
    except av.FFmpegError as exc:
        handle.close()
        raise MediaError(f"not decodable media: {_ffmpeg_message(exc)}") from None
    except (OSError, ValueError, MemoryError) as exc:
        handle.close()
        raise MediaError(f"not decodable media: {exc}") from None
    return container, handle


def _picture_size(width: int, height: int) -> tuple[int, int]:
    out_h = round(FRAME_WIDTH * height / width / 2) * 2
    return FRAME_WIDTH, max(2, out_h)


def _detail(sink: MediaSink, frame: Any, t: float) -> tuple[UInt8Array | None, UInt8Array | None]:
    """A grey copy of the frame at the width the sink asks for (never enlarged), or None; with
    it, when the sink's `detail_colour` is true, U and V at half that size (else None)."""
    wants = getattr(sink, "detail_width", None)
    width = int(wants(t)) if wants is not None else 0
    if width <= 0:
        return None, None
    width = min(width, int(frame.width)) // 2 * 2
    height = max(2, round(width * frame.height / frame.width / 2) * 2)
    gray: UInt8Array = frame.to_ndarray(format="gray", width=width, height=height, interpolation="AREA")
    if not getattr(sink, "detail_colour", False):
        return gray, None
    rgb = frame.to_ndarray(format="rgb24", width=width // 2, height=height // 2, interpolation="AREA")
    return gray, rgb_to_yuv(rgb)[1:]


def _frame_time(frame: Any, index: int, rate: Fraction | None) -> float:
    t = frame.time
    return float(t) if t is not None else index / (float(rate) if rate else 25.0)


def decode(
    source: Path | bytes,
    sink: MediaSink,
    limits: MediaLimits,
    *,
    want_audio: bool = True,
    want_video: bool = True,
    pcm: tuple[str, int, int] | None = None,
    on_open: Callable[[DecodeReport], None] | None = None,
    start_s: float = 0.0,
) -> DecodeReport:
    """Decode `source` into `sink` within `limits`; raise MediaError when nothing usable came out.

    `pcm` = (format, sample_rate, channels) for headerless audio. `start_s` > 0: seek the first
    audio stream there first and decode only that stream's mix from there on (no extra audio
    passes): an excerpt from the middle of a long recording (`agent.media.split`).
    """
    fmt = None
    options: dict[str, str] = {}
    if pcm is not None:
        name, rate, channels = pcm
        fmt = PCM_FORMATS.get(name)
        if fmt is None:
            raise MediaError(f"unsupported PCM format {name!r} (use one of {', '.join(sorted(PCM_FORMATS))})")
        if not 4000 <= rate <= 192_000 or not 1 <= channels <= 8:
            raise MediaError(f"implausible PCM parameters: {rate} Hz, {channels} channels")
        options = {"sample_rate": str(rate), "ch_layout": "mono" if channels == 1 else f"{channels}c"}
    deadline = _Deadline(limits.max_decode_s)
    container, handle = _open(source, fmt, options)
    report = DecodeReport(container=str(container.format.name))
    audio = _AudioBatches(sink, int(limits.max_duration_s * AUDIO_RATE))
    phase = _PhaseWatch()
    try:
        if start_s > 0:
            want_video = False
            _seek_audio(container, start_s)
        _decode_streams(container, sink, limits, deadline, report, want_audio, want_video, on_open, audio, phase)
    finally:
        container.close()
        handle.close()
    if want_audio and start_s <= 0:
        for stream_index, channel in _extra_audio(report, phase):
            if report.satisfied or report.hit_limit or report.problem:
                break
            container, handle = _open(source, fmt, options)
            try:
                _decode_audio_pass(container, sink, deadline, report, audio, stream_index, channel, limits)
            finally:
                container.close()
                handle.close()
    if report.audio_s <= 0 and report.pictures == 0:
        raise MediaError(report.problem or "no decodable audio or pictures")
    return report


def _seek_audio(container: Any, start_s: float) -> None:
    """Move the demuxer to the packet of the first audio stream at or before `start_s`."""
    if not container.streams.audio:
        raise MediaError("no audio stream to seek in")
    stream = container.streams.audio[0]
    if stream.time_base is None:
        raise MediaError("the audio stream has no time base to seek by")
    try:
        container.seek(int(start_s / stream.time_base), stream=stream, backward=True)
    except (av.FFmpegError, ValueError, OverflowError) as exc:
        raise MediaError(f"cannot seek to {start_s:.0f} s: {exc}") from None


def _decode_streams(
    container: Any,
    sink: MediaSink,
    limits: MediaLimits,
    deadline: _Deadline,
    report: DecodeReport,
    want_audio: bool,
    want_video: bool,
    on_open: Callable[[DecodeReport], None] | None,
    audio: _AudioBatches,
    phase: _PhaseWatch,
) -> None:
    audio_stream = container.streams.audio[0] if container.streams.audio else None
    report.audio_streams = len(container.streams.audio)
    video_stream = None
    for stream in container.streams.video:
        # Cover art in audio files is an attached picture, not the recording.
        if not (stream.disposition & av.stream.Disposition.attached_pic):
            video_stream = stream
            break
    report.has_audio = audio_stream is not None
    report.has_video = video_stream is not None
    # HEIC and AVIF stills are ISO files like an MP4: their brand says they hold pictures.
    animation = container.format.name in ANIMATIONS or container.metadata.get("major_brand") in PICTURE_BRANDS
    report.is_image = str(container.format.name).endswith("_pipe") and video_stream is not None
    if report.is_image or animation:
        audio_stream = None
    if audio_stream is None and video_stream is None:
        raise MediaError("no audio or video stream")
    if on_open is not None:
        on_open(report)
    streams = []
    resampler = None
    if audio_stream is not None and want_audio:
        resampler = _MonoResampler()
        streams.append(audio_stream)
    frames_seen = 0
    size = (0, 0)
    if video_stream is not None and want_video:
        ctx = video_stream.codec_context
        if ctx.width and ctx.height:
            _check_dimensions(ctx.width, ctx.height)
        # Deblocking only smooths block edges: pHashes do not need it, and skipping it saves ~15%.
        ctx.options = {"max_pixels": str(MAX_FRAME_PIXELS), "skip_loop_filter": "all", "flags2": "+fast"}
        streams.append(video_stream)
    if not streams:
        return
    try:
        for packet in container.demux(streams):
            if _must_stop(sink, deadline, report):
                break
            stream = packet.stream
            if stream is audio_stream and resampler is not None:
                for frame in packet.decode():
                    phase.see(frame)
                    for out in resampler.push(frame):
                        audio.add(out)
                report.audio_s = audio.samples / AUDIO_RATE
                if audio.full:
                    report.problem = f"duration limit ({limits.max_duration_s:g} s) reached"
                    report.hit_limit = True
                    break
            elif stream is video_stream and want_video:
                for frame in packet.decode():
                    t = _frame_time(frame, frames_seen, video_stream.average_rate)
                    frames_seen += 1
                    report.video_s = max(report.video_s, t)
                    if t > limits.max_duration_s:
                        report.problem = f"duration limit ({limits.max_duration_s:g} s) reached"
                        report.hit_limit = True
                        break
                    if report.is_image or sink.wants_picture(t):
                        if size == (0, 0):
                            _check_dimensions(frame.width, frame.height)
                            size = _picture_size(frame.width, frame.height)
                        rgb = frame.to_ndarray(format="rgb24", width=size[0], height=size[1], interpolation="AREA")
                        detail, chroma = _detail(sink, frame, t)
                        sink.picture(Picture(t=t, yuv=rgb_to_yuv(rgb), detail=detail, detail_chroma=chroma))
                        report.pictures += 1
                        if report.is_image:
                            break
                if report.hit_limit or (report.is_image and report.pictures):
                    break
        else:
            if resampler is not None:
                for out in resampler.push(None):
                    audio.add(out)
                report.audio_s = audio.samples / AUDIO_RATE
    except av.FFmpegError as exc:
        # Truncated or corrupt after a good start: keep what was decoded, say why it stopped.
        report.problem = f"corrupt or truncated media after {report.duration_s:.1f} s: {_ffmpeg_message(exc)}"
    except (MemoryError, ValueError) as exc:
        report.problem = f"cannot decode: {exc}"
    finally:
        audio.flush()
    if animation:
        # A clip turned into an animated GIF/PNG/WebP is sampled like a video; one frame is a picture.
        report.is_image = report.pictures <= 1


def _must_stop(sink: MediaSink, deadline: _Deadline, report: DecodeReport) -> bool:
    """Checked before every packet: the sink has what it needs, or the time budget is spent."""
    if sink.satisfied():
        report.satisfied = True
        return True
    if deadline.passed():
        report.problem = f"decode time limit ({deadline.seconds:g} s) reached"
        report.hit_limit = True
        return True
    return False


def _extra_audio(report: DecodeReport, phase: _PhaseWatch) -> list[tuple[int, int | None]]:
    """Audio to decode after the first pass: (stream index, channel or None for the mono mix).

    A recording can hide from a mono print two ways: in a second audio track (screen recorders
    keep the microphone and the system audio apart), or in channels that cancel when mixed
    (right = -left). Each extra pass is appended to the same print, as if the file went on.
    """
    if report.is_image:
        return []
    passes: list[tuple[int, int | None]] = []
    if phase.cancelled:
        passes.append((0, 0))
    passes.extend((index, None) for index in range(1, min(report.audio_streams, MAX_AUDIO_STREAMS)))
    return passes


def _decode_audio_pass(
    container: Any,
    sink: MediaSink,
    deadline: _Deadline,
    report: DecodeReport,
    audio: _AudioBatches,
    stream_index: int,
    channel: int | None,
    limits: MediaLimits,
) -> None:
    """One more audio stream (or one channel of one) into the same sink, within the same bounds."""
    streams = container.streams.audio
    if stream_index >= len(streams):
        return
    stream = streams[stream_index]
    label = f"audio stream {stream_index + 1}" if channel is None else f"channel {channel + 1} of audio stream 1"
    report.extra_audio.append(label)
    resampler = _MonoResampler(channel)
    try:
        for packet in container.demux(stream):
            if _must_stop(sink, deadline, report):
                break
            for frame in packet.decode():
                for out in resampler.push(frame):
                    audio.add(out)
            if audio.full:
                report.problem = f"duration limit ({limits.max_duration_s:g} s) reached"
                report.hit_limit = True
                break
        else:
            for out in resampler.push(None):
                audio.add(out)
    except av.FFmpegError as exc:
        report.problem = f"corrupt or truncated {label}: {_ffmpeg_message(exc)}"
    except (MemoryError, ValueError) as exc:
        report.problem = f"cannot decode {label}: {exc}"
    finally:
        audio.flush()
        report.audio_s = audio.samples / AUDIO_RATE


class _PhaseWatch:
    """Notices channels that cancel in a mono mix (one channel the other's negative).

    Every SAMPLE_EVERY-th decoded frame of a multichannel stream is looked at: when the mix of
    the first two channels keeps under 2 % of the louder channel's energy while that channel is
    not silent, the frame votes "cancelled". A stream is cancelled when most voting frames say so.
    """

    SAMPLE_EVERY = 8
    SILENT = 1e-5  # mean square of a full-scale-normalised channel: about -50 dBFS
    RATIO = 0.02

    def __init__(self) -> None:
        self._frames = 0
        self.votes = 0
        self.cancel_votes = 0

    def see(self, frame: Any) -> None:
        # Called for every decoded frame: the counter comes first, so the other frames cost
        # one addition (reading `frame.layout` builds Python objects).
        self._frames += 1
        if self._frames % self.SAMPLE_EVERY:
            return
        channels = frame.layout.nb_channels
        if channels < 2:
            return
        data = frame.to_ndarray()
        if not frame.format.is_planar:
            data = data.reshape(-1, channels).T
        left, right = data[0].astype(np.float64), data[1].astype(np.float64)
        n = left.size
        if n == 0:
            return
        # Mean squares of the full-scale-normalised channels and of their mix, as dot products.
        scale = n * _full_scale(data.dtype) ** 2
        loud = max(float(left @ left), float(right @ right)) / scale
        if loud < self.SILENT:
            return
        mix = left + right
        self.votes += 1
        if float(mix @ mix) / (4.0 * scale) < self.RATIO * loud:
            self.cancel_votes += 1

    @property
    def cancelled(self) -> bool:
        return self.votes >= 3 and self.cancel_votes >= 0.6 * self.votes


def _full_scale(dtype: np.dtype[Any]) -> float:
    """Full scale of a sample type: the largest integer, or 1.0 for floating point."""
    return float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else 1.0


class _MonoResampler:
    """Decoded audio to AUDIO_RATE mono s16 through libswresample, in frames of AUDIO_BATCH samples.

    The same filter graph av.AudioResampler builds (abuffer -> aformat -> abuffersink), so the
    samples are the same; but av.AudioResampler pulls after every pushed frame, and an empty
    pull raises (EAGAIN) in Python: ~9 us for each of the ~40 frames per second of an MP3.
    Here the graph is drained only every PULL_EVERY frames.
    """

    PULL_EVERY = 32

    def __init__(self, channel: int | None = None) -> None:
        """`channel`: take only that channel instead of mixing them all."""
        self._channel = channel
        self._graph: Any = None
        self._template: tuple[str, str, int] | None = None
        self._pushed = 0

    def _configure(self, frame: Any) -> None:
        graph = av.filter.Graph()
        extra = {"time_base": str(frame.time_base)} if frame.time_base is not None else {}
        source = graph.add(
            "abuffer",
            sample_rate=str(frame.sample_rate),
            sample_fmt=frame.format.name,
            channel_layout=frame.layout.name,
            **extra,
        )
        convert = graph.add("aformat", sample_rates=str(AUDIO_RATE), sample_fmts="s16", channel_layouts="mono")
        sink = graph.add("abuffersink")
        if self._channel is not None and frame.layout.nb_channels > self._channel:
            pick = graph.add("pan", f"mono|c0=c{self._channel}")
            source.link_to(pick)
            pick.link_to(convert)
        else:
            source.link_to(convert)
        convert.link_to(sink)
        graph.configure()
        graph.set_audio_frame_size(AUDIO_BATCH)
        self._graph = graph
        self._template = (frame.format.name, frame.layout.name, frame.sample_rate)

    def push(self, frame: Any) -> list[Any]:
        """Feed one decoded frame (None at the end); returns the converted frames ready so far."""
        if frame is None:
            if self._graph is None:
                return []
            self._graph.push(None)
            return self._drain()
        if self._graph is None:
            self._configure(frame)
        elif (frame.format.name, frame.layout.name, frame.sample_rate) != self._template:
            raise ValueError("audio format changes within the stream")
        self._graph.push(frame)
        self._pushed += 1
        return self._drain() if self._pushed % self.PULL_EVERY == 0 else []

    def _drain(self) -> list[Any]:
        out = []
        while True:
            try:
                out.append(self._graph.pull())
            except (av.error.BlockingIOError, EOFError):
                return out


class _AudioBatches:
    """Collects resampled audio (a few hundred samples per decoded frame) and hands it to the
    sink in batches of at least AUDIO_BATCH samples, so the print builders' per-call costs are
    paid every few seconds of audio instead of dozens of times a second. The prints do not
    depend on how their input is chunked (tested)."""

    def __init__(self, sink: MediaSink, max_samples: int) -> None:
        self.sink = sink
        self.max_samples = max_samples
        self.samples = 0
        self._parts: list[Int16Array] = []
        self._pending = 0

    @property
    def full(self) -> bool:
        return self.samples >= self.max_samples

    def add(self, frame: Any) -> None:
        """Take a resampled s16 mono frame, cut at `max_samples` in all (every pass together)."""
        chunk: Int16Array = frame.to_ndarray().reshape(-1).astype(np.int16, copy=False)
        if self.samples + chunk.size > self.max_samples:
            chunk = chunk[: max(0, self.max_samples - self.samples)]
        if chunk.size == 0:
            return
        self.samples += chunk.size
        self._parts.append(chunk)
        self._pending += chunk.size
        if self._pending >= AUDIO_BATCH:
            self.flush()

    def flush(self) -> None:
        if self._parts:
            batch = self._parts[0] if len(self._parts) == 1 else np.concatenate(self._parts)
            self._parts = []
            self._pending = 0
            self.sink.audio(batch)


def rgb_to_yuv(rgb: UInt8Array) -> UInt8Array:
    """BT.601 full-range Y, U, V planes (3, h, w) of an RGB picture.

    Every picture goes through RGB, whatever it was stored as: a video frame and a PNG
    screenshot of it then carry the same colours, including colours a YUV source had outside
    the RGB gamut (which any conversion to RGB clips).
    """
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = 128.0 + 0.564 * (b - y)
    v = 128.0 + 0.713 * (r - y)
    return np.clip(np.rint(np.stack([y, u, v])), 0, 255).astype(np.uint8)


def _check_dimensions(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise MediaError("picture with no size")
    if width * height > MAX_FRAME_PIXELS:
        raise MediaError(f"picture of {width}x{height} pixels exceeds the {MAX_FRAME_PIXELS} pixel limit")


def duration_s(source: Path | bytes) -> float:
    """The container's declared duration in seconds (0.0 when it declares none), without decoding."""
    container, handle = _open(source, None, {})
    try:
        if container.duration is not None and container.duration > 0:
            return float(container.duration) / av.time_base
        for stream in container.streams.audio:
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
        return 0.0
    finally:
        container.close()
        handle.close()
