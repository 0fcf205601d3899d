"""Scrub one file: sniff whether it is an image, a video or audio, and write a new file.

Outputs are always new containers built from decoded samples and pixels: no stream is copied,
so container and stream metadata (titles, GPS, device, creation time), attached pictures,
thumbnails, chapters, subtitles and data tracks of the input never reach the output.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from agent.errors import MediaError
from agent.scrub.audio import AUDIO_FORMATS, DEFAULT_AUDIO_SUFFIX, decode_track, encode_track, transform
from agent.scrub.models import RGBImage
from agent.scrub.options import ScrubOptions, ScrubResult
from agent.scrub.visual import FramePipeline

IMAGE_SUFFIXES = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
VIDEO_SUFFIXES = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
DEFAULT_VIDEO_SUFFIX = ".mp4"
MUXER_OPTIONS = {"fflags": "+bitexact"}  # no "encoder" tag naming the library version


def kind_of(path: Path) -> str:
    """ "image", "video" or "audio"; MediaError when the file is none of them."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return "image"
    try:
        with av.open(str(path)) as container:
            if any(not _is_cover(s) for s in container.streams.video):
                return "video"
            if container.streams.audio:
                return "audio"
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path}: not audio, video or an image ({type(exc).__name__})") from exc
    raise MediaError(f"{path}: no audio or video stream")


def _rgb(frame: Any) -> RGBImage:
    return np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)


def _is_cover(stream: Any) -> bool:
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def output_suffix(path: Path, kind: str) -> str:
    """The suffix a folder scrub gives the output of `path` (its own when we can write it)."""
    suffix = path.suffix.lower()
    if kind == "image":
        return suffix
    if kind == "video":
        return suffix if suffix in VIDEO_SUFFIXES else DEFAULT_VIDEO_SUFFIX
    return suffix if suffix in AUDIO_FORMATS else DEFAULT_AUDIO_SUFFIX


def scrub_file(source: Path, target: Path, options: ScrubOptions) -> ScrubResult:
    """Write the scrubbed `source` to `target` (written to a temporary name, then renamed)."""
    kind = kind_of(source)
    suffix = target.suffix.lower()
    allowed = IMAGE_SUFFIXES if kind == "image" else VIDEO_SUFFIXES if kind == "video" else AUDIO_FORMATS
    if suffix not in allowed:
        raise MediaError(f"{target}: cannot write {kind} as {suffix or 'no suffix'} (use one of {', '.join(allowed)})")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial{suffix}")
    try:
        if kind == "image":
            result = _scrub_image(source, partial, options)
        elif kind == "video":
            result = _scrub_video(source, partial, options)
        else:
            result = _scrub_audio(source, partial, options)
        os.replace(partial, target)
    except av.FFmpegError as exc:
        raise MediaError(f"{source}: cannot be decoded or encoded ({exc})") from exc
    finally:
        partial.unlink(missing_ok=True)
    return result


def _scrub_image(source: Path, target: Path, options: ScrubOptions) -> ScrubResult:
    try:
        with Image.open(source) as opened:
            upright = ImageOps.exif_transpose(opened) or opened
            rgb = np.asarray(upright.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise MediaError(f"{source}: not a readable image ({exc})") from exc
    pipeline = FramePipeline(options, video=False)
    try:
        (scrubbed,) = list(pipeline.run([rgb]))
    finally:
        pipeline.close()
    # A new image from pixels only: no EXIF, GPS, XMP, ICC profile or text chunks are carried.
    Image.fromarray(scrubbed).save(target, format=IMAGE_SUFFIXES[target.suffix.lower()])
    return ScrubResult("image", [pipeline.describe()])


def _scrub_audio(source: Path, target: Path, options: ScrubOptions) -> ScrubResult:
    with av.open(str(source)) as container:
        samples, rate, layout = decode_track(container, options)
    samples, phrase = transform(samples, rate, options)
    fmt, codec, forced_rate = AUDIO_FORMATS[target.suffix.lower()]
    with av.open(str(target), "w", format=fmt, options=MUXER_OPTIONS) as output:
        stream = output.add_stream(codec, rate=forced_rate or rate, layout=layout)
        encode_track(output, stream, samples, rate, layout)
    seconds = samples.shape[1] / rate
    return ScrubResult(f"audio {seconds:.1f} s", [phrase], seconds)


def _scrub_video(source: Path, target: Path, options: ScrubOptions) -> ScrubResult:
    actions: list[str] = []
    audio: tuple[Any, int, str] | None = None
    with av.open(str(source)) as container:
        if container.streams.audio:
            samples, rate, layout = decode_track(container, options)
            samples, phrase = transform(samples, rate, options)
            audio = (samples, rate, layout)
    pipeline = FramePipeline(options, video=True)
    try:
        with (
            av.open(str(source)) as container,
            av.open(str(target), "w", format=VIDEO_SUFFIXES[target.suffix.lower()], options=MUXER_OPTIONS) as output,
        ):
            in_stream = next(s for s in container.streams.video if not _is_cover(s))
            in_stream.thread_type = "AUTO"
            fps = Fraction(str(in_stream.average_rate or 25)).limit_denominator(1001)
            width = in_stream.codec_context.width // 2 * 2
            height = in_stream.codec_context.height // 2 * 2
            video = output.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "23"})
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            video.thread_type = "AUTO"
            audio_stream = None
            if audio is not None:
                audio_stream = output.add_stream("aac", rate=audio[1], layout=audio[2])
                encode_track(output, audio_stream, *audio)
                actions.append(phrase)
            frames = (_rgb(frame)[:height, :width] for frame in container.decode(in_stream))
            for index, rgb in enumerate(pipeline.run(frames)):
                out_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                out_frame.pts = index
                out_frame.time_base = 1 / fps
                output.mux(video.encode(out_frame))
            output.mux(video.encode(None))
    finally:
        pipeline.close()
    actions.insert(0, pipeline.describe())
    seconds = float(pipeline.frames / fps) if fps else 0.0
    return ScrubResult(f"video {seconds:.1f} s", actions, seconds)
