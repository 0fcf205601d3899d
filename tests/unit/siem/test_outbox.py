"""The SIEM outbox: triggers queue events and the console's triage rows, cursors move per destination."""

from __future__ import annotations

from pathlib import Path

from agent.components import AgentContext
from agent.config import Config, SiemDestination, SiemSection
from agent.siem import outbox, records
from agent.siem.component import build
from agent.store import EventWriter, Store
from tests.support.siem import add_events, close_as_false_positive


def test_nothing_is_queued_until_a_destination_is_registered(store: Store) -> None:
    add_events(store, "ws-a", 3)
    assert outbox.pending(store, "soc", 100) == []
    outbox.register(store, ["soc"])
    ids = add_events(store, "ws-a", 2)
    assert [(q.kind, q.ref) for q in outbox.pending(store, "soc", 100)] == [("event", i) for i in ids]


def test_triage_written_by_the_console_is_queued_after_its_event(store: Store) -> None:
    outbox.register(store, ["soc"])
    ids = add_events(store, "ws-a", 2)
    close_as_false_positive(store, ids)
    queued = outbox.pending(store, "soc", 100)
    assert [q.kind for q in queued] == ["event", "event", "triage", "triage"]
    loaded = records.load(store, queued)
    assert [r.uid for r in loaded[:2]] == ids
    triage = loaded[2]
    assert triage.triage is not None
    assert triage.triage.state == "closed"
    assert triage.triage.analyst == "analyst.kim"
    assert triage.uid == f"{ids[0]}.t{triage.triage.id}"
    assert triage.agent_id == "ws-a"


def test_cursors_are_per_destination_and_rows_go_once_all_passed(store: Store) -> None:
    outbox.register(store, ["soc", "file"])
    add_events(store, "ws-a", 5)
    first = outbox.pending(store, "soc", 3)
    outbox.advance(store, "soc", first[-1].seq)
    assert outbox.backlog(store, "soc") == 2
    assert outbox.backlog(store, "file") == 5
    assert len(outbox.pending(store, "file", 100)) == 5  # nothing trimmed under the slower one
    outbox.advance(store, "file", first[-1].seq)
    assert outbox.backlog(store) == 2
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from siem_outbox").scalar_one() == 2


def test_removing_a_destination_unblocks_trimming_and_turning_off_stops_queueing(store: Store) -> None:
    outbox.register(store, ["soc", "old"])
    add_events(store, "ws-a", 3)
    outbox.advance(store, "soc", outbox.pending(store, "soc", 100)[-1].seq)
    outbox.register(store, ["soc"])  # "old" removed from the config
    assert outbox.backlog(store) == 0
    add_events(store, "ws-a", 1)
    assert outbox.unregister_all(store) == 1
    add_events(store, "ws-a", 1)
    assert outbox.backlog(store) == 0
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from siem_outbox").scalar_one() == 0


def test_seq_is_never_reused_after_the_outbox_empties(store: Store) -> None:
    outbox.register(store, ["soc"])
    add_events(store, "ws-a", 2)
    last = outbox.pending(store, "soc", 100)[-1].seq
    outbox.advance(store, "soc", last)
    add_events(store, "ws-a", 1)
    again = outbox.pending(store, "soc", 100)
    assert len(again) == 1
    assert again[0].seq > last


def test_rows_whose_event_was_deleted_are_skipped(store: Store) -> None:
    outbox.register(store, ["soc"])
    ids = add_events(store, "ws-a", 2)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("delete from event where id = ?", (ids[0],))
    loaded = records.load(store, outbox.pending(store, "soc", 100))
    assert [r.uid for r in loaded] == [ids[1]]


def test_the_last_delivered_batch_stays_replayable_until_the_next_one(store: Store) -> None:
    outbox.register(store, ["soc"])
    add_events(store, "ws-a", 4)
    batch = outbox.pending(store, "soc", 2)
    outbox.advance(store, "soc", batch[-1].seq, batch[0].seq - 1)
    assert outbox.pending(store, "soc", 10, replay=True)[:2] == batch  # after a failure: sent again
    assert len(outbox.pending(store, "soc", 10)) == 2  # normally: what follows
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from siem_outbox").scalar_one() == 4  # kept for replay
    rest = outbox.pending(store, "soc", 10)
    outbox.advance(store, "soc", rest[-1].seq, rest[0].seq - 1)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from siem_outbox").scalar_one() == 2


def test_run_without_destinations_stops_queueing_and_drops_the_queue(store: Store, tmp_path: Path) -> None:
    outbox.register(store, ["soc"])
    add_events(store, "ws-a", 3)
    context = AgentContext(Config(), store, "ws-a", tmp_path, "127.0.0.1:0", EventWriter(store))
    assert build(context) is None
    add_events(store, "ws-a", 2)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from siem_outbox").scalar_one() == 0
    destination = SiemDestination(name="f", transport="file", path=tmp_path / "x")
    configured = Config(siem=SiemSection(destinations=[destination]))
    forwarder = build(AgentContext(configured, store, "ws-a", tmp_path, "127.0.0.1:0", EventWriter(store)))
    assert forwarder is not None
    assert [s.destination.name for s in forwarder.states] == ["f"]
