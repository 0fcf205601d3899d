"""The PHI rules in logging and events, and the background event writer."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import select

from agent.logs import PayloadGuard
from agent.store import Event, EventWriter, make_event


def _record(msg: object, *args: object) -> logging.LogRecord:
    return logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)


def test_payload_guard_withholds_bytes() -> None:
    record = _record("got %s from %s", b"RIFF....WAVEfmt secret audio", "host")
    PayloadGuard().filter(record)
    text = record.getMessage()
    assert "secret" not in text
    assert "bytes withheld" in text
    assert "host" in text


def test_payload_guard_clips_long_strings() -> None:
    transcript = "patient said " + "x" * 5000
    record = _record("body %s", transcript)
    PayloadGuard().filter(record)
    assert len(record.getMessage()) < 300


def test_payload_guard_handles_mapping_args() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "%(body)s", None, None)
    record.args = {"body": b"\x00" * 10}
    PayloadGuard().filter(record)
    assert record.getMessage() == "<10 bytes withheld>"


def test_make_event_refuses_bytes() -> None:
    with pytest.raises(TypeError, match="PHI rule"):
        make_event(verdict="block", reason=b"audio")  # type: ignore[arg-type]


def test_make_event_serialises_details() -> None:
    event = make_event(verdict="block", reason="r", details={"sha256": "ab", "parts": 2})
    assert event.details == '{"parts": 2, "sha256": "ab"}'


def test_event_writer_writes_batches_and_flushes(store) -> None:  # type: ignore[no-untyped-def]
    seen: list[int] = []
    writer = EventWriter(store, batch=50, on_written=lambda rows: seen.append(len(rows)))
    writer.start()
    for i in range(120):
        assert writer.submit(make_event(verdict="allow", reason=f"r{i}"))
    writer.flush()
    writer.stop()
    with store.session() as session:
        reasons = {e.reason for e in session.exec(select(Event)).all()}
    assert reasons == {f"r{i}" for i in range(120)}
    assert sum(seen) == 120
    assert writer.written == 120
    assert writer.dropped == 0


def test_event_writer_never_blocks_when_full(store) -> None:  # type: ignore[no-untyped-def]
    writer = EventWriter(store, max_queue=5)  # not started: nothing drains the queue
    results = [writer.submit(make_event(verdict="allow", reason="x")) for _ in range(8)]
    assert results.count(True) == 5
    assert writer.dropped == 3
