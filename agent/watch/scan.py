"""Walking a clinical folder: every regular file, with loops, permissions and oddities handled.

Directory symlinks are not followed (the live watch would not see inside them either: list
their targets as folders instead), which also makes symlink loops harmless; a (device,
inode) set guards against bind-mount loops. File symlinks are followed to their target.
Directories that cannot be read are reported to `on_error` and skipped.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator

from agent.watch.names import is_partial_name, is_skipped_dir


def walk_files(root: str, on_error: Callable[[str, OSError], None]) -> Iterator[tuple[str, os.stat_result]]:
    stack = [root]
    seen: set[tuple[int, int]] = set()
    while stack:
        directory = stack.pop()
        try:
            dir_stat = os.stat(directory)
            key = (dir_stat.st_dev, dir_stat.st_ino)
            if key in seen:
                continue
            seen.add(key)
            with os.scandir(directory) as entries:
                listing = list(entries)
        except OSError as exc:
            on_error(directory, exc)
            continue
        for entry in listing:
            try:
                if entry.is_symlink():
                    if is_partial_name(entry.name):
                        continue
                    target = os.stat(entry.path)  # follows; ELOOP/ENOENT for bad links
                    if stat.S_ISREG(target.st_mode):
                        yield entry.path, target
                elif entry.is_dir(follow_symlinks=False):
                    if not is_skipped_dir(entry.name):
                        stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False) and not is_partial_name(entry.name):
                    yield entry.path, entry.stat(follow_symlinks=False)
            except OSError as exc:
                if not entry.is_symlink():
                    on_error(entry.path, exc)
