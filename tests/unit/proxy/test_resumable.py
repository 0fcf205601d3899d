"""Chunk identification and session reassembly for resumable / multi-part uploads."""

from __future__ import annotations

import time

import pytest

from agent.proxy.resumable import ChunkRequest, SessionTable, identify_chunk


def chunk(method: str, path: str, headers: dict[str, str], query: dict[str, str] | None = None) -> ChunkRequest | None:
    return identify_chunk(method, "api.example.com", path, query or {}, headers)


def test_openai_uploads_parts_and_complete() -> None:
    part = chunk("POST", "/v1/uploads/upload_abc123/parts", {})
    assert part is not None
    assert part.protocol == "openai-uploads"
    assert part.multipart_field == "data"
    assert part.offset is None
    assert not part.final
    done = chunk("POST", "/v1/uploads/upload_abc123/complete", {})
    assert done is not None
    assert done.final
    assert done.control
    assert done.key == part.key
    assert chunk("GET", "/v1/uploads/upload_abc123/parts", {}) is None


def test_google_resumable_commands() -> None:
    start = chunk("POST", "/upload/v1beta/files", {"x-goog-upload-command": "start"})
    assert start is None  # the start request carries metadata only
    query = {"upload_id": "XYZ", "upload_protocol": "resumable"}
    upload = chunk(
        "POST", "/upload/v1beta/files", {"x-goog-upload-command": "upload", "x-goog-upload-offset": "0"}, query
    )
    final = chunk(
        "POST",
        "/upload/v1beta/files",
        {"x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "100"},
        query,
    )
    assert upload is not None
    assert final is not None
    assert upload.key == final.key
    assert "upload_id=XYZ" in upload.key
    assert (upload.offset, upload.final, final.offset, final.final) == (0, False, 100, True)
    query_only = chunk("POST", "/upload/v1beta/files", {"x-goog-upload-command": "query"}, query)
    assert query_only is not None
    assert query_only.control


def test_tus_and_content_range() -> None:
    tus = chunk("PATCH", "/files/abc", {"tus-resumable": "1.0.0", "upload-offset": "42"})
    assert tus is not None
    assert tus.protocol == "tus"
    assert tus.offset == 42
    ranged = chunk("PUT", "/upload", {"content-range": "bytes 100-199/200"}, {"uploadId": "u1"})
    assert ranged is not None
    assert ranged.offset == 100
    assert ranged.final
    assert "uploadId=u1" in ranged.key
    status = chunk("PUT", "/upload", {"content-range": "bytes */200"})
    assert status is not None
    assert status.control
    assert chunk("POST", "/v1/chat/completions", {"content-type": "application/json"}) is None


def test_in_order_and_out_of_order_reassembly() -> None:
    table = SessionTable(max_bytes=1000)
    key = ChunkRequest("tus", "k", 0, False)
    session = table.open(key)
    assert session.add(b"aaaa", 0, 1000)
    assert not session.add(b"cccc", 8, 1000)  # gap: held back
    assert session.add(b"bbbb", 4, 1000)  # fills the gap, pulls the held chunk in
    assert bytes(session.prefix) == b"aaaabbbbcccc"
    assert not session.add(b"bbbb", 4, 1000)  # retransmission: nothing new
    assert session.add(b"ccccdd", 8, 1000)  # overlap extends
    assert bytes(session.prefix) == b"aaaabbbbccccdd"


def test_append_mode_and_overflow() -> None:
    table = SessionTable(max_bytes=10)
    session = table.open(ChunkRequest("openai-uploads", "k", None, False))
    assert session.add(b"12345", None, 10)
    assert session.add(b"67890", None, 10)
    assert not session.add(b"x", None, 10)
    assert session.overflow
    assert len(session.prefix) == 10


def test_table_is_bounded_and_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    table = SessionTable(max_sessions=3, ttl_s=60)
    for name in "abcd":
        table.open(ChunkRequest("tus", name, 0, False))
    assert len(table) == 3
    assert table.get("a") is None
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + 120)
    assert table.get("d") is None
    assert len(table) == 0


def test_release_drops_bytes_keeps_facts() -> None:
    session = SessionTable().open(ChunkRequest("tus", "k", 0, False))
    session.add(b"x" * 100, 0, 1000)
    session.release()
    assert session.prefix == bytearray()
    assert session.received == 100
    assert session.chunks == 1
