"""Joining pieces of one file: when an archive's join can be opened, and how base64 pieces fit."""

from __future__ import annotations

import base64
import json
import os
import struct

from agent.payload.joining import MIN_TEXT_PIECE, file_header, fit_order, ready_to_open, text_piece_of
from agent.proxy.pieces import PieceJoiner
from tests.unit.payload import wrappers

WAV_HEAD = b"RIFF\x24\x00\x10\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80>\x00\x00\x00}\x00\x00\x02\x00\x10\x00data"


def _rank(piece: str) -> int:
    head = base64.b64decode(piece[: len(piece) // 4 * 4][:64])
    return 2 if file_header(head) else 0


def test_zip_join_opens_once_its_end_record_arrived() -> None:
    archive = wrappers.zip_of({"a.wav": WAV_HEAD + os.urandom(200_000)})
    half = len(archive) // 2
    assert not ready_to_open("zip", archive[:64], half, archive[:half][-70_000:], 0)
    assert ready_to_open("zip", archive[:64], len(archive), archive[-70_000:], 0)
    assert not ready_to_open("zip", archive[:64], len(archive), archive[-70_000:], len(archive))  # walked already


def test_7z_join_opens_at_its_declared_size() -> None:
    archive = wrappers.libarchive_of({"a.wav": WAV_HEAD + os.urandom(100_000)}, "7zip")
    offset, size = struct.unpack_from("<QQ", archive, 12)
    assert 32 + offset + size == len(archive)
    assert not ready_to_open("7z", archive[:64], len(archive) - 1, b"", 0)
    assert ready_to_open("7z", archive[:64], len(archive), b"", 0)


def test_streamed_join_is_walked_again_after_a_quarter_of_growth_or_at_its_last_piece() -> None:
    assert ready_to_open("gzip", b"\x1f\x8b", 100, b"", 0)
    assert not ready_to_open("gzip", b"\x1f\x8b", 120, b"", 100)
    assert ready_to_open("gzip", b"\x1f\x8b", 125, b"", 100)
    assert ready_to_open("gzip", b"\x1f\x8b", 110, b"", 100, last=True)


def test_header_piece_sent_last_goes_first_and_padding_last() -> None:
    text = base64.b64encode(WAV_HEAD + os.urandom(3000)).decode()
    pieces = [text[i : i + 1024] for i in range(0, len(text), 1024)]
    assert pieces[-1].endswith("=")
    sent = [pieces[-1], *pieces[1:-1], pieces[0]]  # padded piece first, header piece last
    order = fit_order(sent, _rank)
    assert order is not None
    assert [sent[i] for i in order] == pieces
    assert fit_order(pieces[1:], _rank) is None  # no header piece: nothing to join


def test_pieces_cut_mid_quantum_do_not_fit_out_of_order() -> None:
    text = base64.b64encode(WAV_HEAD + os.urandom(3000)).decode()
    pieces = [text[:1001], text[1001:2002], text[2002:]]
    assert fit_order([pieces[1], pieces[2], pieces[0]], _rank) is None


def test_text_piece_of_json_and_plain_bodies() -> None:
    piece = base64.b64encode(os.urandom(MIN_TEXT_PIECE)).decode()
    assert text_piece_of(json.dumps({"index": 3, "data": piece, "model": "x"}).encode()) == piece
    assert text_piece_of(piece.encode()) == piece
    assert text_piece_of(json.dumps({"text": "the patient is well " * 400}).encode()) is None
    assert text_piece_of(json.dumps({"data": piece[:1000]}).encode()) is None


def test_joiner_reorders_base64_pieces_sent_over_requests() -> None:
    wav = WAV_HEAD + os.urandom(60_000)
    text = base64.b64encode(wav).decode()
    pieces = [text[i : i + 8192] for i in range(0, len(text), 8192)]
    joiner = PieceJoiner()
    candidates = []
    for piece in [*pieces[1:], pieces[0]]:
        candidates = joiner.add(("c", "h#base64"), piece.encode(), text=True)
    assert len(candidates) == 1
    assert candidates[0].label == f"joined:base64:header-first:{len(pieces)}"
    assert candidates[0].data == wav
    assert candidates[0].walk


def test_joiner_opens_a_split_zip_once_whole_and_never_joins_a_matched_piece_into_media_windows() -> None:
    archive = wrappers.zip_of({"a.wav": WAV_HEAD + os.urandom(300_000)})
    pieces = [archive[i : i + 65536] for i in range(0, len(archive), 65536)]
    joiner = PieceJoiner()
    found = [joiner.add(("c", "h"), piece, alone=index == 1) for index, piece in enumerate([*pieces[1:], pieces[0]])]
    before = [candidate for candidates in found[:-1] for candidate in candidates]
    assert not any(candidate.walk for candidate in before)  # no header piece yet: no archive to open
    assert all(pieces[2] not in candidate.data for candidate in before)  # the piece matched alone
    (joined,) = found[-1]
    assert joined.walk
    assert joined.data == archive
    assert joined.label == f"joined:header-first:{len(pieces)}"
