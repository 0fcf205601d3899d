"""Enrolment prints are byte-identical to those the calibration was fitted on.

Speed work on the enrolment path (decoding, resampling, Chromaprint, landmarks, picture hashes,
keypoints) must not change a single byte of what is stored: the decision's calibration
(`calibration.json`) and every asset already enrolled depend on it. The digests below were
taken with the code before that work (main at d2f1f80) from media generated here
deterministically (a WAV written with `wave`, an H.264 MP4 with sound encoded single-threaded
by PyAV), through `fingerprint` with the enrolment settings, as `printformat` stores them.
The MP4's two picture digests were retaken on 2026-12-06 with the enrolment code of 812ea27
(unchanged since d2f1f80), when the clip's frames became numpy's own YUV: FFmpeg's RGB to YUV
conversion on the way into the encoder gave different frames from run to run on one machine.
A change of these digests is a change of the print format: bump the algorithm version and
refit the calibration, do not update the digests alone.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from agent.media import printformat
from agent.media.fingerprint import ENROL_FPS, MediaPrints, fingerprint
from agent.media.model import MediaLimits

from .conftest import babble

REPO = Path(__file__).resolve().parents[3]

GOLDEN = {
    "wav chromaprint": "b25a3a23e2d12df3330b22ebfa4a37f727988607b15ed22547de6d16a8413708",
    "wav landmarks": "ccbb51d8d951f6d9a398917ba2bf88da185f11ddaaa706564233f72782d2eaec",
    "mp4 chromaprint": "b5e171f67a77755025b4852e0e7fa640865ddea9ae4ecc25cbbf19a3dfc29bd5",
    "mp4 landmarks": "3d8b765a90e301c361d54fe9cc3b3dc130d7fd0f822690a3ed08be04d52c4c0f",
    "mp4 frames": "25b78e149fa99fe8d832752ab7a1a301eeca4a37a8de8e52e63280a62b8a3869",
    "mp4 keypoints": "bf7ccee5569be48603aefb72d779dadd465adb2f65d70193264b6360765fd45b",
}


def write_wav(path: Path) -> None:
    """44.1 kHz stereo speech-like sound (the decoder resamples and mixes it down)."""
    mono = babble(25.0, seed=21).astype(np.int32)
    up = np.repeat(mono, 4)  # 11,025 -> 44,100 Hz, by sample-and-hold: rich in aliases
    stereo = np.stack([up, (up * 3) // 4], axis=1).astype(np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(44100)
        out.writeframes(stereo.tobytes())


def yuv420p(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range planar 4:2:0 of an RGB frame, in numpy: the encoder is given its
    own pixel format, so no scaler converts on the way in (FFmpeg's gave different frames from
    run to run on one machine, seen 2026-12-06)."""
    f = rgb.astype(np.float64)
    y = 16 + 0.257 * f[..., 0] + 0.504 * f[..., 1] + 0.098 * f[..., 2]
    u = 128 - 0.148 * f[..., 0] - 0.291 * f[..., 1] + 0.439 * f[..., 2]
    v = 128 + 0.439 * f[..., 0] - 0.368 * f[..., 1] - 0.071 * f[..., 2]
    height, width = y.shape

    def half(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))

    planes = [y.ravel(), half(u).ravel(), half(v).ravel()]
    return np.rint(np.concatenate(planes)).clip(0, 255).astype(np.uint8).reshape(height * 3 // 2, width)


def write_mp4(path: Path) -> None:
    """8 s of 320x240 moving shapes at 25 fps with speech-like AAC sound."""
    rng = np.random.default_rng(22)
    sound = babble(8.0, seed=23)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "veryfast", "crf": "23", "threads": "1"})
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.thread_count = 1
        audio = out.add_stream("aac", rate=11025)
        audio.layout = "mono"
        blocks = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        for i in range(200):
            frame = np.kron(np.roll(blocks, i // 10, axis=1), np.ones((20, 20, 1), dtype=np.uint8))
            y = 40 + int(60 * np.sin(i / 15))
            frame[y : y + 50, (i * 3) % 260 : (i * 3) % 260 + 60] = (250, 240, 30)
            for packet in video.encode(av.VideoFrame.from_ndarray(yuv420p(frame), format="yuv420p")):
                out.mux(packet)
        for start in range(0, sound.size, 1024):
            chunk = av.AudioFrame.from_ndarray(sound[None, start : start + 1024], format="s16", layout="mono")
            chunk.sample_rate = 11025
            chunk.pts = start
            chunk.time_base = Fraction(1, 11025)
            for packet in audio.encode(chunk):
                out.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                out.mux(packet)


def digests(prints: MediaPrints, name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if prints.audio is not None:
        for kind, (_, _, blob) in printformat.encode_audio(prints.audio).items():
            out[f"{name} {kind}"] = hashlib.sha256(blob).hexdigest()
    if prints.frames is not None:
        out[f"{name} frames"] = hashlib.sha256(printformat.encode_frames(prints.frames)[2]).hexdigest()
    if prints.keypoints is not None:
        out[f"{name} keypoints"] = hashlib.sha256(printformat.encode_keypoints(prints.keypoints)[2]).hexdigest()
    return out


def enrol_prints(path: Path) -> MediaPrints:
    return fingerprint(path, MediaLimits(), frame_fps=ENROL_FPS, adaptive=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("golden")
    write_wav(root / "speech.wav")
    # In a fresh process: libx264 encoded this clip differently after other tests had churned
    # this process's memory (seen after test_compact_index.py; the same code in a new process
    # gives the same bytes every time), and the digests are of the enrolment code, not of that.
    code = "import sys; from pathlib import Path; from tests.unit.media.test_print_golden import write_mp4; "
    code += "write_mp4(Path(sys.argv[1]))"
    subprocess.run([sys.executable, "-c", code, str(root / "clip.mp4")], cwd=REPO, check=True, timeout=120)
    return {"wav": root / "speech.wav", "mp4": root / "clip.mp4"}


def test_enrolment_prints_are_byte_identical(media: dict[str, Path]) -> None:
    found: dict[str, str] = {}
    for name, path in media.items():
        found.update(digests(enrol_prints(path), name))
    assert found == GOLDEN
