"""Deciding when a file is complete: unchanged for a quiet period and not open for writing.

A dictation recorder can write one file for many minutes with pauses; a copy over a slow
share arrives in bursts. A file is due for enrolment when its size and mtime have not changed
for `quiet_s` (monotonic time, so wall-clock jumps do not matter) and, where the kernel can
tell cheaply, no process has it open for writing: on Linux a read lease (F_SETLEASE) is
refused with EAGAIN while any writer holds the file open. The lease needs the file's owner
or CAP_LEASE (granted to the agent's systemd unit); without it the quiet period decides alone.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no leases, so whether a writer holds a file is unknown
    fcntl = None  # type: ignore[assignment]

_F_SETLEASE = getattr(fcntl, "F_SETLEASE", 1024)
_F_RDLCK = getattr(fcntl, "F_RDLCK", 0)
_F_UNLCK = getattr(fcntl, "F_UNLCK", 2)


def open_for_writing(path: Path) -> bool | None:
    """True when some process has `path` open for writing, False when none does, None if unknown."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    if fcntl is None:
        os.close(fd)
        return None
    try:
        fcntl.fcntl(fd, _F_SETLEASE, _F_RDLCK)
    except OSError as exc:
        # EAGAIN/EBUSY: a writer holds it open. EACCES/EPERM: not our file and no CAP_LEASE.
        # EINVAL: the filesystem has no leases (NFS, SMB, FUSE).
        return True if exc.errno in (errno.EAGAIN, errno.EBUSY) else None
    else:
        fcntl.fcntl(fd, _F_SETLEASE, _F_UNLCK)
        return False
    finally:
        os.close(fd)


@dataclass
class _Pending:
    size: int  # -1 until first looked at
    mtime_ns: int
    stable_since: float  # monotonic time these (size, mtime) were first seen


class PendingFiles:
    """Files seen changing, waiting for their quiet period; thread-safe.

    Each file is stat'ed when first looked at and then about once per quiet period (change
    events restart it via `touch`), so thousands of pending files cost little per tick.
    """

    def __init__(self, quiet_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet_s = quiet_s
        self._clock = clock
        self._lock = threading.Lock()
        self._files: dict[str, _Pending] = {}

    def __len__(self) -> int:
        return len(self._files)

    def __contains__(self, path: object) -> bool:
        return path in self._files

    def touch(self, path: str, stat: os.stat_result | None = None) -> None:
        """`path` changed: (re)start its quiet period.

        With `stat` (a file found by a scan, already unchanged that long since its mtime),
        the file is due as soon as a fresh look confirms that stat.
        """
        now = self._clock()
        with self._lock:
            if stat is None:
                self._files[path] = _Pending(size=-1, mtime_ns=-1, stable_since=now)
            else:
                self._files[path] = _Pending(stat.st_size, stat.st_mtime_ns, now - self.quiet_s)

    def discard(self, path: str) -> None:
        with self._lock:
            self._files.pop(path, None)

    def discard_under(self, directory: str) -> None:
        prefix = directory.rstrip(os.sep) + os.sep
        with self._lock:
            for path in [p for p in self._files if p.startswith(prefix)]:
                del self._files[path]

    def due(self, limit: int = 1000) -> list[tuple[str, os.stat_result]]:
        """Up to `limit` files that are complete now; they leave the pending set.

        A file that vanished is dropped; one whose size or mtime moved starts its quiet period
        again; one still open for writing waits another period.
        """
        now = self._clock()
        with self._lock:
            candidates = [
                (path, entry)
                for path, entry in self._files.items()
                if entry.size < 0 or now - entry.stable_since >= self.quiet_s
            ]
        ready: list[tuple[str, os.stat_result]] = []
        for path, entry in candidates:
            if len(ready) >= limit:
                break
            try:
                st = os.stat(path)
            except OSError:
                with self._lock:
                    if self._files.get(path) is entry:
                        del self._files[path]
                continue
            with self._lock:
                if self._files.get(path) is not entry:
                    continue  # touched meanwhile: the new entry decides
                if (st.st_size, st.st_mtime_ns) != (entry.size, entry.mtime_ns):
                    entry.size, entry.mtime_ns, entry.stable_since = st.st_size, st.st_mtime_ns, now
                    continue
            if open_for_writing(Path(path)):
                with self._lock:
                    entry.stable_since = now
                continue
            with self._lock:
                if self._files.get(path) is entry:
                    del self._files[path]
                    ready.append((path, st))
        return ready
