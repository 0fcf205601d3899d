"""Cold tier: the index's big immutable arrays in unlinked files, memory-mapped.

A workstation that shares a fleet's prints may not want the posting bitstreams and the
verification Chromaprint items on its heap. With a spill directory (`configure`, or the
`PHIWALL_INDEX_SPILL_DIR` environment variable), each new segment writes those arrays to a
file there, maps it read-only and unlinks the name at once: the mapping keeps the data, the
kernel pages it in when a lookup touches it and may drop clean pages under memory pressure
(they come back from disk, not from swap), and the space is freed when the segment is
dropped, so no file outlives the process or needs cleaning up. The per-key tables stay on
the heap. Without a directory every array stays in memory, as before.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

from agent.environment import environment

ENV = "PHIWALL_INDEX_SPILL_DIR"
MIN_BYTES = 1 << 20  # smaller arrays are not worth a mapping
_directory: Path | None = None


def configure(directory: Path | None) -> None:
    """Spill to `directory` from now on (None: back to the environment's choice)."""
    global _directory
    _directory = directory


def directory() -> Path | None:
    if _directory is not None:
        return _directory
    return environment().index_spill_dir


def spill[T: np.generic](array: npt.NDArray[T]) -> npt.NDArray[T]:
    """`array` moved to a mapped, already unlinked file, or `array` itself when not spilling."""
    where = directory()
    if where is None or array.nbytes < MIN_BYTES:
        return array
    fd, name = tempfile.mkstemp(prefix="phiwall-index-", dir=where)
    try:
        with os.fdopen(fd, "wb") as out:
            np.ascontiguousarray(array).tofile(out)
        mapped: npt.NDArray[T] = np.memmap(name, dtype=array.dtype, mode="r", shape=array.shape)
    finally:
        os.unlink(name)
    return mapped


def mapped_nbytes(*arrays: npt.NDArray[np.generic]) -> int:
    """Bytes of these arrays that live in mapped files rather than on the heap."""
    return sum(int(a.nbytes) for a in arrays if isinstance(a, np.memmap))
