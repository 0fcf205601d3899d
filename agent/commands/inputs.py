"""Input paths the CLI reads: say why one cannot be read before anything opens it.

Opening a FIFO blocks until a writer appears and reading a device never ends, so a path is
checked with `stat` first and only regular files (or folders, where folders are accepted)
are ever opened. Each reason is one short phrase for a message or a JSON "error".
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def unreadable_reason(path: Path, *, folders_ok: bool = False) -> str | None:
    """Why `path` cannot be read as an input file (None when it can)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return "missing: no such file or folder" if folders_ok else "missing: no such file"
    except PermissionError:
        return "permission denied"
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        if folders_ok:
            return None if os.access(path, os.R_OK | os.X_OK) else "permission denied"
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        return f"not a regular file ({kind})"
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except PermissionError:
        return "permission denied"
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    return None
