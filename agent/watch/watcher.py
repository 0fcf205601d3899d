"""`FolderWatcher`: clinical folders in, enrolled fingerprints out, by itself.

Three kinds of threads, each with one job:

- watchdog observers (inotify; polling for network shares, or when inotify is refused or its
  watch limit is hit) report changes, which only mark files pending;
- the tick thread scans folders (at start, and when a folder comes back), checks that folders
  still exist, hands complete files (stability.py) to the queue, and applies retention;
- one enrolment worker sniffs each file and fingerprints media through the media service.
  One, because decoding is CPU-bound and the proxy on the same workstation needs CPU too.

The queue between tick and worker is bounded: a burst of thousands of files waits in the
pending set (a dict of paths), not in memory-hungry work items. Unchanged files are skipped
across restarts by `watched_file` (ledger.py). Deleting a file never forgets its prints;
retention does, `retention_days` after the last copy disappeared.

Paths may name patients: they go into `watched_file` only. Logs carry counts; events (kind
"watcher") only what analysts act on: a folder gone or back, a clinical file that could not
be fingerprinted (identified by the SHA-256 of its path, the path itself is in watched_file).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from agent.components import Health
from agent.store import EventWriter, Store, StoreUnavailable, describe_db_error, make_event, utcnow
from agent.watch import ledger
from agent.watch.handler import WATCHED_EVENTS, FolderEvents
from agent.watch.scan import walk_files
from agent.watch.stability import PendingFiles

log = logging.getLogger(__name__)

FOLDER_CHECK_S = 2.0
RETENTION_CHECK_S = 3600.0
STORE_RETRY_S = 5.0
HANDOVER_BATCH = 256
# The store failing (locked, full, unreachable), not a file: the file stays pending, retried later.
# The watcher's own queries raise SQLAlchemyError; the media service reports StoreUnavailable.
STORE_FAILURES = (SQLAlchemyError, StoreUnavailable)


class MediaEnroller(Protocol):
    """What the watcher needs of `agent.media.MediaService`."""

    def enroll_path(self, path: Path) -> Any: ...  # EnrollOutcome: asset_id, kind, new, error

    def forget(self, asset_id: str) -> None: ...


Sniffer = Callable[[Path], Any]  # agent.media.sniff_path: Sniffed(mime, kind)


@dataclass
class WatchStats:
    scanned: int = 0
    unchanged: int = 0
    enrolled: int = 0
    duplicates: int = 0
    skipped: int = 0
    errors: int = 0
    deleted: int = 0
    forgotten: int = 0
    unreadable_dirs: int = 0
    store_errors: int = 0
    last_store_error: str | None = None


@dataclass
class _Folder:
    path: str
    present: bool = False
    watch: ObservedWatch | None = None
    observer: BaseObserver | None = None
    scanned: bool = False
    reported_missing: bool = False


def path_digest(path: str) -> str:
    """How events name a file: a hash analysts can look up in watched_file, not the path."""
    return hashlib.sha256(os.fsencode(path)).hexdigest()


def without_path(message: str, path: str) -> str:
    """Decoder messages often quote the file name, which can name a patient: cut it out."""
    for part in (path, os.path.dirname(path), os.path.basename(path)):
        if part and part != os.sep:
            message = message.replace(part, "<file>")
    return message


class FolderWatcher:
    """Watch clinical folders recursively and keep their media enrolled."""

    name = "watcher"

    def __init__(
        self,
        store: Store,
        folders: list[Path],
        *,
        media: MediaEnroller,
        sniff: Sniffer | None = None,
        events: EventWriter | None = None,
        agent_id: str = "",
        poll: bool = False,
        quiet_s: float = 10.0,
        retention_days: int = 0,
        tick_s: float = 0.5,
        poll_interval_s: float = 5.0,
        queue_size: int = 64,
    ) -> None:
        self.store = store
        self.media = media
        self.events = events
        self.agent_id = agent_id
        self.poll = poll
        self.retention_days = retention_days
        self.tick_s = tick_s
        self.poll_interval_s = poll_interval_s
        self._sniff = sniff
        self.folders = [_Folder(os.path.abspath(os.path.expanduser(str(f)))) for f in folders]
        self.pending = PendingFiles(quiet_s)
        self.stats = WatchStats()
        self._queue: queue.Queue[tuple[str, os.stat_result] | None] = queue.Queue(queue_size)
        self._stop = threading.Event()
        self._busy = threading.Event()
        self._checked = threading.Event()  # folders looked at once (wait_idle must not race the start)
        self._inotify: BaseObserver | None = None
        self._polling: BaseObserver | None = None
        self.fallback_reason: str | None = None
        self._handler = FolderEvents(self)
        self._threads: list[threading.Thread] = []
        self._last_retention = 0.0

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._sniff is None:
            from agent.media.sniff import sniff_path

            self._sniff = sniff_path
        if not self.poll:
            try:
                self._inotify = Observer()
                self._inotify.start()
            except OSError as exc:  # no inotify instance left (fs.inotify.max_user_instances)
                self._use_polling_because(f"inotify unavailable: {exc.strerror}")
                self._inotify = None
        for target, name in ((self._tick_loop, "phiwall-watch-tick"), (self._work_loop, "phiwall-watch-enrol")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        for observer in (self._inotify, self._polling):
            if observer is not None:
                observer.stop()
        for observer in (self._inotify, self._polling):
            if observer is not None and observer.is_alive():
                observer.join(timeout)
        for thread in self._threads:
            thread.join(timeout)

    def wait_idle(self, timeout: float) -> bool:
        """True once every present folder was scanned and nothing is pending, queued or enrolling."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            scanned = self._checked.is_set() and all(f.scanned or not f.present for f in self.folders)
            if scanned and not len(self.pending) and self._queue.empty() and not self._busy.is_set():
                return True
            time.sleep(0.05)
        return False

    # -- observers ----------------------------------------------------------------------------
    def _use_polling_because(self, reason: str) -> BaseObserver:
        if self._polling is None:
            self._polling = PollingObserver(timeout=self.poll_interval_s)
            self._polling.start()
        if reason and self.fallback_reason is None:
            self.fallback_reason = reason
            log.warning("watcher falls back to polling: %s", reason)
        return self._polling

    def _schedule(self, folder: _Folder) -> None:
        observer = self._inotify if self._inotify is not None else self._use_polling_because("")
        try:
            folder.watch = observer.schedule(self._handler, folder.path, recursive=True, event_filter=WATCHED_EVENTS)
            folder.observer = observer
            return
        except OSError as exc:
            if observer is self._polling:
                raise
            limit = exc.errno in (errno.ENOSPC, errno.EMFILE)
            reason = "inotify watch limit reached (fs.inotify.max_user_watches)" if limit else str(exc.strerror)
        polling = self._use_polling_because(reason)
        folder.watch = polling.schedule(self._handler, folder.path, recursive=True, event_filter=WATCHED_EVENTS)
        folder.observer = polling

    def _unschedule(self, folder: _Folder) -> None:
        if folder.observer is not None and folder.watch is not None:
            with contextlib.suppress(KeyError, OSError):
                folder.observer.unschedule(folder.watch)
        folder.watch = folder.observer = None

    # -- reactions to file-system events (called from observer threads) ------------------------
    def file_changed(self, path: str) -> None:
        self.pending.touch(path)

    def file_moved(self, src: str, dest: str) -> None:
        self.pending.discard(src)
        try:
            st = os.stat(dest)
            if ledger.carry_over(self.store, src, dest, st):
                return
        except OSError:
            return
        except STORE_FAILURES as exc:
            self._store_failed(exc)
        self.pending.touch(dest)

    def file_deleted(self, path: str) -> None:
        self.pending.discard(path)
        try:
            self.stats.deleted += ledger.mark_deleted(self.store, path)
        except STORE_FAILURES as exc:
            self._store_failed(exc)

    def dir_appeared(self, path: str) -> None:
        # A folder moved or copied in: its files may never get their own events.
        for file_path, st in walk_files(path, self._unreadable):
            self.pending.touch(file_path, st if self._old_enough(st) else None)

    def dir_deleted(self, path: str) -> None:
        self.pending.discard_under(path)
        try:
            self.stats.deleted += ledger.mark_deleted(self.store, path, directory=True)
        except STORE_FAILURES as exc:
            self._store_failed(exc)

    # -- the tick thread --------------------------------------------------------------------------
    def _tick_loop(self) -> None:
        last_folder_check = -FOLDER_CHECK_S
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                if now - last_folder_check >= FOLDER_CHECK_S:
                    last_folder_check = now
                    self._check_folders()
                self._hand_over_due_files()
                if self.retention_days and now - self._last_retention >= RETENTION_CHECK_S:
                    self._last_retention = now
                    self.apply_retention()
            except STORE_FAILURES as exc:
                self._store_failed(exc)
                self._stop.wait(STORE_RETRY_S)
            except Exception:  # the watcher must outlive a bug in one tick
                log.exception("watcher tick failed")
            self._stop.wait(self.tick_s)

    def _check_folders(self) -> None:
        for folder in self.folders:
            present = os.path.isdir(folder.path) and os.access(folder.path, os.R_OK | os.X_OK)
            if present and not folder.present:
                folder.present = True
                if folder.reported_missing:
                    folder.reported_missing = False
                    log.info("clinical folder %s is back", folder.path)
                    self._event("clinical folder available again", folder=folder.path)
                self._schedule(folder)
                self.scan(folder)
            elif not present and (folder.present or not folder.reported_missing):
                why = "missing" if not os.path.exists(folder.path) else "not readable by the agent"
                log.warning("clinical folder %s is %s", folder.path, why)
                self._event(f"clinical folder {why}: not watched until it is back", folder=folder.path)
                folder.reported_missing = True
                folder.present = False
                self._unschedule(folder)
        self._checked.set()

    def scan(self, folder: _Folder) -> None:
        """Compare the folder with what the ledger knows: new or changed files go pending."""
        started = time.monotonic()
        known = ledger.known_files(self.store, folder.path)
        found = 0
        unchanged = 0
        seen: set[str] = set()
        for path, st in walk_files(folder.path, self._unreadable):
            found += 1
            seen.add(path)
            before = known.get(path)
            if (
                before
                and before.status in ledger.SETTLED
                and (before.size, before.mtime_ns)
                == (
                    st.st_size,
                    st.st_mtime_ns,
                )
            ):
                unchanged += 1
                continue
            self.pending.touch(path, st if self._old_enough(st) else None)
        if os.path.isdir(folder.path):  # deleted while the agent was not running
            for path, entry in known.items():
                if path not in seen and entry.status not in ("deleted", "forgotten"):
                    self.stats.deleted += ledger.mark_deleted(self.store, path)
        self.stats.scanned += found
        self.stats.unchanged += unchanged
        folder.scanned = True
        log.info(
            "scanned clinical folder %s: %d files, %d unchanged, %d pending (%.2f s)",
            folder.path,
            found,
            unchanged,
            len(self.pending),
            time.monotonic() - started,
        )

    def _old_enough(self, st: os.stat_result) -> bool:
        return time.time_ns() - st.st_mtime_ns > self.pending.quiet_s * 1e9

    def _unreadable(self, path: str, exc: OSError) -> None:
        self.stats.unreadable_dirs += 1
        log.warning("cannot read a directory in a clinical folder: %s", exc.strerror)

    def _hand_over_due_files(self) -> None:
        """Feed complete files to the worker at its pace, surfacing now and then for folder checks."""
        deadline = time.monotonic() + FOLDER_CHECK_S
        while not self._stop.is_set():
            due = self.pending.due(limit=HANDOVER_BATCH)
            if not due:
                return
            for i, (path, st) in enumerate(due):
                while True:
                    try:
                        self._queue.put((path, st), timeout=0.2)
                        break
                    except queue.Full:
                        if self._stop.is_set() or time.monotonic() >= deadline:
                            for waiting, waiting_st in due[i:]:
                                self.pending.touch(waiting, waiting_st)  # first in line next time
                            return

    # -- the enrolment worker -----------------------------------------------------------------------
    def _work_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self._stop.is_set():
                return
            self._busy.set()
            try:
                self.enroll(*item)
            except STORE_FAILURES as exc:
                self._store_failed(exc)
                self.pending.touch(item[0])  # the disk may be full: try again later
                self._stop.wait(STORE_RETRY_S)
            except Exception:
                log.exception("enrolment worker failed on one file")
            finally:
                self._busy.clear()

    def enroll(self, path: str, st: os.stat_result) -> None:
        """Sniff one complete file and enrol it when it is media; record the outcome."""
        assert self._sniff is not None
        try:
            sniffed = self._sniff(Path(path))
        except OSError as exc:
            self._file_failed(path, st, f"cannot read: {exc.strerror or exc}")
            return
        if sniffed.kind is None:
            ledger.save(self.store, path, st, "skipped", error=sniffed.mime)
            self.stats.skipped += 1
            return
        outcome = self.media.enroll_path(Path(path))
        if outcome.store_failed:
            # Not the file's fault (locked or full store): keep it pending, report the store.
            raise StoreUnavailable(outcome.error or "store unavailable")
        if outcome.error:
            self._file_failed(path, st, str(outcome.error), mime=sniffed.mime)
            return
        try:
            after = os.stat(path)
        except OSError:
            after = None
        if after is None or (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            self.pending.touch(path)  # written to while we read it: the new content is enrolled next
        ledger.save(self.store, path, st, "enrolled", asset_id=outcome.asset_id)
        if outcome.new:
            self.stats.enrolled += 1
        else:
            self.stats.duplicates += 1
        self._store_recovered()

    def _file_failed(self, path: str, st: os.stat_result, error: str, mime: str | None = None) -> None:
        self.stats.errors += 1
        ledger.save(self.store, path, st, "error", error=error[:500])
        self._event(
            "a clinical file could not be fingerprinted: " + without_path(error, path)[:200],
            path_sha256=path_digest(path),
            size=st.st_size,
            mime=mime,
        )

    # -- retention -------------------------------------------------------------------------------------
    def apply_retention(self) -> int:
        """Forget prints of assets whose last watched copy was deleted `retention_days` ago."""
        if not self.retention_days:
            return 0
        cutoff = utcnow() - timedelta(days=self.retention_days)
        forgotten = 0
        for asset_id in ledger.expired_assets(self.store, cutoff):
            self.media.forget(asset_id)
            ledger.mark_forgotten(self.store, asset_id)
            forgotten += 1
        if forgotten:
            self.stats.forgotten += forgotten
            log.info("retention: forgot %d assets deleted more than %d days ago", forgotten, self.retention_days)
        return forgotten

    # -- health and events --------------------------------------------------------------------------------
    def _store_failed(self, exc: Exception) -> None:
        self.stats.store_errors += 1
        self.stats.last_store_error = describe_db_error(exc)
        log.error("watcher cannot write the store: %s", self.stats.last_store_error)

    def _store_recovered(self) -> None:
        self.stats.last_store_error = None

    def _event(self, reason: str, **details: object) -> None:
        if self.events is None:
            return
        self.events.submit(
            make_event(
                agent_id=self.agent_id,
                kind="watcher",
                verdict="info",
                reason=reason,
                details={k: v for k, v in details.items() if v is not None},
            )
        )

    def health(self) -> Health:
        s = self.stats
        mode = "polling" if self._inotify is None else "inotify"
        if self._polling is not None and self._inotify is not None:
            mode = "inotify + polling"
        summary = (
            f"{len(self.folders)} folders ({mode}); {s.enrolled} enrolled, {s.duplicates} duplicates, "
            f"{s.skipped} not media, {s.errors} errors, {s.unchanged} unchanged; "
            f"{len(self.pending)} pending, {self._queue.qsize()} queued{', enrolling' if self._busy.is_set() else ''}"
        )
        missing = [i for i, f in enumerate(self.folders) if not f.present]
        if self.folders and len(missing) == len(self.folders):
            return Health("down", f"no clinical folder is available; {summary}")
        problems = []
        if missing:
            problems.append(f"folders {missing} unavailable")
        if s.last_store_error:
            problems.append(f"store write failing ({s.last_store_error})")
        if self.fallback_reason:
            summary += f"; polling because {self.fallback_reason}"
        if problems:
            return Health("degraded", "; ".join(problems) + f"; {summary}")
        return Health("ok", summary)
