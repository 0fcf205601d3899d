"""Chromaprint items through libchromaprint, via pyacoustid's ctypes bindings.

pyacoustid exposes only the compressed, base64 fingerprint; excerpt matching needs the raw
32-bit items, so the raw-fingerprint call of the same loaded library is declared here.
Audio is fed at 11,025 Hz mono (chromaprint's own rate, so it does not resample again) in
chunks, as it is decoded.
"""

from __future__ import annotations

import ctypes

import numpy as np
import numpy.typing as npt

from agent.media.decode import AUDIO_RATE
from agent.platform.native import chromaprint_module

chromaprint = chromaprint_module()  # on Windows the MSI's bundled DLL is put on PATH first

U32Array = npt.NDArray[np.uint32]

ALGORITHM = chromaprint.Fingerprinter.ALGORITHM_DEFAULT  # TEST2, what AcoustID uses
ITEM_SAMPLES = 4096 // 3  # chromaprint's hop at 11,025 Hz
ITEM_SECONDS = ITEM_SAMPLES / AUDIO_RATE  # ~0.124 s per item

_lib = chromaprint._libchromaprint
_lib.chromaprint_get_raw_fingerprint.argtypes = (
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.POINTER(ctypes.c_uint32)),
    ctypes.POINTER(ctypes.c_int),
)
_lib.chromaprint_get_raw_fingerprint.restype = ctypes.c_int


class ChromaprintError(RuntimeError):
    """libchromaprint refused a call (out of memory, bad parameters)."""


def _check(result: int, what: str) -> None:
    if result != 1:
        raise ChromaprintError(f"libchromaprint {what} failed")


class ChromaprintStream:
    """Incremental raw chromaprint of 11,025 Hz mono int16 audio. Not thread-safe; one per decode."""

    def __init__(self) -> None:
        self._ctx = _lib.chromaprint_new(ALGORITHM)
        if not self._ctx:
            raise ChromaprintError("libchromaprint could not allocate a context")
        _check(_lib.chromaprint_start(self._ctx, AUDIO_RATE, 1), "start")
        self.samples = 0

    def feed(self, samples: npt.NDArray[np.int16]) -> None:
        data = np.ascontiguousarray(samples, dtype=np.int16)
        if data.size == 0:
            return
        pointer = data.ctypes.data_as(ctypes.POINTER(ctypes.c_char))
        _check(_lib.chromaprint_feed(self._ctx, pointer, int(data.size)), "feed")
        self.samples += int(data.size)

    def finish(self) -> U32Array:
        """The raw items so far (empty for less than ~3 s of audio); frees the context."""
        try:
            _check(_lib.chromaprint_finish(self._ctx), "finish")
            items = ctypes.POINTER(ctypes.c_uint32)()
            size = ctypes.c_int()
            _check(_lib.chromaprint_get_raw_fingerprint(self._ctx, ctypes.byref(items), ctypes.byref(size)), "get raw")
            try:
                result = np.ctypeslib.as_array(items, shape=(size.value,)).copy() if size.value else np.zeros(0)
            finally:
                _lib.chromaprint_dealloc(items)
            return result.astype(np.uint32, copy=False)
        finally:
            self.close()

    def close(self) -> None:
        if self._ctx:
            _lib.chromaprint_free(self._ctx)
            self._ctx = None

    def __del__(self) -> None:
        self.close()
