"""Private by mode: the data dir is 0700 and the SQLite store's files are 0600, on every start.

Paths of clinical files can name patients and the data dir holds the proxy CA key, so nothing
there may be readable by other local users. `mkdir(mode=0o700)` only applies to a directory it
creates: an existing data dir (made by hand, by an older version, or restored from a backup)
keeps whatever mode it has. So the agent tightens the modes each time it starts
(`tighten_private_paths`), and `phiwall doctor` fails on anything looser (`loose_private_paths`).
SQLite gives its `-wal`/`-shm` files the mode of the database file, so a 0600 store stays 0600.
A fleet store on PostgreSQL has no files here: its access is the database's roles (docs/operations.md).
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from agent.store import parse_url, sqlite_path

log = logging.getLogger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


@dataclass(frozen=True)
class LoosePath:
    path: Path
    mode: int
    wanted: int

    def __str__(self) -> str:
        return f"{self.path} is {self.mode:o} (want {self.wanted:o})"


def sqlite_files(url: str) -> list[Path]:
    """The SQLite database file of `url` and its side files that exist (none for other databases)."""
    try:
        path = sqlite_path(parse_url(url))
    except Exception:
        return []
    if path is None:
        return []
    return [p for p in (path, *(Path(f"{path}{suffix}") for suffix in SQLITE_SIDE_FILES)) if p.exists()]


def loose_private_paths(data_dir: Path, store_url: str) -> list[LoosePath]:
    """Every private path whose mode lets group or others in."""
    found: list[LoosePath] = []
    candidates: list[tuple[Path, int]] = [(data_dir, PRIVATE_DIR)]
    candidates += [(path, PRIVATE_FILE) for path in sqlite_files(store_url)]
    for path, wanted in candidates:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue
        if mode & 0o077:
            found.append(LoosePath(path, mode, wanted))
    return found


def tighten_private_paths(data_dir: Path, store_url: str) -> list[LoosePath]:
    """chmod what `loose_private_paths` finds (owner bits kept); returns what was changed.

    A path this user does not own and cannot chmod is logged, not fatal: `doctor` reports it.
    """
    changed: list[LoosePath] = []
    for loose in loose_private_paths(data_dir, store_url):
        try:
            os.chmod(loose.path, loose.mode & loose.wanted)
        except OSError as exc:
            log.warning("cannot make %s private (mode %o): %s", loose.path, loose.mode, exc.strerror or exc)
            continue
        log.info("made %s private: mode %o -> %o", loose.path, loose.mode, loose.mode & loose.wanted)
        changed.append(loose)
    return changed
