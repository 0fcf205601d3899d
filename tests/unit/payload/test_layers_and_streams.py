"""Encodings of encodings (layers.py) and base64 cut over the records of one body (streams.py).

Real media made by the test (espeak-ng + ffmpeg); each case checks that the walker hands back
exactly the recording's bytes as one part, and that ordinary bodies of the same shapes yield
nothing (no part, no error).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from agent.payload import ExtractLimits, extract_payload
from agent.payload.layers import DEEPER, MEDIA, inner_head, peel
from agent.payload.sniff import has_media_signature
from agent.payload.streams import piece_streams, split_records
from agent.payload.types import Extraction
from tests.support.media import DICTATIONS, MediaFactory
from tests.unit.payload.test_walker import PROBE, chat, found

LIMITS = ExtractLimits(max_bytes=64 << 20)


@pytest.fixture(scope="module")
def mp3(media_factory: MediaFactory) -> bytes:
    return media_factory.encode(media_factory.speech(DICTATIONS[0]), ".mp3", "-b:a", "48k").read_bytes()


def walk(body: bytes, content_type: str | None, limits: ExtractLimits = LIMITS) -> Extraction:
    return extract_payload(body, content_type, None, limits, PROBE)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def layered(media: bytes, encodings: str) -> str:
    """`media` encoded by each of `encodings` in turn ("b" base64, "h" hex, "u" URL-safe base64)."""
    data = media
    for code in encodings:
        data = {"b": base64.b64encode, "h": lambda d: d.hex().encode(), "u": base64.urlsafe_b64encode}[code](data)
    return data.decode()


# --- layers ------------------------------------------------------------------------------------


def test_inner_head_reads_hex_before_base64(mp3: bytes) -> None:
    assert inner_head(mp3[:600].hex().encode()) == mp3[:600]
    assert inner_head(b64(mp3[:600]).encode()) == mp3[:600]
    assert inner_head(b"the patient is well") is None


def test_peel_finds_media_within_the_bound_and_reports_deeper(mp3: bytes) -> None:
    head = layered(mp3[:3000], "bb").encode()
    assert peel(head, has_media_signature, 2) == MEDIA
    assert peel(head, has_media_signature, 1) == DEEPER  # still encoded when the bound is spent
    assert peel(b64(b"plain words, no media at all " * 20).encode(), has_media_signature, 3) is None


@pytest.mark.parametrize("encodings", ["bb", "bh", "hb", "bbb", "ub", "bbbb"])
def test_nested_encodings_in_chat_are_found(mp3: bytes, encodings: str) -> None:
    result = walk(chat(layered(mp3, encodings)), "application/json")
    found(result, mp3)
    assert not result.errors, result.errors


def test_wrapped_double_base64_in_text_plain(mp3: bytes) -> None:
    inner = layered(mp3, "b").encode()
    outer = "\n".join(b64(inner)[i : i + 76] for i in range(0, len(b64(inner)), 76))  # the `base64` tool
    found(walk(outer.encode(), "text/plain"), mp3)


def test_text_encoded_past_the_bound_is_an_error_naming_it(mp3: bytes) -> None:
    result = walk(chat(layered(mp3, "bbbbb")), "application/json")
    assert not result.parts
    assert any("(bound max_text_layers)" in error for error in result.errors), result.errors


def test_bound_is_configurable(mp3: bytes) -> None:
    result = walk(chat(layered(mp3, "bbb")), "application/json", ExtractLimits(max_text_layers=1))
    assert not result.parts
    assert any("(bound max_text_layers)" in error for error in result.errors)


def test_base64_of_text_is_not_media() -> None:
    note = b64(b64(("The patient reports mild pain after the procedure. " * 40).encode()).encode())
    result = walk(chat(note), "application/json")
    assert not result.parts
    assert not result.errors


# --- pieces across records ---------------------------------------------------------------------

CHUNK = 4096


def _pieces(media: bytes, size: int = CHUNK) -> list[str]:
    text = b64(media)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _per_chunk_b64(media: bytes, size: int = 3000) -> list[str]:
    """Each binary chunk base64-encoded on its own (padding inside the stream)."""
    return [b64(media[i : i + size + 1]) for i in range(0, len(media), size + 1)]


STREAMS: dict[str, Callable[[list[str]], tuple[bytes, str | None]]] = {
    "ndjson": lambda p: (b"\n".join(json.dumps({"chunk": c}).encode() for c in p), "application/x-ndjson"),
    "ndjson-untyped": lambda p: (
        b"\n".join(json.dumps({"seq": i, "chunk": c}).encode() for i, c in enumerate(p)),
        None,
    ),
    "ndjson-nested-key": lambda p: (
        b"\n".join(json.dumps({"type": "audio", "data": {"audio": c}}).encode() for c in p),
        "text/plain",
    ),
    "sse-json": lambda p: (
        b"".join(b"event: chunk\ndata: " + json.dumps({"chunk": c}).encode() + b"\n\n" for c in p),
        "text/event-stream",
    ),
    "sse-bare": lambda p: (b"".join(b"data: " + c.encode() + b"\n\n" for c in p), None),
    "array-of-strings": lambda p: (json.dumps({"parts": p}).encode(), "application/json"),
    "array-of-objects": lambda p: (
        json.dumps({"upload": [{"seq": i, "data": c} for i, c in enumerate(p)]}).encode(),
        "application/json",
    ),
}


@pytest.mark.parametrize("name", list(STREAMS))
def test_base64_cut_over_records_is_joined(mp3: bytes, name: str) -> None:
    body, content_type = STREAMS[name](_pieces(mp3))
    result = walk(body, content_type)
    where = found(result, mp3)
    assert ".." in where or ":" in where, where
    assert len(result.parts) == 1, [p.where for p in result.parts]  # no fragment parts besides
    assert not result.errors, result.errors


def test_pieces_each_padded_are_joined(mp3: bytes) -> None:
    body, content_type = STREAMS["ndjson"](_per_chunk_b64(mp3))
    found(walk(body, content_type), mp3)


def test_double_base64_cut_over_lines(mp3: bytes) -> None:
    body, content_type = STREAMS["ndjson"](_pieces(layered(mp3, "b").encode()))
    found(walk(body, content_type), mp3)


def test_records_of_ordinary_text_find_nothing() -> None:
    lines = [json.dumps({"id": f"{i:032x}", "token": "A" * 64, "text": "the patient is well"}) for i in range(50)]
    result = walk("\n".join(lines).encode(), "application/x-ndjson")
    assert not result.parts
    assert not result.errors


def test_split_records_shapes() -> None:
    assert split_records(b'{"a": 1}\n{"a": 2}\n') == [("line 1", b'{"a": 1}'), ("line 2", b'{"a": 2}')]
    assert split_records(b": hi\nevent: x\ndata: abc\n\ndata: {}\n") == [("line 3", b"abc"), ("line 5", b"{}")]
    assert split_records(b'{"a": 1}\nplain text\n') is None
    assert split_records(b'{"a": 1}') is None


def test_piece_streams_follow_keys_and_need_whole_groups() -> None:
    records: list[object] = [{"d": {"x": "QUFB" * 8}}, {"d": {"x": "QkJC" * 8}}, {"d": {"x": "Q0ND"}}]
    [stream] = piece_streams(records)
    assert (stream.path, stream.first, stream.stop) == (("d", "x"), 0, 2)  # "Q0ND" is too short to be a piece
    assert piece_streams([{"x": "QUFB" * 8 + "Q"}, {"x": "QkJC" * 8}]) == []  # cut mid-group: not one string
