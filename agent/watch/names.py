"""Which file names are work in progress (temporary, partial, hidden) and not to be enrolled yet.

Recorders, browsers and office tools write to a temporary name and rename into place when
done; enrolling the temporary file would fingerprint a half-written recording. Such files
are ignored until they are renamed to a real name, which the watcher sees as a new file.
"""

from __future__ import annotations

PARTIAL_SUFFIXES = (
    ".part",
    ".partial",
    ".tmp",
    ".temp",
    ".crdownload",
    ".download",
    ".filepart",
    ".swp",
    ".lock",
    "~",
)
PARTIAL_PREFIXES = (".", "~$", "~")


def is_partial_name(name: str) -> bool:
    """True for names a file has while being written (or that are not user files at all)."""
    lowered = name.lower()
    return lowered.startswith(PARTIAL_PREFIXES) or lowered.endswith(PARTIAL_SUFFIXES)


def is_skipped_dir(name: str) -> bool:
    """Hidden directories (trash, VCS, app caches) are not clinical folders' content."""
    return name.startswith(".")
