"""Translating watchdog's file-system events into the watcher's few actions.

Only names matter here: what to do with a created, modified, closed, moved or deleted path.
The watcher decides everything else (debounce, enrolment) from what it sees on disk.
"""

from __future__ import annotations

import os
from typing import Protocol

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)

from agent.watch.names import is_partial_name, is_skipped_dir

WATCHED_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    DirDeletedEvent,
]


class Reactions(Protocol):
    def file_changed(self, path: str) -> None: ...
    def file_moved(self, src: str, dest: str) -> None: ...
    def file_deleted(self, path: str) -> None: ...
    def dir_appeared(self, path: str) -> None: ...
    def dir_deleted(self, path: str) -> None: ...


def _text(path: bytes | str) -> str:
    return os.fsdecode(path)


def _hidden(path: str) -> bool:
    return any(is_skipped_dir(part) for part in path.split(os.sep)[:-1] if part)


class FolderEvents(FileSystemEventHandler):
    """Watchdog handler: filters work-in-progress names, forwards the rest to `Reactions`."""

    def __init__(self, reactions: Reactions) -> None:
        self._reactions = reactions

    def _wanted(self, path: str) -> bool:
        return not is_partial_name(os.path.basename(path)) and not _hidden(path)

    def on_any_event(self, event: FileSystemEvent) -> None:
        src = _text(event.src_path)
        if isinstance(event, FileMovedEvent):
            dest = _text(event.dest_path)
            if self._wanted(src) and self._wanted(dest):
                self._reactions.file_moved(src, dest)
            elif self._wanted(dest):  # renamed into place: a new complete file
                self._reactions.file_changed(dest)
            elif self._wanted(src):
                self._reactions.file_deleted(src)
        elif isinstance(event, FileCreatedEvent | FileModifiedEvent | FileClosedEvent):
            if self._wanted(src):
                self._reactions.file_changed(src)
        elif isinstance(event, FileDeletedEvent):
            if self._wanted(src):
                self._reactions.file_deleted(src)
        elif isinstance(event, DirMovedEvent):
            self._reactions.dir_deleted(src)
            self._reactions.dir_appeared(_text(event.dest_path))
        elif isinstance(event, DirCreatedEvent):
            self._reactions.dir_appeared(src)
        elif isinstance(event, DirDeletedEvent):
            self._reactions.dir_deleted(src)
