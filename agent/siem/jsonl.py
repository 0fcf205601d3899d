"""A JSON-lines file for log shippers (Splunk universal forwarder, Elastic Agent), rotated by size.

Rotation renames `siem.jsonl` to `siem.jsonl.1` (and `.1` to `.2`, ...) and starts a new
file, the pattern both shippers follow by inode without losing or re-reading lines. Each
batch is appended, flushed and fsynced before the outbox moves on; a batch that fails half
way is cut back to the last whole line, so a retry never leaves a broken line. (The
standard library's RotatingFileHandler is not used: it reports write errors to stderr
instead of raising, which would lose records silently.)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from agent.siem.sender import DeliveryError


class RotatingJsonLines:
    def __init__(self, path: Path, *, max_bytes: int, backups: int, mode: int = 0o640) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.mode = mode

    @property
    def address(self) -> str:
        return f"file://{self.path}"

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def _rotate(self) -> None:
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
            return
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))

    def _append(self, data: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, self.mode)
        try:
            before = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, before)
                raise
        finally:
            os.close(fd)

    def deliver(self, lines: Sequence[str]) -> None:
        """Append `lines` (one record each, no newline inside), rotating when the file is full."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            size = self._size()
            chunk: list[bytes] = []
            chunk_size = 0
            for line in lines:
                data = line.encode("utf-8") + b"\n"
                if size + chunk_size + len(data) > self.max_bytes and size + chunk_size > 0:
                    if chunk:
                        self._append(b"".join(chunk))
                    chunk, chunk_size = [], 0
                    self._rotate()
                    size = 0
                chunk.append(data)
                chunk_size += len(data)
            if chunk:
                self._append(b"".join(chunk))
        except OSError as exc:
            raise DeliveryError(f"{self.address}: cannot write: {exc.strerror or exc}") from None

    def probe(self) -> None:
        directory = self.path.parent
        if not directory.exists():
            directory = directory.parent if directory.parent.exists() else directory
        if not os.access(directory, os.W_OK | os.X_OK):
            raise DeliveryError(f"{self.address}: {directory} is not writable")
