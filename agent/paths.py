"""Where PhiWall keeps its files by default (platform directories, overridable by env)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from agent.environment import environment
from agent.errors import DataDirError

APP_NAME = "phiwall"


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def default_config_file() -> Path:
    return config_dir() / "config.toml"


def default_data_dir() -> Path:
    """Data dir: `$PHIWALL_DATA_DIR` if set, else the platform's per-user data dir."""
    override = environment().data_dir
    if override is not None:
        return override.expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def ensure_writable_dir(path: Path, what: str = "data dir") -> Path:
    """Create `path` (0700) if needed and prove it is writable, or raise a clear error."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise DataDirError(
            f"cannot create {what} {path}: {exc.strerror}",
            hint="set PHIWALL_DATA_DIR or `data_dir` in the config to a writable directory",
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataDirError(
            f"{what} {path} is not writable by this user",
            hint="fix its permissions or set PHIWALL_DATA_DIR to a writable directory",
        )
    return path


def write_private_file(path: Path, data: bytes) -> None:
    """Write a secret (key material) so that it is never readable by others, even briefly."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def create_private_file(path: Path) -> None:
    """Create an empty file 0600 (a new SQLite store), so it is never readable by others."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
