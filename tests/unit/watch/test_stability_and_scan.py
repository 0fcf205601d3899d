"""Debounce, open-for-writing detection, names and folder walking on real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.watch.names import is_partial_name
from agent.watch.scan import walk_files
from agent.watch.stability import PendingFiles, open_for_writing


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("name", "partial"),
    [
        ("dictation.wav", False),
        ("Visit 12.mp4", False),
        ("dictation.wav.part", True),
        ("video.mp4.crdownload", True),
        ("~$report.docx", True),
        (".hidden.wav", True),
        ("upload.TMP", True),
        ("notes.txt~", True),
    ],
)
def test_partial_names(name: str, partial: bool) -> None:
    assert is_partial_name(name) is partial


def test_a_file_is_due_only_after_a_quiet_period_without_changes(tmp_path: Path) -> None:
    clock = Clock()
    pending = PendingFiles(quiet_s=5.0, clock=clock)
    path = tmp_path / "rec.wav"
    path.write_bytes(b"x" * 100)
    pending.touch(str(path))
    assert pending.due() == []  # first look records size and mtime
    clock.now += 4.0
    assert pending.due() == []
    with path.open("ab") as fh:  # the recorder writes again: the period restarts
        fh.write(b"y" * 100)
    clock.now += 1.5
    assert pending.due() == []
    clock.now += 4.0
    assert pending.due() == []
    clock.now += 1.1
    ready = pending.due()
    assert [(p, st.st_size) for p, st in ready] == [(str(path), 200)]
    assert len(pending) == 0


def test_vanished_files_are_dropped_and_scanned_old_files_are_due_at_once(tmp_path: Path) -> None:
    clock = Clock()
    pending = PendingFiles(quiet_s=5.0, clock=clock)
    gone = tmp_path / "gone.wav"
    gone.write_bytes(b"1")
    old = tmp_path / "old.wav"
    old.write_bytes(b"2")
    pending.touch(str(gone))
    pending.touch(str(old), os.stat(old))
    gone.unlink()
    assert [p for p, _ in pending.due()] == [str(old)]
    assert len(pending) == 0


def test_open_for_writing_is_seen_through_a_lease(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    path.write_bytes(b"data")
    with path.open("ab"):
        held = open_for_writing(path)
    released = open_for_writing(path)
    if held is None:
        pytest.skip("no file leases here (filesystem or capability)")
    assert held is True
    assert released is False


def test_a_file_still_open_for_writing_waits(tmp_path: Path) -> None:
    clock = Clock()
    pending = PendingFiles(quiet_s=1.0, clock=clock)
    path = tmp_path / "rec.wav"
    path.write_bytes(b"data")
    if open_for_writing(path) is None:
        pytest.skip("no file leases here")
    with path.open("ab"):
        pending.touch(str(path), os.stat(path))
        assert pending.due() == []
        clock.now += 2.0
        assert pending.due() == []
    clock.now += 1.1
    assert [p for p, _ in pending.due()] == [str(path)]


def test_walk_skips_partial_and_hidden_and_survives_symlink_loops(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".Trash-0").mkdir()
    (tmp_path / "a" / "one.wav").write_bytes(b"1")
    (tmp_path / "a" / "b" / "two.wav").write_bytes(b"2")
    (tmp_path / "a" / "b" / "three.wav.part").write_bytes(b"3")
    (tmp_path / ".Trash-0" / "deleted.wav").write_bytes(b"4")
    (tmp_path / "a" / "b" / "loop").symlink_to(tmp_path / "a")  # a directory loop
    (tmp_path / "self").symlink_to(tmp_path / "self")  # ELOOP
    outside = tmp_path.parent / f"{tmp_path.name}-outside.wav"
    outside.write_bytes(b"5")
    (tmp_path / "link.wav").symlink_to(outside)  # file symlinks are followed
    errors: list[str] = []
    found = {
        os.path.relpath(p, tmp_path): st.st_size for p, st in walk_files(str(tmp_path), lambda p, e: errors.append(p))
    }
    assert found == {"a/one.wav": 1, "a/b/two.wav": 1, "link.wav": 1}
    assert errors == []


def test_walk_reports_a_missing_folder(tmp_path: Path) -> None:
    errors: list[str] = []
    assert list(walk_files(str(tmp_path / "nope"), lambda p, e: errors.append(p))) == []
    assert errors == [str(tmp_path / "nope")]
