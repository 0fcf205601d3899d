"""A real watcher on real folders: real store, real media service, real event writer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.store import EventWriter, Store
from agent.watch import FolderWatcher

QUIET_S = 0.5  # short in tests; recorders in the field get watch.quiet_seconds (10 s)


@pytest.fixture
def media_service(store: Store) -> Any:
    try:
        from agent.media import MediaService
    except ImportError:
        pytest.skip("agent.media.MediaService has not landed yet")
    return MediaService(store, agent_id="ws-test")


@pytest.fixture
def event_writer(store: Store) -> Iterator[EventWriter]:
    writer = EventWriter(store)
    writer.start()
    yield writer
    writer.stop()


WatcherFactory = Callable[..., FolderWatcher]


@pytest.fixture
def make_watcher(store: Store, media_service: Any, event_writer: EventWriter) -> Iterator[WatcherFactory]:
    started: list[FolderWatcher] = []

    def make(folders: list[Path], **options: Any) -> FolderWatcher:
        options.setdefault("quiet_s", QUIET_S)
        options.setdefault("tick_s", 0.1)
        watcher = FolderWatcher(
            store,
            folders,
            media=options.pop("media", media_service),
            events=event_writer,
            agent_id="ws-test",
            **options,
        )
        watcher.start()
        started.append(watcher)
        return watcher

    yield make
    for watcher in started:
        watcher.stop()
