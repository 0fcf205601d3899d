"""The split-upload joiner: what it joins, in which order, and the bounds that keep it small."""

from __future__ import annotations

import io
import zipfile

from agent.proxy.pieces import PieceJoiner, piece_of
from agent.proxy.resumable import SessionFlag

KEY = ("127.0.0.1", "ai.example")
WAV_HEAD = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(5000)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def piece(tag: int, size: int = 5000) -> bytes:
    return bytes([tag]) * size


def test_first_piece_alone_gives_nothing_to_match() -> None:
    joiner = PieceJoiner()
    assert joiner.add(KEY, piece(1)) == []
    assert joiner.has_pieces(KEY)


def test_pieces_are_joined_in_arrival_order() -> None:
    joiner = PieceJoiner()
    joiner.add(KEY, WAV_HEAD)
    joiner.add(KEY, piece(1))
    [candidate] = joiner.add(KEY, piece(2))
    assert candidate.label == "joined:arrival:3"
    assert candidate.data == WAV_HEAD + piece(1) + piece(2)


def test_a_header_piece_sent_last_goes_first() -> None:
    joiner = PieceJoiner()
    joiner.add(KEY, piece(1))
    joiner.add(KEY, piece(2))
    [candidate] = joiner.add(KEY, WAV_HEAD)
    assert candidate.label == "joined:header-first:3"
    assert candidate.data == WAV_HEAD + piece(1) + piece(2)


def test_join_window_keeps_the_header_and_the_latest_pieces() -> None:
    joiner = PieceJoiner(join_bytes=len(WAV_HEAD) + 2 * 5000)
    joiner.add(KEY, WAV_HEAD)
    for tag in range(1, 6):
        candidates = joiner.add(KEY, piece(tag))
    assert candidates[0].data == WAV_HEAD + piece(4) + piece(5)


def test_streams_are_per_client_and_destination() -> None:
    joiner = PieceJoiner()
    joiner.add(KEY, piece(1))
    assert joiner.add(("127.0.0.9", "ai.example"), piece(2)) == []
    assert joiner.add(("127.0.0.1", "other.example"), piece(3)) == []
    assert len(joiner) == 3


def test_small_bodies_are_not_pieces() -> None:
    joiner = PieceJoiner(min_piece=4096)
    assert joiner.add(KEY, b"x" * 100) == []
    assert not joiner.has_pieces(KEY)


def test_a_short_piece_continuing_a_stream_is_its_last_piece() -> None:
    joiner = PieceJoiner(min_piece=4096)
    joiner.add(KEY, WAV_HEAD)
    assert joiner.continues(KEY)
    [candidate] = joiner.add(KEY, b"\x07" * 100)  # `split`'s remainder
    assert candidate.data == WAV_HEAD + b"\x07" * 100
    assert not joiner.continues(("127.0.0.9", "ai.example"))


def test_a_zip_split_in_small_pieces_opens_when_its_short_tail_arrives() -> None:
    media = bytes(range(256)) * 160  # 40 KB, stored: the pieces hold no end record until the last
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("dictation.wav", media)
    data = buffer.getvalue()
    pieces = [data[i : i + 8192] for i in range(0, len(data), 8192)]
    assert len(pieces[-1]) < 4096
    joiner = PieceJoiner(min_piece=4096)
    results = [joiner.add(KEY, piece) for piece in pieces]
    assert all(result == [] for result in results[:-1])
    [candidate] = results[-1]
    assert candidate.walk
    assert candidate.data == data


def test_a_short_piece_to_a_flagged_stream_is_refused_not_kept() -> None:
    joiner = PieceJoiner(min_piece=4096)
    joiner.add(KEY, WAV_HEAD)
    joiner.flag(KEY, SessionFlag("incident-1", "clinical"))
    assert joiner.continues(KEY)
    assert joiner.add(KEY, b"x" * 100) == []
    assert joiner.buffered_bytes == 0


def test_piece_count_and_stream_bytes_are_bounded() -> None:
    joiner = PieceJoiner(max_pieces=3, max_stream_bytes=12_000)
    for tag in range(10):
        joiner.add(KEY, piece(tag))
    assert joiner.buffered_bytes <= 12_000
    assert joiner.dropped_pieces == 8  # two pieces of 5000 fit in 12,000 bytes
    assert joiner.add(KEY, piece(99, 13_000)) == []  # a piece larger than a stream is never kept


def test_total_bytes_evict_least_recently_used_streams() -> None:
    joiner = PieceJoiner(max_total_bytes=12_000)
    joiner.add(("a", "h"), piece(1))
    joiner.add(("b", "h"), piece(2))
    joiner.add(("c", "h"), piece(3))
    assert joiner.buffered_bytes <= 12_000
    assert not joiner.has_pieces(("a", "h"))
    assert joiner.has_pieces(("c", "h"))


def test_stream_count_is_bounded() -> None:
    joiner = PieceJoiner(max_streams=2)
    for name in "abc":
        joiner.add((name, "h"), piece(1))
    assert len(joiner) == 2
    assert not joiner.has_pieces(("a", "h"))


def test_idle_streams_expire() -> None:
    clock = Clock()
    joiner = PieceJoiner(window_s=60, clock=clock)
    joiner.add(KEY, WAV_HEAD)
    clock.now += 59
    assert joiner.add(KEY, piece(1)) != []  # within the window: joined
    clock.now += 61
    assert joiner.add(KEY, piece(2)) == []  # the earlier pieces expired: a new stream
    clock.now += 61
    assert len(joiner) == 0
    assert joiner.buffered_bytes == 0


def test_a_flagged_stream_drops_its_bytes_and_stays_flagged_for_the_window() -> None:
    clock = Clock()
    joiner = PieceJoiner(window_s=60, clock=clock)
    joiner.add(KEY, WAV_HEAD)
    joiner.add(KEY, piece(1))
    joiner.flag(KEY, SessionFlag("incident-1", "clinical"))
    assert joiner.buffered_bytes == 0
    flagged = joiner.flagged(KEY)
    assert flagged is not None
    assert flagged.incident == "incident-1"
    assert joiner.add(KEY, piece(2)) == []
    assert joiner.buffered_bytes == 0
    clock.now += 61
    assert joiner.flagged(KEY) is None


def test_piece_of_a_request() -> None:
    body = b"\x00\x01" * 4000
    assert piece_of(body, "application/octet-stream") == body
    assert piece_of(body, None) == body
    assert piece_of(b'{"a": 1}', "application/json") is None
    assert piece_of(b"a=1", "application/x-www-form-urlencoded") is None
    multipart = (
        b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + body + b"\r\n--b--\r\n"
    )
    assert bytes(piece_of(multipart, "multipart/form-data; boundary=b") or b"") == body


def _zip_of(media: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("recording.wav", media)
    return buffer.getvalue()


def _header_last(data: bytes, size: int = 8192) -> list[bytes]:
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return pieces[1:] + pieces[:1]


def test_an_archive_read_whole_leaves_the_next_one_a_join_of_its_own() -> None:
    first, second = _zip_of(bytes(range(256)) * 120), _zip_of(bytes(range(255, -1, -1)) * 150)
    joiner = PieceJoiner(min_piece=4096)
    *_, opened = [joiner.add(KEY, piece) for piece in _header_last(first)]
    assert [c.data for c in opened] == [first]
    joiner.complete(KEY)  # read whole, nothing clinical in it
    assert not joiner.has_pieces(KEY)
    *_, opened = [joiner.add(KEY, piece) for piece in _header_last(second)]
    assert [c.data for c in opened] == [second]


def test_completing_a_flagged_stream_keeps_it_refused() -> None:
    joiner = PieceJoiner(min_piece=4096)
    joiner.add(KEY, WAV_HEAD)
    joiner.flag(KEY, SessionFlag("incident-1", "clinical"))
    joiner.complete(KEY)
    assert joiner.flagged(KEY) is not None
