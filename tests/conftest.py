"""Shared fixtures: every test runs with its own data dir, config and store.

Nothing a test does may touch the real user's ~/.config/phiwall or ~/.local/share/phiwall.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.store import Store, open_store

pytest_plugins = ["tests.support.postgres", "tests.support.media"]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point data dir and config at the test's tmp dir; clear store overrides."""
    data_dir = tmp_path / "phiwall-data"
    monkeypatch.setenv("PHIWALL_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PHIWALL_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("PHIWALL_DB", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    # An explicitly named but missing config is an error; tests that want defaults unset it.
    monkeypatch.delenv("PHIWALL_CONFIG")
    return data_dir


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A fresh, migrated SQLite store."""
    opened = open_store(store_url)
    yield opened
    opened.dispose()
