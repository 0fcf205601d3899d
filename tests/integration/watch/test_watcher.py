"""The folder watcher on real files: slow writers, renames into place, deletes, restarts,
thousands of files, folders that disappear, network-share polling, a full disk."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from agent.store import Event, EventWriter, MediaAsset, MediaPrint, Store, WatchedFile, open_store, utcnow
from agent.watch import FolderWatcher
from tests.integration.watch.conftest import QUIET_S, WatcherFactory
from tests.support.media import MediaFactory


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def rows(store: Store) -> dict[str, WatchedFile]:
    with store.session() as session:
        return {row.path: row for row in session.exec(select(WatchedFile)).all()}


def watcher_events(store: Store, writer: EventWriter) -> list[Event]:
    writer.flush()
    with store.session() as session:
        return list(session.exec(select(Event).where(Event.kind == "watcher")).all())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def recording(media_factory: MediaFactory) -> Path:
    return media_factory.speech("Dictation for the watcher tests. Patient reviewed in the ward this morning.")


def test_slow_writer_is_enrolled_once_complete(
    tmp_path: Path, store: Store, make_watcher: WatcherFactory, recording: Path
) -> None:
    folder = tmp_path / "dictations"
    folder.mkdir()
    watcher = make_watcher([folder])
    assert watcher.wait_idle(10)
    data = recording.read_bytes()
    target = folder / "slow.wav"
    chunks = [data[i : i + len(data) // 6 + 1] for i in range(0, len(data), len(data) // 6 + 1)]
    with target.open("wb") as fh:  # a recorder writing for longer than the quiet period, with pauses
        for chunk in chunks:
            fh.write(chunk)
            fh.flush()
            time.sleep(QUIET_S * 0.6)
            assert str(target) not in rows(store)
        time.sleep(QUIET_S * 1.5)  # paused longer than the quiet period, but still open
        assert str(target) not in rows(store)
    wait_for(lambda: str(target) in rows(store), 15, "the completed recording to be enrolled")
    assert watcher.wait_idle(15)
    row = rows(store)[str(target)]
    assert (row.status, row.asset_id) == ("enrolled", sha256(target))
    assert watcher.stats.enrolled == 1


def test_rename_into_place_and_moves_and_deletes(
    tmp_path: Path, store: Store, make_watcher: WatcherFactory, recording: Path
) -> None:
    folder = tmp_path / "dictations"
    folder.mkdir()
    watcher = make_watcher([folder])
    assert watcher.wait_idle(10)
    partial = folder / "visit.wav.part"
    shutil.copyfile(recording, partial)
    time.sleep(QUIET_S * 3)
    assert rows(store) == {}  # work in progress is never enrolled
    final = folder / "visit.wav"
    partial.rename(final)
    wait_for(lambda: str(final) in rows(store), 15, "the renamed file to be enrolled")
    asset_id = rows(store)[str(final)].asset_id
    assert asset_id == sha256(final)

    moved = folder / "archive" / "visit.wav"
    moved.parent.mkdir()
    final.rename(moved)
    wait_for(lambda: str(moved) in rows(store), 15, "the move to be recorded")
    assert rows(store)[str(final)].status == "deleted"
    assert rows(store)[str(moved)].asset_id == asset_id
    assert watcher.stats.enrolled == 1  # the move did not re-read the file

    moved.unlink()
    wait_for(lambda: rows(store)[str(moved)].status == "deleted", 15, "the delete to be recorded")
    with store.session() as session:  # copies may exist elsewhere: the prints stay
        assert session.get(MediaAsset, asset_id) is not None
        assert session.exec(select(MediaPrint).where(MediaPrint.asset_id == asset_id)).first() is not None


def test_retention_forgets_prints_of_files_deleted_long_ago(
    tmp_path: Path, store: Store, make_watcher: WatcherFactory, recording: Path
) -> None:
    folder = tmp_path / "dictations"
    folder.mkdir()
    shutil.copyfile(recording, folder / "old.wav")
    watcher = make_watcher([folder], retention_days=30)
    assert watcher.wait_idle(20)
    asset_id = rows(store)[str(folder / "old.wav")].asset_id
    (folder / "old.wav").unlink()
    wait_for(lambda: rows(store)[str(folder / "old.wav")].status == "deleted", 15, "the delete")
    assert watcher.apply_retention() == 0  # deleted just now: kept
    with store.session() as session:
        row = session.get(WatchedFile, str(folder / "old.wav"))
        assert row is not None
        row.seen_at = utcnow() - timedelta(days=31)
        session.add(row)
        session.commit()
    assert watcher.apply_retention() == 1
    with store.session() as session:
        assert session.exec(select(MediaPrint).where(MediaPrint.asset_id == asset_id)).first() is None
    assert rows(store)[str(folder / "old.wav")].status == "forgotten"


def test_restart_skips_unchanged_files_and_catches_up_on_changes(
    tmp_path: Path, store: Store, make_watcher: WatcherFactory, recording: Path, media_factory: MediaFactory
) -> None:
    folder = tmp_path / "dictations"
    folder.mkdir()
    for i in range(3):
        shutil.copyfile(recording, folder / f"copy{i}.wav")
    (folder / "notes.txt").write_text("not media")
    first = make_watcher([folder])
    assert first.wait_idle(30)
    assert (first.stats.enrolled, first.stats.duplicates, first.stats.skipped) == (1, 2, 1)
    first.stop()
    # While the agent is down: one file deleted, one new.
    (folder / "copy2.wav").unlink()
    other = media_factory.speech("A second dictation recorded while the agent was stopped.")
    shutil.copyfile(other, folder / "new.wav")
    second = make_watcher([folder])
    assert second.wait_idle(30)
    assert second.stats.unchanged == 3  # copy0, copy1, notes.txt: not read again
    assert (second.stats.enrolled, second.stats.duplicates, second.stats.skipped) == (1, 0, 0)
    assert rows(store)[str(folder / "copy2.wav")].status == "deleted"
    assert rows(store)[str(folder / "new.wav")].asset_id == sha256(folder / "new.wav")


@pytest.mark.slow
def test_thousands_of_files(tmp_path: Path, store: Store, make_watcher: WatcherFactory, recording: Path) -> None:
    folder = tmp_path / "share"
    for d in range(20):
        sub = folder / f"patient-{d:03d}"
        sub.mkdir(parents=True)
        for f in range(100):
            (sub / f"note-{f:03d}.txt").write_text(f"clinical note {d} {f}\n")
    shutil.copyfile(recording, folder / "patient-007" / "dictation.wav")
    watcher = make_watcher([folder], queue_size=256)
    assert watcher.wait_idle(120), watcher.health().message
    assert watcher.stats.scanned == 2001
    assert (watcher.stats.enrolled, watcher.stats.skipped, watcher.stats.errors) == (1, 2000, 0)
    statuses = [row.status for row in rows(store).values()]
    assert statuses.count("skipped") == 2000
    assert watcher.health().status == "ok"


def test_not_media_is_skipped_and_broken_media_is_an_error_event_without_the_path(
    tmp_path: Path,
    store: Store,
    make_watcher: WatcherFactory,
    event_writer: EventWriter,
    recording: Path,
    media_factory: MediaFactory,
) -> None:
    folder = tmp_path / "Patient Jane Doe"
    folder.mkdir()
    (folder / "letter.txt").write_text("Dear colleague")
    encoded = media_factory.encode(recording, ".m4a", "-c:a", "aac", "-b:a", "48k")
    broken = folder / "broken.m4a"
    broken.write_bytes(encoded.read_bytes()[:3000])  # copy cut short: its index (moov) never arrived
    watcher = make_watcher([folder])
    assert watcher.wait_idle(30)
    assert rows(store)[str(folder / "letter.txt")].status == "skipped"
    assert rows(store)[str(broken)].status == "error"
    events = watcher_events(store, event_writer)
    assert len(events) == 1
    assert "could not be fingerprinted" in events[0].reason
    details = json.loads(events[0].details)
    assert details["path_sha256"] == hashlib.sha256(str(broken).encode()).hexdigest()
    assert "Jane" not in events[0].reason + events[0].details


def test_a_folder_that_disappears_and_comes_back(
    tmp_path: Path, store: Store, make_watcher: WatcherFactory, event_writer: EventWriter, recording: Path
) -> None:
    folder = tmp_path / "share" / "dictations"
    folder.mkdir(parents=True)
    watcher = make_watcher([folder])
    assert watcher.wait_idle(10)
    away = tmp_path / "unmounted"
    folder.rename(away)
    wait_for(lambda: watcher.health().status != "ok", 10, "the watcher to notice the folder is gone")
    assert watcher.health().status == "down"
    shutil.copyfile(recording, away / "while-away.wav")
    away.rename(folder)
    wait_for(lambda: str(folder / "while-away.wav") in rows(store), 20, "the file added meanwhile")
    assert watcher.health().status == "ok"
    shutil.copyfile(recording, folder / "after.wav")
    wait_for(lambda: str(folder / "after.wav") in rows(store), 20, "a file added after the folder came back")
    reasons = [e.reason for e in watcher_events(store, event_writer)]
    assert any("missing" in r for r in reasons)
    assert any("available again" in r for r in reasons)


def test_polling_for_network_shares(
    tmp_path: Path, store: Store, make_watcher: WatcherFactory, recording: Path
) -> None:
    folder = tmp_path / "smb"
    folder.mkdir()
    watcher = make_watcher([folder], poll=True, poll_interval_s=0.2)
    assert watcher.wait_idle(10)
    shutil.copyfile(recording, folder / "remote.wav")
    wait_for(lambda: str(folder / "remote.wav") in rows(store), 20, "polling to find the new file")
    assert "polling" in watcher.health().message


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB file system (tmpfs), so the disk can really fill up."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path) -> Path:
    junk = disk / "other-application.log"
    with junk.open("wb") as fh, pytest.raises(OSError, match="No space left") as raised:  # noqa: PT012
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
    assert raised.value.errno == errno.ENOSPC
    return junk


def test_a_full_disk_degrades_health_then_enrolment_resumes(
    tmp_path: Path, small_disk: Path, recording: Path, event_writer: EventWriter
) -> None:
    from agent.media import MediaService

    folder = tmp_path / "dictations"
    folder.mkdir()
    store = open_store(f"sqlite:///{small_disk / 'phiwall.db'}")
    watcher = FolderWatcher(store, [folder], media=MediaService(store), quiet_s=QUIET_S, tick_s=0.1)
    watcher.start()
    try:
        assert watcher.wait_idle(10)
        junk = fill(small_disk)
        shutil.copyfile(recording, folder / "during.wav")
        wait_for(lambda: watcher.stats.last_store_error is not None, 30, "the store error to surface")
        health = watcher.health()
        assert health.status == "degraded"
        assert "full" in health.message
        junk.unlink()  # space freed: nothing was lost, the file is enrolled on the next try
        wait_for(lambda: str(folder / "during.wav") in rows(store), 30, "enrolment to resume")
        wait_for(lambda: watcher.health().status == "ok", 10, "health to recover")
        assert rows(store)[str(folder / "during.wav")].asset_id == sha256(folder / "during.wav")
    finally:
        watcher.stop()
        store.dispose()


def test_a_folder_missing_at_start_is_picked_up_when_it_appears(
    tmp_path: Path,
    store: Store,
    make_watcher: WatcherFactory,
    event_writer: EventWriter,
    recording: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="agent.watch")
    folder = tmp_path / "not-yet-mounted"
    other = tmp_path / "present"
    other.mkdir()
    watcher = make_watcher([folder, other])
    assert watcher.wait_idle(10)
    assert watcher.health().status == "degraded"
    folder.mkdir()
    shutil.copyfile(recording, folder / "late.wav")
    wait_for(lambda: str(folder / "late.wav") in rows(store), 20, "the folder to be scanned once it exists")
    assert watcher.health().status == "ok"
    reasons = [e.reason for e in watcher_events(store, event_writer)]
    assert len([r for r in reasons if "missing" in r]) == 1
    assert len([r for r in reasons if "available again" in r]) == 1
    logged = caplog.text
    assert f"clinical folder {folder} is missing" in logged, "operators see which folder, by path"
    assert f"clinical folder {folder} is back" in logged
    assert f"scanned clinical folder {other}:" in logged


def test_inotify_watch_limit_falls_back_to_polling(
    tmp_path: Path, store: Store, make_watcher: WatcherFactory, recording: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real limit is a machine-wide sysctl shared with every other process here, so the
    # kernel's refusal (what watchdog raises when inotify_add_watch fails) is simulated.
    from watchdog.observers import Observer

    class LimitedInotify(Observer):  # type: ignore[misc,valid-type]
        def schedule(self, *args: object, **kwargs: object) -> object:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr("agent.watch.watcher.Observer", LimitedInotify)
    folder = tmp_path / "big-share"
    folder.mkdir()
    watcher = make_watcher([folder], poll_interval_s=0.2)
    assert watcher.wait_idle(10)
    shutil.copyfile(recording, folder / "found-by-polling.wav")
    wait_for(lambda: str(folder / "found-by-polling.wav") in rows(store), 20, "polling to find the file")
    health = watcher.health()
    assert health.status == "ok"
    assert "polling because inotify watch limit reached" in health.message
