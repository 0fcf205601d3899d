"""One base64 string cut over the records of one body: NDJSON lines, SSE `data:` events, array items.

A streaming upload sends a file as a sequence of small records in one request body:
`{"chunk": "<part>"}` per line (JSON Lines), `data: {"audio": "<part>"}` per server-sent-event
style line, or `{"chunks": [{"seq": 0, "data": "<part>"}, ...]}`. No piece holds more than a
fraction of a second of audio, too little to fingerprint, and pieces after the first do not
even start with a media header. Read alone, the recording passes.

`piece_streams` lines the records up by field path (the same keys in every record, array
indexes ignored) and finds the stretches of consecutive records whose value at that path looks
like one base64 string cut in pieces (`textmedia.base64_pieces`: every piece all alphabet, each
but the last a whole number of 4-character groups). The walker decodes a stretch only when its
first piece's decoded head is media or a wrapper, so a body of ordinary records costs one pass
over its strings and no decoding.

`split_records` says whether a text body is made of such records at all (two or more lines,
each a JSON value, or SSE fields), so a single JSON document never pays for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from agent.payload.textmedia import base64_pieces

MIN_PIECE_CHARS = 16
"""Shorter strings are not looked at as pieces (ids, enum values, tokens)."""
MAX_FIELD_DEPTH = 6
"""Keys followed into a record: chunk fields sit near the top (`data.audio.chunk`)."""
MAX_STREAMS = 4
"""Stretches taken from one sequence of records (a record rarely carries more than one file)."""
MAX_RECORDS = 200_000
_SSE_FIELDS = (b"event:", b"id:", b"retry:")

Path = tuple[str, ...]


@dataclass(frozen=True)
class PieceStream:
    """Consecutive records `first`..`stop - 1` whose strings at `path` are pieces of one base64 string."""

    path: Path
    first: int
    stop: int
    pieces: list[str]

    def label(self) -> str:
        """The path as the walker names it (".chunk", ".data.audio"; "" for bare string records)."""
        return "".join(f".{key}" for key in self.path)


def _strings(record: object, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """(path, string) for the long strings of one record, following keys only (not array items)."""
    if isinstance(record, str):
        if len(record) >= MIN_PIECE_CHARS:
            yield path, record
    elif isinstance(record, Mapping) and len(path) < MAX_FIELD_DEPTH:
        for key, value in record.items():
            if isinstance(value, str | Mapping):
                yield from _strings(value, (*path, str(key)))


def piece_streams(records: Sequence[object]) -> list[PieceStream]:
    """Stretches of 2+ consecutive records carrying pieces of one base64 string at one path."""
    if len(records) < 2:
        return []
    columns: dict[Path, list[str]] = {}
    for index, record in enumerate(records[:MAX_RECORDS]):
        for path, value in _strings(record):
            column = columns.get(path)
            if column is None:
                column = columns[path] = [""] * index
            elif len(column) > index:
                continue  # the same path twice in one record (cannot happen for keys): first wins
            column.extend([""] * (index - len(column)))
            column.append(value)
    streams: list[PieceStream] = []
    for path, column in columns.items():
        if sum(1 for value in column if value) < 2:
            continue
        found = base64_pieces(column, MIN_PIECE_CHARS)
        if found is not None:
            first, stop = found
            streams.append(PieceStream(path, first, stop, column[first:stop]))
            if len(streams) >= MAX_STREAMS:
                break
    return streams


def clear(records: list[object], stream: PieceStream) -> None:
    """Blank a joined stream's pieces in `records` (parsed here, owned by the walk), so the
    records are not also read piece by piece (dozens of useless fragments per file)."""
    for index in range(stream.first, stream.stop):
        if not stream.path:
            records[index] = ""
            continue
        node = records[index]
        for key in stream.path[:-1]:
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, dict) and isinstance(node.get(stream.path[-1]), str):
            node[stream.path[-1]] = ""


def split_records(text: bytes) -> list[tuple[str, bytes]] | None:
    """The records of a JSON Lines or SSE-style body as (label, payload), or None when it is not one.

    NDJSON: two or more non-empty lines, each opening a JSON object or array. SSE: `data:`
    lines (their payload, JSON or a bare string), with `event:`, `id:`, `retry:` and comment
    lines skipped. Labels are line numbers ("line 3"): structure, never values.
    """
    records: list[tuple[str, bytes]] = []
    sse = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(b"data:"):
            sse = True
            records.append((f"line {number}", line[5:].strip()))
        elif line.startswith(_SSE_FIELDS) or line.startswith(b":"):
            sse = True  # other SSE fields and comments carry no data
        elif not sse and line[:1] in (b"{", b"["):
            records.append((f"line {number}", line))
        else:
            return None
        if len(records) > MAX_RECORDS:
            return None
    return records if len(records) >= 2 else None
