"""A second reader for long recordings: the sound of the second half, its last minute and a
half first, decoded in a second thread while the whole is decoded, offered to the same proof.

A long upload with the clinical dictation near its end is decoded to the end before its
prefix probes can see the dictation. On two cores, a thread that reads the second half reaches
any part of it in at most half the time (PyAV decodes and numpy transforms without the GIL),
and the end, where a dictation is most often appended, at once (`reading_plan`). It starts
decoding once the first prefix probe has found nothing. It only adds a
way to stop early: what it proves is an excerpt of the upload that matches beyond doubt, the
same bar as a prefix probe (`service._AudioProof`); when it proves nothing, the decode of the
whole decides, exactly as without it. It seeks by
the container's index or bit rate, and gives up quietly on anything it cannot seek or decode.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from agent.errors import MediaError
from agent.media.decode import duration_s
from agent.media.fingerprint import AudioPrint, fingerprint
from agent.media.model import MediaLimits

log = logging.getLogger(__name__)

SPLIT_MIN_BYTES = 1 << 20  # below this an upload decodes in well under the time a thread costs
SPLIT_MIN_S = 120.0  # shorter recordings are proven or decided soon enough by the prefix probes
TAIL_S = 90.0  # the second reader reads this much of the end first (see `reading_plan`)
OVERLAP_S = 15.0
MAX_READERS = 2  # second readers running at once in the process (one per core)
_READERS = threading.BoundedSemaphore(MAX_READERS)

Proof = Callable[[AudioPrint, float], bool]
"""Offer the sound of an excerpt that starts `start_s` seconds into the upload; True: proven."""


def reading_plan(total_s: float) -> list[tuple[float, float | None]]:
    """(start, length or None for "to the end") of the second reader's excerpts, in order: the
    last TAIL_S first, then from the middle to where the tail began (OVERLAP_S over it, for a
    dictation across the seam); a recording too short for that, from the middle to the end.

    A clinical dictation sent inside a longer recording is most often appended at its end (or
    put first, which the whole decode's first probes see): the tail is read in a fraction of
    the time the second half takes. The second reader decodes half the recording either way."""
    middle = total_s / 2
    tail = total_s - TAIL_S
    if tail - middle < TAIL_S / 2:
        return [(middle, None)]
    return [(tail, None), (middle, tail - middle + OVERLAP_S)]


def worth_splitting(source: Path | bytes) -> bool:
    size = len(source) if isinstance(source, bytes) else Path(source).stat().st_size
    return size >= SPLIT_MIN_BYTES


class SecondHalf:
    """The second half of one upload's sound, read in its own thread until `stop()`."""

    def __init__(self, source: Path | bytes, limits: MediaLimits, proof: Proof, proven: Callable[[], bool]) -> None:
        self._source = source
        self._limits = limits
        self._proof = proof
        self._proven = proven
        self._stopped = threading.Event()
        self._go = threading.Event()
        self._thread = threading.Thread(target=self._run, name="phiwall-second-half", daemon=True)
        self.start_s = 0.0

    @classmethod
    def start(
        cls, source: Path | bytes, limits: MediaLimits, proof: Proof, proven: Callable[[], bool]
    ) -> SecondHalf | None:
        """A running second reader, or None when the upload is small or MAX_READERS already run."""
        try:
            if not worth_splitting(source):
                return None
        except OSError:
            return None
        if not _READERS.acquire(blocking=False):
            return None
        reader = cls(source, limits, proof, proven)
        try:
            reader._thread.start()
        except BaseException:
            _READERS.release()
            raise
        return reader

    def _cancelled(self) -> bool:
        return self._stopped.is_set() or self._proven()

    def _run(self) -> None:
        try:
            total = duration_s(self._source)
            if total < SPLIT_MIN_S:
                return
            self._go.wait()
            for start_s, length_s in reading_plan(total):
                if self._cancelled() or self._read(start_s, length_s):
                    return
        except MediaError as exc:
            log.debug("second reader gave up: %s", exc)
        except Exception:  # a bug here must not matter: the whole decode still decides
            log.exception("second reader failed")
        finally:
            _READERS.release()

    def _read(self, start_s: float, length_s: float | None) -> bool:
        """Read `length_s` (None: to the end) from `start_s`, offering it to the proof; True: proven."""
        self.start_s = start_s

        def probe(prefix: AudioPrint) -> bool:
            return self._proof(prefix, start_s)

        limits = self._limits if length_s is None else replace(self._limits, max_duration_s=length_s)
        prints = fingerprint(self._source, limits, start_s=start_s, probe=probe, cancel=self._cancelled, query=True)
        if prints.report.satisfied:
            return True
        # The excerpt's end was reached: the whole excerpt once, with its chromaprint items (on a
        # long excerpt, landmark votes alone rarely clear the proof's bar).
        return prints.audio is not None and self._proof(prints.audio, start_s)

    def go(self) -> None:
        """Start decoding: the first prefix probe found nothing (an upload proven in its first
        seconds, the usual case for a dictation sent as it is, costs no second decode)."""
        self._go.set()

    def stop(self) -> None:
        """Stop reading (within one packet) and wait for the thread."""
        self._stopped.set()
        self._go.set()
        self._thread.join()
