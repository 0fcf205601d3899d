"""Test media made at test time: speech with espeak-ng, encodings and video with ffmpeg.

Nothing here is committed: files are generated into a per-session cache directory. Every
generator is deterministic for its arguments, so tests can rely on what they produce.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

DICTATIONS = [
    "Patient is a sixty two year old male presenting with chest pain radiating to the left arm "
    "for three hours. History of hypertension and type two diabetes. Current medications include "
    "metformin five hundred milligrams twice daily and lisinopril twenty milligrams daily. "
    "On examination blood pressure one hundred sixty over ninety five, heart rate one hundred and four.",
    "Follow up visit for a forty five year old female with persistent migraine without aura. "
    "She reports nausea and sensitivity to light without vomiting. Plan is to start sumatriptan "
    "fifty milligrams as needed and to review in four weeks. Medical record number four four "
    "seven one nine two three eight.",
    "Discharge summary. Seventy eight year old male admitted with community acquired pneumonia, "
    "treated with ceftriaxone and azithromycin. Oxygen saturation improved to ninety six percent "
    "on room air. Discharged home with amoxicillin for five more days and follow up with the "
    "pulmonology clinic.",
]
OTHER_SPEECH = [
    "The quarterly budget meeting has moved to Thursday afternoon in room twelve. Please bring "
    "the updated spreadsheets and remember to submit your travel receipts before Friday.",
    "Tonight's football match kicks off at eight o'clock. Traffic near the stadium is expected "
    "to be heavy, so the city recommends taking the tram from the central station.",
]


def require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"missing test tools {missing}: run scripts/setup.sh --dev")


def _run(cmd: Sequence[str]) -> None:
    subprocess.run(list(cmd), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)


def ffmpeg(*args: str) -> None:
    _run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args])


@dataclass
class MediaFactory:
    """Makes media files in `root`, reusing a file when asked for the same thing twice."""

    root: Path

    def _path(self, key: str, suffix: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return self.root / f"{digest}{suffix}"

    def speech(self, text: str, *, voice: str = "en-us", speed: int = 160, pitch: int = 50) -> Path:
        """A WAV (22.05 kHz mono) of espeak-ng speaking `text`."""
        require_tools("espeak-ng")
        out = self._path(f"speech|{text}|{voice}|{speed}|{pitch}", ".wav")
        if not out.exists():
            tmp = out.with_suffix(".part.wav")
            _run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(tmp), text])
            tmp.replace(out)
        return out

    def encode(self, src: Path, suffix: str, *ffmpeg_args: str) -> Path:
        """`src` run through ffmpeg with `ffmpeg_args` into a file ending in `suffix`."""
        require_tools("ffmpeg")
        out = self._path(f"encode|{src.name}|{suffix}|{'|'.join(ffmpeg_args)}", suffix)
        if not out.exists():
            tmp = out.with_name(out.stem + ".part" + suffix)
            ffmpeg("-i", str(src), *ffmpeg_args, str(tmp))
            tmp.replace(out)
        return out

    def video(
        self,
        speech_wav: Path | None,
        *,
        seconds: float = 12.0,
        pattern: str = "testsrc2",
        size: str = "480x360",
        fps: int = 25,
        suffix: str = ".mp4",
    ) -> Path:
        """A video of an ffmpeg test pattern, with `speech_wav` as its audio track if given."""
        require_tools("ffmpeg")
        key = f"video|{speech_wav.name if speech_wav else '-'}|{seconds}|{pattern}|{size}|{fps}|{suffix}"
        out = self._path(key, suffix)
        if not out.exists():
            tmp = out.with_name(out.stem + ".part" + suffix)
            args = ["-f", "lavfi", "-i", f"{pattern}=s={size}:rate={fps}:d={seconds}"]
            if speech_wav is not None:
                args += ["-i", str(speech_wav), "-shortest", "-c:a", "aac", "-b:a", "96k"]
            args += ["-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23"]
            ffmpeg(*args, str(tmp))
            tmp.replace(out)
        return out


@pytest.fixture(scope="session")
def media_factory(tmp_path_factory: pytest.TempPathFactory) -> MediaFactory:
    """Session-wide generator of test media (cached for the session only)."""
    return MediaFactory(tmp_path_factory.mktemp("media"))
