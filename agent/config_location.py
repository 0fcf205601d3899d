"""Which config file applies, and a quick look at where it puts the store (no pydantic).

`agent.config` validates the whole file with pydantic, which takes a noticeable part of a
second to import. `phiwall console` reads only the store URL and data dir here, so it paints
before pydantic loads, and validates the whole file right after its first frame.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from agent import paths
from agent.environment import environment


def config_path(explicit: Path | str | None = None) -> tuple[Path, bool]:
    """Return the config path to read and whether it was named explicitly (so must exist)."""
    if explicit:
        return Path(explicit).expanduser(), True
    env = environment().config
    if env is not None:
        return env.expanduser(), True
    return paths.default_config_file(), False


def peek_store(explicit: Path | str | None, db_url: str | None) -> tuple[str, Path] | None:
    """(store URL, data dir) as `agent.config.Config` would give them, or None when unsure.

    None (read the file with `agent.config` instead) for anything unusual: a file that cannot
    be read or parsed, or values that are not plain strings. A file that is otherwise invalid
    still gives an answer here; the full validation must follow.
    """
    path, must_exist = config_path(explicit)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if must_exist:
            return None
        raw = {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    agent, store = raw.get("agent", {}), raw.get("store", {})
    if not isinstance(agent, dict) or not isinstance(store, dict):
        return None
    data_dir_value, url_value = agent.get("data_dir"), store.get("url")
    if not isinstance(data_dir_value, str | None) or not isinstance(url_value, str | None):
        return None
    if data_dir_value == "":
        return None
    data_dir = Path(data_dir_value).expanduser() if data_dir_value else paths.default_data_dir()
    for candidate in (db_url, environment().db, url_value):
        if candidate:
            return candidate, data_dir
    return f"sqlite:///{data_dir / 'phiwall.db'}", data_dir
