"""Built audio index segments kept on disk: a restart maps them instead of rebuilding, and
their big arrays stay off the heap (the default cold tier).

Building the index of 1,000 h of prints from the store takes minutes (sorting and bit-packing
167 M landmark postings); reading it back takes a checksum pass. Each audio segment the index
holds is written once, atomically (temporary name, then rename, 0600 in a 0700 directory),
and then used through a read-only memory map: the gap streams and the verification items stay
in the kernel's page cache, which may drop them under memory pressure and reads them back from
the file; only the per-key tables (~8.5 MB) are copied to the heap.

A file is only a cache of the store, never trusted over it:
- it names, per asset, a digest of the asset's audio print rows as the store describes them
  (kind, version, item count, byte length, enrolment time). At start-up a file whose assets the
  store now describes differently (re-enrolled, other prints, another store) is discarded and
  its assets are rebuilt from the store; assets forgotten since are masked, as in a running
  index; assets the files do not cover are loaded from the store as before;
- every array carries a CRC-32 checked before use; a file that fails it, or cannot be parsed,
  is discarded (and deleted) and its assets rebuilt from the store.
Files are named by their ordered asset ids, so processes sharing a store write identical
files under identical names; a file merged away is deleted (best effort: another process may
still map it, which POSIX allows and Windows refuses, and the next start-up sweeps it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import struct
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from agent.media.audio_index import AudioSegment
from agent.media.postings import InvertedLists, PackedRows

log = logging.getLogger(__name__)

MAGIC = b"PWIXSEG1"
FORMAT = 1
ALIGN = 64
MAP_MIN_BYTES = 1 << 20  # smaller arrays are copied to the heap (not worth a page fault each)
MAPPED = ("lm.packed.words", "cp.packed.words", "cp_items", "lm.positions", "cp.positions", "lm.keys", "cp.keys")
_HEADER = struct.Struct("<8sII")  # magic, manifest length, manifest CRC-32
SUFFIX = ".seg"
STRAY_SECONDS = 3600.0  # a temporary file this old is a write that never finished

Digests = Callable[[Sequence[str]], Mapping[str, str]]


class SegmentFileError(Exception):
    """A segment file that cannot be used (corrupt, truncated, another format)."""


def file_name(asset_ids: Sequence[str]) -> str:
    return "audio-" + hashlib.sha256("\n".join(asset_ids).encode()).hexdigest()[:32] + SUFFIX


def _flatten(prefix: str, value: Any, arrays: dict[str, npt.NDArray[Any]], scalars: dict[str, Any]) -> None:
    if isinstance(value, np.ndarray):
        arrays[prefix] = value
    elif is_dataclass(value):
        for f in fields(value):
            _flatten(f"{prefix}.{f.name}" if prefix else f.name, getattr(value, f.name), arrays, scalars)
    else:
        scalars[prefix] = value  # ints, None, the asset id tuple


def _lists(prefix: str, arrays: Mapping[str, npt.NDArray[Any]], scalars: Mapping[str, Any]) -> InvertedLists:
    packed = None
    if f"{prefix}.packed.words" in arrays:
        packed = PackedRows(*(arrays[f"{prefix}.packed.{n}"] for n in ("first", "widths", "word_starts", "words")))
    return InvertedLists(
        key_bits=int(scalars[f"{prefix}.key_bits"]),
        positions=arrays[f"{prefix}.positions"],
        offsets=arrays.get(f"{prefix}.offsets"),
        keys=arrays.get(f"{prefix}.keys"),
        packed=packed,
    )


def write(directory: Path, segment: AudioSegment, digests: Mapping[str, str]) -> Path:
    """Write `segment` (with the store digest of each of its assets) as one file; returns it."""
    arrays: dict[str, npt.NDArray[Any]] = {}
    scalars: dict[str, Any] = {}
    _flatten("", segment, arrays, scalars)
    arrays.pop("alive")  # comes from the store at load time
    scalars.pop("asset_ids")
    entries = []
    offset = 0
    for name, array in arrays.items():
        contiguous = np.ascontiguousarray(array)
        entries.append(
            {
                "name": name,
                "dtype": contiguous.dtype.str,
                "shape": list(contiguous.shape),
                "offset": offset,
                "crc": zlib.crc32(memoryview(contiguous).cast("B")),
            }
        )
        offset += -(-contiguous.nbytes // ALIGN) * ALIGN
    manifest = json.dumps(
        {
            "format": FORMAT,
            "assets": [[a, digests[a]] for a in segment.asset_ids],
            "scalars": scalars,
            "arrays": entries,
        },
        separators=(",", ":"),
    ).encode()
    head = _HEADER.size + len(manifest)
    data_start = -(-head // ALIGN) * ALIGN
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / file_name(segment.asset_ids)
    tmp = directory / f".{path.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(_HEADER.pack(MAGIC, len(manifest), zlib.crc32(manifest)))
            out.write(manifest)
            out.write(b"\0" * (data_start - head))
            for array in arrays.values():
                contiguous = np.ascontiguousarray(array)
                out.write(memoryview(contiguous).cast("B"))
                out.write(b"\0" * (-contiguous.nbytes % ALIGN))
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    return path


@dataclass(frozen=True)
class Header:
    """What a file says about itself, read without touching its arrays."""

    path: Path
    assets: tuple[tuple[str, str], ...]
    manifest: dict[str, Any]
    data_start: int


def read_header(path: Path) -> Header:
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEADER.size)
            if len(head) < _HEADER.size:
                raise SegmentFileError("truncated header")
            magic, length, crc = _HEADER.unpack(head)
            if magic != MAGIC:
                raise SegmentFileError("not a segment file of this format")
            raw = handle.read(length)
        if len(raw) != length or zlib.crc32(raw) != crc:
            raise SegmentFileError("manifest checksum mismatch")
        manifest = json.loads(raw)
        if manifest.get("format") != FORMAT:
            raise SegmentFileError(f"format {manifest.get('format')}, not {FORMAT}")
        assets = tuple((str(a), str(d)) for a, d in manifest["assets"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SegmentFileError(f"unreadable: {exc}") from None
    start = -(-(_HEADER.size + length) // ALIGN) * ALIGN
    return Header(path, assets, manifest, start)


def load(header: Header, alive: npt.NDArray[np.bool_], *, verify: bool = True) -> AudioSegment:
    """The segment of a file whose header was accepted: every array's checksum is verified
    (this reads the whole file once; `verify=False` only for a file this process has just
    written), the big ones stay mapped, the rest are copied."""
    try:
        mapped = np.memmap(header.path, dtype=np.uint8, mode="r")
        arrays: dict[str, npt.NDArray[Any]] = {}
        for entry in header.manifest["arrays"]:
            dtype = np.dtype(entry["dtype"])
            shape = tuple(int(s) for s in entry["shape"])
            start = header.data_start + int(entry["offset"])
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if start + nbytes > mapped.size:
                raise SegmentFileError("truncated arrays")
            raw = mapped[start : start + nbytes]
            if verify and zlib.crc32(memoryview(raw)) != int(entry["crc"]):
                raise SegmentFileError(f"checksum mismatch in {entry['name']}")
            array = raw.view(dtype).reshape(shape)
            name = str(entry["name"])
            arrays[name] = array if name in MAPPED and nbytes >= MAP_MIN_BYTES else np.array(array)
        scalars = header.manifest["scalars"]
        segment = AudioSegment(
            asset_ids=tuple(a for a, _ in header.assets),
            alive=alive,
            lm_base=arrays["lm_base"],
            lm=_lists("lm", arrays, scalars),
            cp_base=arrays["cp_base"],
            cp_items=arrays["cp_items"],
            cp=_lists("cp", arrays, scalars),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SegmentFileError(f"unreadable: {exc}") from None
    if segment.lm_base.size != len(header.assets) + 1 or segment.cp_base.size != len(header.assets) + 1:
        raise SegmentFileError("asset table does not match the manifest")
    return segment


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:  # Windows: still mapped by another process; swept later
        log.debug("segment file %s not removed: %s", path.name, exc)


class SegmentFiles:
    """The directory of one store's persisted audio segments."""

    def __init__(self, directory: Path, digests: Digests) -> None:
        self.directory = directory
        self.digests = digests

    def keep(self, segment: AudioSegment) -> AudioSegment:
        """`segment` written to its file and mapped back from it; on any failure to write, the
        segment as it was (the index works without its files)."""
        if segment.size == 0:
            return segment
        try:
            digests = self.digests(segment.asset_ids)
            if any(a not in digests for a in segment.asset_ids):
                return segment  # not (or no longer) in the store as it was indexed
            return load(read_header(write(self.directory, segment, digests)), segment.alive, verify=False)
        except (OSError, SegmentFileError) as exc:
            log.warning("media index segment not saved (it stays in memory): %s", exc)
            return segment

    def drop(self, segments: Iterable[AudioSegment]) -> None:
        for segment in segments:
            _remove(self.directory / file_name(segment.asset_ids))

    def restore(self, alive: set[str], digests: Mapping[str, str]) -> list[AudioSegment]:
        """Segments of the files that agree with the store (`digests` of every alive asset
        with audio prints), largest first, covering each asset at most once. Every other file
        is deleted: stale (merged away, the store changed) or corrupt."""
        headers: list[Header] = []
        for path in sorted(self.directory.glob(f"audio-*{SUFFIX}")):
            try:
                headers.append(read_header(path))
            except SegmentFileError as exc:
                log.warning("media index file %s discarded (rebuilt from the store): %s", path.name, exc)
                _remove(path)
        for stray in self.directory.glob(".audio-*.tmp"):
            with contextlib.suppress(OSError):
                if time.time() - stray.stat().st_mtime > STRAY_SECONDS:
                    _remove(stray)  # a write that never finished
        headers.sort(key=lambda h: -len(h.assets))
        taken: set[str] = set()
        out: list[AudioSegment] = []
        for header in headers:
            ids = [a for a, _ in header.assets]
            agrees = all(a not in alive or digests.get(a) == d for a, d in header.assets)
            useful = any(a in alive for a in ids) and not taken.intersection(ids)
            if not agrees or not useful:
                _remove(header.path)
                continue
            try:
                segment = load(header, np.array([a in alive for a in ids], dtype=bool))
            except SegmentFileError as exc:
                log.warning("media index file %s discarded (rebuilt from the store): %s", header.path.name, exc)
                _remove(header.path)
                continue
            taken.update(ids)
            out.append(segment)
        return out


def directory_for(store_url: str) -> Path | None:
    """Where a store's segment files live: beside its SQLite file (`<db>.media-index`, in the
    data dir by default); None for in-memory and server databases (the index stays built in
    memory there)."""
    from agent.store.url import parse_url, sqlite_path

    path = sqlite_path(parse_url(store_url))
    return None if path is None else path.with_name(path.name + ".media-index")
