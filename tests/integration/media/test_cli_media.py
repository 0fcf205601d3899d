"""`phiwall enroll` and `phiwall match --json`: the contract of docs/detection.md, as users and the
evaluation harness run them (the installed console script, in a subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import Clinic, make

PHIWALL = str(Path(sys.executable).with_name("phiwall"))


def phiwall(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PHIWALL, *args], capture_output=True, text=True, timeout=180, env=dict(os.environ))


def test_enroll_then_match_json_in_order(clinic: Clinic, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    folder = tmp_path / "dictations"
    folder.mkdir()
    shutil.copy(clinic.dictations[0], folder / "a.m4a")
    (folder / "readme.txt").write_text("not media")
    enrolled = phiwall("enroll", "--db", db, str(folder), str(clinic.video))
    assert enrolled.returncode == 0, enrolled.stderr
    assert "enrolled 2 new, 0 already enrolled, 1 skipped (not media), 0 failed" in enrolled.stderr
    again = phiwall("enroll", "--db", db, str(folder / "a.m4a"))
    assert again.returncode == 0
    assert "0 new, 1 already enrolled" in again.stderr

    excerpt = make(
        clinic.factory, "cli_excerpt.ogg", "-ss", "3", "-t", "5", "-i", str(clinic.dictation_wavs[0]), "-c:a", "libopus"
    )
    frame = make(clinic.factory, "cli_frame.png", "-ss", "6", "-i", str(clinic.video), "-frames:v", "1")
    other = make(clinic.factory, "cli_other.mp3", "-i", str(clinic.dictation_wavs[1]))  # never enrolled here
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    paths = [excerpt, tmp_path / "missing.wav", frame, other, text]
    result = phiwall("match", "--db", db, "--json", *map(str, paths))
    assert result.returncode == 6, "a PATH could not be read: exit 6 (after every PATH's line)"
    assert result.stderr.strip() == "phiwall: error: 1 of 5 path(s) could not be read"
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(p) for p in paths]
    for line in lines:
        assert isinstance(line["ms"], (int, float))
    hit, missing, picture, miss, not_media = lines
    assert set(hit["match"]) == {"asset", "path", "kind", "score", "offset_s", "method"}
    assert hit["match"]["method"] == "sound"
    assert hit["match"]["path"] == str(folder / "a.m4a")
    assert hit["match"]["kind"] == "audio"
    assert 0 < hit["match"]["score"] <= 1
    assert abs(hit["match"]["offset_s"] - 3.0) < 0.3
    assert "error" not in hit
    assert missing["match"] is None
    assert "missing" in missing["error"]
    assert picture["match"]["kind"] == "image"
    assert picture["match"]["path"] == str(clinic.video)
    assert miss["match"] is None
    assert "error" not in miss
    assert not_media["match"] is None
    assert "not audio, video or an image" in not_media["error"]


def test_enroll_failure_is_one_clear_message_and_non_zero(clinic: Clinic, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli_fail.db'}"
    text = tmp_path / "a.wav"
    text.write_text("not audio")
    result = phiwall("enroll", "--db", db, str(clinic.dictations[1]), str(text), str(tmp_path / "gone.mp3"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"error     {text}: not audio, video or an image" in result.stderr
    assert "gone.mp3: missing: no such file or folder" in result.stderr
    assert "phiwall: error: 2 file(s) could not be enrolled (1 could not be read" in result.stderr
    assert result.returncode == 6
    assert "enrolled 1 new" in result.stderr


def test_match_against_an_unreachable_store_fails_cleanly(tmp_path: Path) -> None:
    result = phiwall("match", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none", "--json", str(tmp_path))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "cannot open store" in result.stderr


def test_match_of_one_of_two_identical_videos_lists_both(clinic: Clinic, tmp_path: Path) -> None:
    """A silent excerpt of one of two enrolled videos with the same pictures: `match` names
    neither (null) and lists both under "ambiguous"; the text form says so in one line."""
    pattern = ("-f", "lavfi", "-i", "testsrc2=s=480x360:rate=25", "-an", "-c:v", "libx264", "-preset", "ultrafast")
    long = make(clinic.factory, "cli_twin_long.mp4", *pattern, "-t", "10")
    short = make(clinic.factory, "cli_twin_short.mp4", *pattern, "-t", "7")
    mirrored = ("-vf", "hflip", "-an")
    excerpt = make(clinic.factory, "cli_twin_excerpt.mp4", "-ss", "1", "-t", "4", "-i", str(long), *mirrored)
    db = f"sqlite:///{tmp_path / 'twins.db'}"
    assert phiwall("enroll", "--db", db, str(long), str(short)).returncode == 0
    result = phiwall("match", "--db", db, "--json", str(excerpt))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["match"] is None
    ambiguous = answer["ambiguous"]
    assert {entry["path"] for entry in ambiguous["assets"]} == {str(long), str(short)}
    assert ambiguous["kind"] == "video"
    assert 0 < ambiguous["score"] <= 1
    text = phiwall("match", "--db", db, str(excerpt))
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"AMBIGUOUS  {excerpt}  ->  one of ")
    assert str(long) in text.stdout
    assert str(short) in text.stdout
