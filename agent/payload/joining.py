"""Pieces of one file sent apart, put back together: when an archive's join is worth opening,
and in which order base64 pieces fit.

A recording zipped (or tarred, 7-zipped) and cut with `split -b 256k`, or sent as resumable
chunks, holds nothing recognisable in any one request: the first piece is an archive cut short,
the others are compressed bytes no decoder reads. Joined in order, the pieces are the archive,
and the walker opens it like a whole upload. The proxy keeps the pieces (agent.proxy.pieces,
agent.proxy.resumable); this module says, from bytes alone, whether a join can be opened yet:

- a ZIP is read from its central directory, at its end: worth opening once the join ends with
  the end-of-central-directory record (the last piece has arrived; one walk per archive, not one
  per piece);
- a 7z's start header gives the offset and size of its end header: worth opening once the
  join is that long;
- gzip, bzip2, xz, zstd and tar read from their start (`containers.py` walks what a stream cut
  short holds so far): worth opening whenever the join has grown enough since the last walk
  (`GROWTH`), so the walks of one stream cost a few times its size in all, not its size per piece.

Base64 pieces (one string cut over several requests, JSON fields or array items) must be
joined as text in their original order: `fit_order` puts first the piece whose decoded head is
a file header (wherever it was sent), last the one that carries the padding, and keeps the
others in the order they came (a header piece sent last is what clients and `split` produce).
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable, Sequence

from agent.payload.containers import COMPRESSED_KINDS, container_kind
from agent.payload.jsonmedia import RUN_MAP
from agent.payload.sniff import has_media_signature

EOCD = b"PK\x05\x06"
EOCD_TAIL = (64 << 10) + 22
"""Where the ZIP end record can be: 22 bytes and a comment of at most 64 KB."""
SEVEN_ZIP_START = 32
GROWTH = 1.25
"""A streaming container's join is walked again once it is this much longer than at the last walk."""


def ready_to_open(kind: str, head: bytes, size: int, tail: bytes, walked: int, *, last: bool = False) -> bool:
    """Whether a join of `size` bytes that starts with a `kind` container (`head`: its first
    bytes, `tail`: its last `EOCD_TAIL` bytes) is worth walking, `walked` bytes having been
    walked before (0: never). `last`: the newest piece looks like the end of the upload (shorter
    than the others, as `split` leaves it, or a chunk that says so)."""
    if kind == "zip":
        return tail.rfind(EOCD) >= 0 and size > walked
    if kind == "7z":
        if len(head) < SEVEN_ZIP_START:
            return False
        offset, length = struct.unpack_from("<QQ", head, 12)
        return size >= SEVEN_ZIP_START + offset + length and size > walked
    return size > walked and (last or walked == 0 or size >= walked * GROWTH)


def join_kind(head: bytes) -> str | None:
    """The container a join starting with `head` opens as, for the kinds a join can be read from."""
    kind = container_kind(head)
    return kind if kind in ("zip", "7z", "tar", *COMPRESSED_KINDS) else None


def file_header(head: bytes) -> bool:
    """`head` starts a media file or a container with a header of its own (ID3, RIFF, `ftyp`,
    OggS, a ZIP...): what only the first piece of a file starts with. A bare MPEG frame sync is
    not one: any piece cut from the middle of an MP3 may start on a frame."""
    if head[:1] == b"\xff" or head[:1] == b"\x47":
        return False
    return has_media_signature(head[:256]) or container_kind(head) is not None


def fit_order(pieces: Sequence[str], rank: Callable[[str], int]) -> list[int] | None:
    """The order in which base64 `pieces` fit together, or None when none starts with media.

    `rank` says how a piece's decoded head starts: 2 a file header (`file_header`), 1 other
    media evidence (a frame sync, media behind a prefix, encoded media), 0 none. The first piece
    of the highest rank goes first (the header piece, wherever it was sent); a piece ending in
    `=` padding can only be the last; the others keep their order. Each piece but the last must
    be a whole number of 4-character quanta for the text to decode as one: asked of the order
    found (any piece may be sent last).
    """
    padded = [index for index, piece in enumerate(pieces) if piece.rstrip().endswith("=")]
    apart = len(padded) > 1  # each piece encoded on its own (and decoded so): any order decodes
    if (apart or padded in ([], [len(pieces) - 1])) and rank(pieces[0]) == 2:
        ranks = [2]  # sent in order (the common case): the other pieces' heads are not decoded
    else:
        ranks = [
            0 if (index in padded and not apart and len(pieces) > 1) else rank(piece)
            for index, piece in enumerate(pieces)
        ]
    best = max(ranks, default=0)
    if best == 0:
        return None
    head = ranks.index(best)
    last = padded[0] if len(padded) == 1 and padded[0] != head else None
    order = [head] + [i for i in range(len(pieces)) if i not in (head, last)]
    if last is not None:
        order.append(last)
    if not apart and any(len(pieces[index].strip()) % 4 for index in order[:-1]):
        return None
    return order


MIN_TEXT_PIECE = 4096
"""Base64 characters a request must carry in one string to be taken for a piece of a file."""
_TEXT_PIECE = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_SPACE = re.compile(r"\s+")
_PRECHECK = b"A" * 1024
MAX_NODES = 100_000


def text_piece_of(data: bytes | memoryview) -> str | None:
    """The one long base64 string a JSON or text body carries (at least `MIN_TEXT_PIECE`
    characters, line breaks allowed), or None: the piece of a recording's base64 that one
    request of several carries. The longest such string of a JSON document, or the whole of a
    text body that is base64. A body without a 1,024-character base64 run costs one translate
    and one `find` (`jsonmedia.base64_runs`'s map)."""
    raw = bytes(data)
    if raw.translate(RUN_MAP).find(_PRECHECK) < 0:
        return None
    stripped = raw.strip()
    best = ""
    if stripped[:1] in (b"{", b"["):
        try:
            document = json.loads(stripped)
        except (ValueError, RecursionError):
            return None
        stack: list[object] = [document]
        nodes = 0
        while stack and nodes < MAX_NODES:
            node = stack.pop()
            nodes += 1
            if isinstance(node, str):
                best = node if len(node) > len(best) else best
            elif isinstance(node, dict):
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    else:
        best = stripped.decode("ascii", "replace")
    cleaned = _SPACE.sub("", best) if len(best) >= MIN_TEXT_PIECE else ""
    return cleaned if len(cleaned) >= MIN_TEXT_PIECE and _TEXT_PIECE.fullmatch(cleaned) else None
