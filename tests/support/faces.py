"""Test media with real faces, made at test time with PyAV from images registry packages ship.

`skimage.data.astronaut()` (a public-domain NASA portrait bundled with scikit-image) is panned
and zoomed into a short H.264 video, optionally with a speech track and metadata the scrub must
strip. `haar_faces` is an independent check: OpenCV's Haar cascade, not the detector scrub uses.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

RGB = npt.NDArray[np.uint8]


def astronaut() -> RGB:
    from skimage import data

    image: RGB = data.astronaut()
    return image


def animated_frames(width: int, height: int, count: int) -> list[RGB]:
    """`count` frames of the astronaut, zooming in and panning across a grey stage."""
    source = astronaut()
    frames = []
    for i in range(count):
        t = i / max(1, count - 1)
        scale = (0.55 + 0.35 * t) * height / source.shape[0]
        face = cv2.resize(source, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        canvas = np.full((height, width, 3), 90, dtype=np.uint8)
        x = int((width - face.shape[1]) * (0.15 + 0.7 * t))
        y = max(0, (height - face.shape[0]) // 2)
        h, w = min(face.shape[0], height - y), min(face.shape[1], width - x)
        canvas[y : y + h, x : x + w] = face[:h, :w]
        frames.append(canvas)
    return frames


def write_video(
    path: Path,
    frames: list[RGB],
    *,
    fps: int = 25,
    audio: npt.NDArray[np.float32] | None = None,
    audio_rate: int = 22050,
    metadata: dict[str, str] | None = None,
) -> Path:
    """An MP4 (H.264, AAC when `audio` is given) with the container `metadata` set."""
    with av.open(str(path), "w", format="mp4") as out:
        out.metadata.update(metadata or {})
        video = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        video.metadata["title"] = "camera 3 bed 12"
        stream = None
        if audio is not None:
            stream = out.add_stream("aac", rate=audio_rate, layout="mono")
            stream.metadata["title"] = "patient microphone"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None and stream is not None:
            for start in range(0, audio.size, 4096):
                chunk = audio[None, start : start + 4096].astype(np.float32)
                aframe = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
                aframe.sample_rate, aframe.pts, aframe.time_base = audio_rate, start, Fraction(1, audio_rate)
                out.mux(stream.encode(aframe))
            out.mux(stream.encode(None))
    return path


def read_frames(path: Path) -> list[RGB]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def read_audio(path: Path, rate: int = 16000) -> npt.NDArray[np.float32]:
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = [f.to_ndarray().ravel() for fr in container.decode(audio=0) for f in resampler.resample(fr)]
        chunks += [f.to_ndarray().ravel() for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32)


_CASCADE: cv2.CascadeClassifier | None = None


def haar_faces(rgb: RGB, min_size: int = 32) -> int:
    """How many frontal faces OpenCV's Haar cascade finds (a detector independent of scrub's)."""
    global _CASCADE
    if _CASCADE is None:
        _CASCADE = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return len(_CASCADE.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size)))
