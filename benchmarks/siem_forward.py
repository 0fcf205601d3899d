"""SIEM forwarding: records per second through the outbox to a real rsyslogd over TLS, and
the count delivered across a kill -9 / restart of rsyslogd (must equal the count produced).

Throughput: N events are recorded (the outbox fills through its trigger), then one
`SiemForwarder` destination drains them to rsyslogd over TLS (OCSF JSON in RFC 5424,
octet-counted). Baseline in the same process: the same records formatted and written to
a local JSON-lines file destination, the floor set by the outbox reads and formatting.
Kill/restart: events are recorded while the forwarder runs; rsyslogd is killed mid-stream
and started again; unique record ids received are counted and checked in order per agent.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/siem_forward.py [--events 5000] [--batch 500]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.config import SiemDestination, SiemSection
from agent.siem import outbox
from agent.siem.component import SiemForwarder
from agent.siem.destination import build_destination
from agent.store import Store, open_store
from tests.support.rsyslog import Rsyslog, make_tls_files
from tests.support.siem import add_events, first_seen, parse_received


def drain(store: Store, destination: SiemDestination, batch: int) -> tuple[float, SiemForwarder]:
    """Start a forwarder on an already filled outbox; seconds until it is empty."""
    link = SiemForwarder(
        store,
        [build_destination(destination, "bench.hospital.local")],
        SiemSection(destinations=[destination], batch=batch, poll_seconds=0.01),
    )
    started = time.perf_counter()
    link.start()
    while outbox.backlog(store, destination.name):
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    link.stop()
    return elapsed, link


def fill(root: Path, name: str, destination: str, events: int) -> Store:
    store = open_store(f"sqlite:///{root / name}")
    outbox.register(store, [destination])
    for start in range(0, events, 1000):
        add_events(store, "ws-bench", min(1000, events - start), start)
    return store


def throughput(root: Path, events: int, batch: int) -> None:
    file_store = fill(root, "file.db", "file", events)
    target = SiemDestination(name="file", transport="file", path=root / "out" / "siem.jsonl")
    file_s, _ = drain(file_store, target, batch)
    file_store.dispose()

    _, tls = make_tls_files(root / "tls")
    server = Rsyslog(root / "rsyslog-tp", tls=tls)
    server.start()
    try:
        tls_store = fill(root, "tls.db", "soc", events)
        target = SiemDestination(name="soc", transport="tls", host="127.0.0.1", port=server.port, ca_file=tls.ca)
        tls_s, _ = drain(tls_store, target, batch)
        tls_store.dispose()
        received = len(first_seen(parse_received(server.messages())))
    finally:
        server.stop()
    print(f"events: {events}, batch: {batch}")
    print(f"baseline  outbox -> JSON-lines file (OCSF):   {events / file_s:10.0f} records/s ({file_s:.2f} s)")
    print(f"measured  outbox -> rsyslogd over TLS (OCSF): {events / tls_s:10.0f} records/s ({tls_s:.2f} s)")
    print(f"ratio TLS/file: {file_s / tls_s:.2f}; unique records received by rsyslogd: {received}")


def kill_restart(root: Path, events: int, batch: int) -> None:
    _, tls = make_tls_files(root / "tls-kr")
    server = Rsyslog(root / "rsyslog-kr", tls=tls)
    server.start()
    store = open_store(f"sqlite:///{root / 'kr.db'}")
    target = SiemDestination(name="soc", transport="tls", host="127.0.0.1", port=server.port, ca_file=tls.ca)
    link = SiemForwarder(
        store,
        [build_destination(target, "bench.hospital.local")],
        SiemSection(destinations=[target], batch=batch, poll_seconds=0.05),
    )
    link.start()
    produced: dict[str, list[str]] = {"ws-a": [], "ws-b": []}
    rounds = max(1, events // 40)

    def produce() -> None:
        for round_ in range(rounds):
            for agent in produced:
                produced[agent] += add_events(store, agent, 20, round_ * 20)
            time.sleep(0.005)

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.5)
    server.kill()
    time.sleep(1.0)
    server.start()
    producer.join()
    deadline = time.monotonic() + 120
    while outbox.backlog(store) and time.monotonic() < deadline:
        time.sleep(0.05)
    failed = link.states[0].failed_batches
    link.stop()
    store.dispose()
    received = parse_received(server.messages())
    server.stop()
    unique = first_seen(received)
    total = sum(len(ids) for ids in produced.values())
    in_order = all([r.uid for r in unique if r.agent == agent] == ids for agent, ids in produced.items())
    print(f"kill -9 + restart of rsyslogd mid-stream ({failed} failed deliveries):")
    print(f"  produced {total}, delivered {len(unique)} unique ({len(received) - len(unique)} duplicates)")
    print(f"  every record delivered: {len(unique) == total}; in order per agent: {in_order}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="phiwall-siem-bench-") as tmp:
        root = Path(tmp)
        throughput(root, args.events, args.batch)
        kill_restart(root, args.events // 4, args.batch)


if __name__ == "__main__":
    main()
