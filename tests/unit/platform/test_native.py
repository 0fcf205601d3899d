"""Native libraries on Windows: the bundled DLL folder on PATH, libmagic and libarchive optional.

The Windows build has no libmagic or libarchive (agent/platform/native.py). What runs for real
here: libmagic (to check that the byte-signature fallback names the same media kind for real
files ffmpeg writes), libarchive against the `tarfile` fallback on the same tar. What is faked:
the platform (`current`) and the absent library.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from agent.media.signatures import mime_of_head
from agent.media.sniff import SNIFF_BYTES, kind_of_mime, sniff_bytes
from agent.payload import containers
from agent.payload.budget import ExpansionBudget
from agent.payload.types import ExtractLimits, PayloadError
from agent.platform import native
from tests.support.media import require_tools

# (ffmpeg arguments after the input, file suffix): audio, video and image formats the agent inspects.
FORMATS = {
    "wav": ("-c:a", "pcm_s16le"),
    "mp3": ("-c:a", "libmp3lame"),
    "ogg": ("-c:a", "libvorbis"),
    "opus": ("-c:a", "libopus"),
    "flac": ("-c:a", "flac"),
    "m4a": ("-c:a", "aac"),
    "aiff": ("-c:a", "pcm_s16be"),
    "amr": ("-ar", "8000", "-ac", "1", "-c:a", "libopencore_amrnb"),
    "au": ("-c:a", "pcm_s16be"),
    "caf": ("-c:a", "pcm_s16le"),
    "wma": ("-c:a", "wmav2"),
    "mp4": ("-c:v", "libx264", "-pix_fmt", "yuv420p"),
    "mov": ("-c:v", "libx264", "-pix_fmt", "yuv420p"),
    "mkv": ("-c:v", "libx264"),
    "webm": ("-c:v", "libvpx"),
    "avi": ("-c:v", "mpeg4"),
    "flv": ("-c:v", "flv"),
    "ts": ("-c:v", "mpeg2video"),
    "mpg": ("-c:v", "mpeg1video", "-f", "mpeg"),
    "3gp": ("-c:v", "h263", "-s", "176x144"),
    "png": ("-frames:v", "1"),
    "jpg": ("-frames:v", "1"),
    "gif": ("-frames:v", "1"),
    "bmp": ("-frames:v", "1"),
    "webp": ("-frames:v", "1"),
}
VIDEO = {"mp4", "mov", "mkv", "webm", "avi", "flv", "ts", "mpg", "3gp", "png", "jpg", "gif", "bmp", "webp"}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    require_tools("ffmpeg")
    folder = tmp_path_factory.mktemp("formats")
    made = {}
    for suffix, args in FORMATS.items():
        source = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=1"] if suffix in VIDEO else []
        source = source or ["-f", "lavfi", "-i", "sine=frequency=440:duration=1"]
        path = folder / f"clip.{suffix}"
        proc = subprocess.run(["ffmpeg", "-v", "error", "-y", *source, *args, str(path)], capture_output=True)
        if proc.returncode == 0:
            made[suffix] = path.read_bytes()
    assert len(made) >= len(FORMATS) - 3, f"ffmpeg wrote only {sorted(made)}"
    return made


def test_byte_signatures_name_the_same_media_kind_as_libmagic(media: dict[str, bytes]) -> None:
    """Without libmagic (Windows) every format ffmpeg wrote here has libmagic's kind. The
    signatures may see more (libmagic 5.44 calls CAF and MPEG-TS data), never less."""
    differ = {}
    for suffix, data in media.items():
        head = data[:SNIFF_BYTES]
        with_magic = sniff_bytes(head).kind
        without = kind_of_mime(mime_of_head(head))
        if with_magic is not None and with_magic != without:
            differ[suffix] = (with_magic, without, mime_of_head(head))
        assert without is not None, f"{suffix}: not recognised without libmagic ({mime_of_head(head)})"
    assert differ == {}


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.7\n", b"PK\x03\x04" + bytes(40), b"hello, world\n" * 20, b"\x00" * 512, b"BM" + b"x" * 40, b"{}"],
)
def test_byte_signatures_do_not_call_documents_media(data: bytes) -> None:
    assert kind_of_mime(mime_of_head(data)) is None


def test_a_library_absent_on_windows_is_none_and_elsewhere_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native, "current", lambda: "linux")
    with pytest.raises(ImportError):
        native.optional_binding("phiwall_no_such_binding")
    monkeypatch.setattr(native, "current", lambda: "windows")
    monkeypatch.setattr(native, "bundled_dll_dir", lambda: Path("/nonexistent"))
    assert native.optional_binding("phiwall_no_such_binding") is None
    assert native.optional_binding("json") is not None


def test_the_bundled_dll_folder_goes_first_on_path_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", f"/usr/bin{os.pathsep}/bin")
    monkeypatch.setattr(native, "bundled_dll_dir", lambda: tmp_path)
    monkeypatch.setattr(native, "current", lambda: "linux")
    native.expose_bundled_dlls()
    assert os.environ["PATH"] == f"/usr/bin{os.pathsep}/bin", "only on Windows"
    monkeypatch.setattr(native, "current", lambda: "windows")
    native.expose_bundled_dlls()
    native.expose_bundled_dlls()
    assert os.environ["PATH"] == os.pathsep.join([str(tmp_path), "/usr/bin", "/bin"])


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _entries(kind: str, data: bytes, wanted: containers.Wanted) -> list[tuple[str, bytes]]:
    budget = ExpansionBudget(ExtractLimits())
    return [(entry.label, bytes(entry.data)) for entry in containers.open_container(kind, data, budget, wanted)]


def test_tar_without_libarchive_gives_what_libarchive_gives(
    media: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    wav = media["wav"]
    data = _tar({"dictation.wav": wav, "notes.txt": b"x" * 100, "big.bin": bytes(200_000), "video.mp4": media["mp4"]})

    def wanted(head: bytes, size: int) -> bool:
        return not head.startswith(bytes(64))

    assert containers.libarchive is not None, "libarchive is installed on Linux"
    with_libarchive = _entries("tar", data, wanted)
    monkeypatch.setattr(containers, "libarchive", None)
    without = _entries("tar", data, wanted)
    assert without == with_libarchive
    assert [label for label, _ in without] == ["tar#0(.wav)", "tar#1(.txt)", "tar#3(.mp4)"]
    assert without[0][1] == wav


def test_archives_only_libarchive_reads_fail_closed_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(containers, "libarchive", None)
    with pytest.raises(PayloadError, match="libarchive is not installed"):
        _entries("7z", b"7z\xbc\xaf\x27\x1c" + bytes(40), lambda head, size: True)
    with pytest.raises(PayloadError, match="tar archive is corrupt"):
        _entries("tar", b"not a tar" * 100, lambda head, size: True)
