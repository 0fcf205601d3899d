"""The watcher and fleet link as `phiwall run` builds them from the configuration."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

from sqlmodel import select

from agent.components import AgentContext
from agent.config import Config, StoreSection, WatchSection
from agent.fleet.component import build as build_fleet
from agent.store import EventWriter, Store, WatchedFile
from agent.watch.component import build as build_watcher
from tests.support.media import MediaFactory


def context(store: Store, config: Config, data_dir: Path) -> AgentContext:
    return AgentContext(
        config=config,
        store=store,
        agent_id="ws-run",
        data_dir=data_dir,
        listen="127.0.0.1:0",
        events=EventWriter(store),
        stopping=threading.Event(),
    )


def test_nothing_is_built_without_folders_or_fleet(store: Store, tmp_path: Path) -> None:
    ctx = context(store, Config(), tmp_path)
    assert build_watcher(ctx) is None
    assert build_fleet(ctx) is None
    same = context(store, Config(store=StoreSection(fleet_url=store.url)), tmp_path)
    assert build_fleet(same) is None  # the store already is the fleet store


def test_configured_folders_are_watched_with_the_configured_quiet_period(
    store: Store, tmp_path: Path, media_factory: MediaFactory
) -> None:
    folder = tmp_path / "dictations"
    folder.mkdir()
    config = Config(watch=WatchSection(folders=[folder], quiet_seconds=0.3))
    watcher = build_watcher(context(store, config, tmp_path))
    assert watcher is not None
    assert watcher.pending.quiet_s == 0.3
    watcher.start()
    try:
        shutil.copyfile(media_factory.speech("Component test dictation, clinic note."), folder / "a.wav")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with store.session() as session:
                if session.exec(select(WatchedFile).where(WatchedFile.status == "enrolled")).first():
                    break
            time.sleep(0.05)
        else:
            raise AssertionError(f"not enrolled: {watcher.health()}")
        assert watcher.health().status == "ok"
    finally:
        watcher.stop()
