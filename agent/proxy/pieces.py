"""Split uploads: pieces of one recording sent as separate requests, joined and matched as one.

`split -b 256k dictation.wav` and one request per piece, two halves, or resumable chunks
without offsets whose header chunk is sent last: no single request holds a recognisable
excerpt (the first piece may be a second of audio), yet the destination ends up with the
whole file. So binary pieces sent to the same AI destination by the same client within a
time window are kept (bounded) and, with every new piece, the joined stream is offered for
matching in the orders a server could reassemble it:

- the piece that starts with a media header first, wherever it arrived (a header chunk sent
  last or in the middle), then the other pieces in arrival order (`split` pieces, halves,
  chunks sent in sequence), only the most recent `join_bytes` of them (see `_candidates`);
- when that first piece starts an archive or compressed file (a ZIP, 7z, tar.gz... cut in
  pieces), all the stream's pieces in that order, to be walked by the payload core like a whole
  upload (`JoinedCandidate.walk`), once the join can be opened (`agent.payload.joining`: a
  ZIP's end record has arrived, a 7z is as long as its header says, a compressed stream grew).

The request whose piece completes a recognisable stream is blocked, and once a stream was
found clinical every later piece to that destination within the window is refused without
further work: blocking a later piece is what stops the full file arriving. A stream's bytes
are dropped once it is decided: flagged, or an archive whose join opened and was read whole
without a match (`complete`: its pieces are done with, and kept they would sit in front of
the client's next archive, whose join then never opens); or once idle for `window_s`.

Bounds: at most `max_streams` streams (least recently used evicted), `max_pieces` pieces and
`max_stream_bytes` per stream (the oldest pieces are dropped first: the join keeps the
latest), `max_total_bytes` over all streams (least recently used streams dropped), pieces
smaller than `min_piece` ignored (API calls, not file pieces) unless they continue a stream
(`split`'s last piece is the file's remainder, any size, and holds a ZIP's end record), at most `join_bytes` (+ the
header piece) matched per new piece. Keys are (client, destination
host) and never hold payload; nothing here touches mitmproxy or the fingerprinting.
"""

from __future__ import annotations

import binascii
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.payload.joining import EOCD_TAIL, file_header, fit_order, join_kind, ready_to_open
from agent.payload.multipart import parse_multipart
from agent.payload.sniff import has_media_signature
from agent.payload.textmedia import b64decode
from agent.payload.types import PayloadError
from agent.payload.walker import main_type
from agent.proxy.resumable import SessionFlag

StreamKey = tuple[str, str]
"""(client address, destination host)."""


@dataclass(frozen=True)
class JoinedCandidate:
    label: str
    """How the pieces were ordered ("joined:arrival:3", "joined:header-first:3"): no content."""
    data: bytes
    walk: bool = False
    """An archive or compressed file to open with the payload walker, not media to match as is."""


@dataclass
class PieceStream:
    key: StreamKey
    pieces: list[bytes] = field(default_factory=list)
    size: int = 0
    received: int = 0
    """Pieces seen in this stream (including any dropped for the bounds)."""
    last_seen: float = field(default_factory=time.monotonic)
    flagged: SessionFlag | None = None
    failed: SessionFlag | None = None
    """Its archive header piece failed closed (an archive cut short): later pieces are still
    joined, so the recording can be named, but each is refused (like a resumable session's)."""
    alone: set[int] = field(default_factory=set)
    """Ids of pieces recognised on their own: kept for an archive's join, never in a media window."""
    walked: int = 0
    """Size of the archive join at its last walk (`agent.payload.joining.ready_to_open`)."""
    text: bool = False
    """Pieces of one base64 string (sent in JSON or text bodies), joined as text, then decoded."""

    def release(self) -> None:
        self.pieces = []
        self.size = 0
        self.alone = set()


TEXT_TYPES = ("application/json", "application/x-www-form-urlencoded", "text/", "multipart/")


def piece_of(decoded: bytes | memoryview, content_type: str | None) -> bytes | memoryview | None:
    """The file piece a request carries: a raw binary body, or the largest binary multipart part.

    JSON, form and text bodies are API calls, not file pieces (base64 pieces inside JSON are
    not joined).
    """
    main = main_type(content_type)
    if main.startswith("multipart/") and content_type:
        try:
            parts = parse_multipart(decoded, content_type).parts
        except PayloadError:
            return None
        binary = [part.data for part in parts if not main_type(part.content_type).startswith(TEXT_TYPES[:3])]
        return max(binary, key=len) if binary else None
    if main.startswith(TEXT_TYPES) or main.endswith("+json"):
        return None
    return decoded


class PieceJoiner:
    """Pieces per (client, destination), bounded and expiring; see the module docstring."""

    def __init__(
        self,
        *,
        window_s: float = 300.0,
        max_streams: int = 64,
        max_pieces: int = 256,
        max_stream_bytes: int = 64 << 20,
        max_total_bytes: int = 256 << 20,
        min_piece: int = 4 << 10,
        join_bytes: int = 4 << 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self.max_streams = max_streams
        self.max_pieces = max_pieces
        self.max_stream_bytes = max_stream_bytes
        self.max_total_bytes = max_total_bytes
        self.min_piece = min_piece
        self.join_bytes = join_bytes
        self._clock = clock
        self._streams: OrderedDict[StreamKey, PieceStream] = OrderedDict()
        self.dropped_pieces = 0

    def __len__(self) -> int:
        self._expire()
        return len(self._streams)

    @property
    def buffered_bytes(self) -> int:
        return sum(stream.size for stream in self._streams.values())

    def flagged(self, key: StreamKey) -> SessionFlag | None:
        """Why later pieces of this stream are refused, while its window lasts."""
        self._expire()
        stream = self._streams.get(key)
        return stream.flagged if stream is not None else None

    def has_pieces(self, key: StreamKey) -> bool:
        self._expire()
        stream = self._streams.get(key)
        return stream is not None and bool(stream.pieces)

    def continues(self, key: StreamKey) -> bool:
        """Whether `key` has a stream under way (pieces kept, or flagged clinical): a short piece
        to it is the stream's last piece, not an API call of its own."""
        self._expire()
        stream = self._streams.get(key)
        return stream is not None and (bool(stream.pieces) or stream.flagged is not None or stream.failed is not None)

    def failed(self, key: StreamKey) -> SessionFlag | None:
        """Why later pieces of this stream are refused although they are still joined."""
        self._expire()
        stream = self._streams.get(key)
        return stream.failed if stream is not None else None

    def mark_failed(self, key: StreamKey, flag: SessionFlag) -> None:
        """The stream's archive header piece could not be inspected alone and was blocked."""
        stream = self._streams.get(key)
        if stream is not None and stream.failed is None:
            stream.failed = flag

    def complete(self, key: StreamKey) -> None:
        """The stream's archive was joined, opened and read whole, and is not clinical: forget
        the stream, so that the client's next upload in pieces starts a join of its own. A
        flagged stream stays flagged (its later pieces are still refused)."""
        stream = self._streams.get(key)
        if stream is not None and stream.flagged is None:
            del self._streams[key]

    def flag(self, key: StreamKey, flag: SessionFlag) -> None:
        """The stream was found clinical: keep refusing it for the window, drop its bytes."""
        stream = self._streams.get(key)
        if stream is None:
            stream = self._open(key)
        if stream.flagged is None:
            stream.flagged = flag
        stream.release()
        stream.last_seen = self._clock()
        self._streams.move_to_end(key)

    def add(self, key: StreamKey, piece: bytes, *, alone: bool = False, text: bool = False) -> list[JoinedCandidate]:
        """Keep `piece`; the joined orders worth matching now (none until there are two pieces).

        `alone`: the piece was recognised on its own (and blocked as such). It is kept only for
        the join of an archive cut in pieces, whose walk needs every piece; a media window never
        holds it (a clinical piece in every later window would flag the stream, and refuse the
        client's next unrelated uploads to the destination)."""
        self._expire()
        short = len(piece) < self.min_piece
        if not piece or len(piece) > self.max_stream_bytes or (short and not self.continues(key)):
            return []
        stream = self._streams.get(key) or self._open(key)
        stream.text = text
        self._streams.move_to_end(key)
        stream.last_seen = self._clock()
        stream.received += 1
        if stream.flagged is not None:
            return []
        stream.pieces.append(piece)
        stream.size += len(piece)
        if alone:
            stream.alone.add(id(piece))
        while len(stream.pieces) > self.max_pieces or stream.size > self.max_stream_bytes:
            dropped = stream.pieces.pop(0)
            stream.alone.discard(id(dropped))
            stream.size -= len(dropped)
            self.dropped_pieces += 1
        self._bound_total(key)
        if text:
            return [] if alone else self._text_candidates(stream)
        archive = self._archive(stream)
        if archive is not None:
            return archive
        return [] if alone else self._candidates(stream)

    def _archive(self, stream: PieceStream) -> list[JoinedCandidate] | None:
        """The whole stream as one archive to walk, when a piece starts an archive or a
        compressed file: that piece first, then the others in arrival order from it, then those
        before it. [] while the join cannot be opened yet; None when no piece starts an archive."""
        pieces = stream.pieces
        heads = [i for i, piece in enumerate(pieces) if join_kind(piece[:512]) is not None]
        if not heads or len(pieces) < 2:
            return None
        head = heads[-1]
        # The header piece and those after it in arrival order, then those sent before it (the
        # header sent last): an earlier unrelated upload in the window ends the join rather than
        # splitting the archive.
        order = pieces[head:] + pieces[:head]
        size = sum(len(piece) for piece in order)
        tail = b"".join(order[-2:])[-EOCD_TAIL:]
        kind = join_kind(pieces[head][:512])
        assert kind is not None
        last = len(pieces[-1]) < max(len(piece) for piece in pieces[:-1])  # `split`'s last piece is short
        if not ready_to_open(kind, bytes(pieces[head][:64]), size, tail, stream.walked, last=last):
            return []
        stream.walked = size
        label = f"joined:{'header-first' if head > 0 else 'arrival'}:{len(order)}"
        return [JoinedCandidate(label, b"".join(order), walk=True)]

    def _text_candidates(self, stream: PieceStream) -> list[JoinedCandidate]:
        """Base64 pieces joined in the order they fit (`agent.payload.joining.fit_order`: the
        piece whose decoded head is a file header first, the padded one last, the others as they
        came), the header piece and the most recent others up to `join_bytes` once decoded, then
        decoded: to be walked like a body (a base64 ZIP is opened, media is matched)."""
        pieces = [piece.decode("ascii") for piece in stream.pieces if id(piece) not in stream.alone]
        if len(pieces) < 2:
            return []
        order = fit_order(pieces, _text_rank)
        if order is None:
            return []
        head, rest = order[0], order[1:]
        budget = self.join_bytes * 4 // 3 - len(pieces[head])
        window: list[int] = []
        for index in reversed(rest):
            if window and len(pieces[index]) > budget:
                break
            window.append(index)
            budget -= len(pieces[index])
        window.reverse()
        try:
            data = b64decode("".join(pieces[index] for index in [head, *window]))
        except PayloadError:
            return []
        order_name = "header-first" if head > 0 else "arrival"
        return [JoinedCandidate(f"joined:base64:{order_name}:{len(window) + 1}", data, walk=True)]

    def _candidates(self, stream: PieceStream) -> list[JoinedCandidate]:
        """The joined stream worth matching: the piece with a media header first (wherever it
        arrived), then the most recent other pieces in arrival order, at most `join_bytes`.

        Matching needs an excerpt, not the whole file: a bounded window of recent pieces behind
        the header keeps the cost of each new piece flat however long the upload grows, and every
        stretch of the recording is inside some window when its last piece arrives. PCM and MPEG
        audio decode across the gap between the header and the window.
        """
        pieces = [piece for piece in stream.pieces if id(piece) not in stream.alone]
        if len(pieces) < 2:
            return []
        heads = [i for i, piece in enumerate(pieces) if has_media_signature(piece[:256])]
        head = heads[-1] if heads else None
        window: list[bytes] = []
        size = len(pieces[head]) if head is not None else 0
        for index in range(len(pieces) - 1, -1, -1):
            if index == head:
                continue
            if window and size + len(pieces[index]) > self.join_bytes:
                break
            window.append(pieces[index])
            size += len(pieces[index])
        window.reverse()
        if head is not None:
            window.insert(0, pieces[head])
        order = "header-first" if head is not None and head > 0 else "arrival"
        return [JoinedCandidate(f"joined:{order}:{len(window)}", b"".join(window))]

    def _open(self, key: StreamKey) -> PieceStream:
        stream = PieceStream(key, last_seen=self._clock())
        self._streams[key] = stream
        while len(self._streams) > self.max_streams:
            self._streams.popitem(last=False)
        return stream

    def _bound_total(self, keep: StreamKey) -> None:
        """Drop least recently used streams' bytes until the total fits (never `keep`'s newest piece)."""
        total = self.buffered_bytes
        for key, stream in list(self._streams.items()):
            if total <= self.max_total_bytes:
                return
            if key == keep:
                continue
            total -= stream.size
            if stream.flagged is None:
                del self._streams[key]
            else:
                stream.release()

    def _expire(self) -> None:
        horizon = self._clock() - self.window_s
        while self._streams:
            key, oldest = next(iter(self._streams.items()))
            if oldest.last_seen >= horizon:
                break
            del self._streams[key]


def _text_rank(piece: str) -> int:
    """How a base64 piece's decoded head starts (`agent.payload.joining.fit_order`)."""
    head_text = piece[:8192]
    try:
        head = binascii.a2b_base64(head_text[: len(head_text) // 4 * 4].translate(_URLSAFE), strict_mode=False)
    except (binascii.Error, ValueError):
        return 0
    if file_header(head):
        return 2
    return 1 if has_media_signature(head[:256]) else 0


_URLSAFE = str.maketrans("-_", "+/")
