"""Forwarding to a real rsyslogd on loopback over TLS and TCP, through outages and a kill -9.

The receiver dedupes nothing; the test does what a SIEM would (first delivery of each
record id) and checks that every record arrived and that each agent's records arrived in
the order they were recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from agent.config import SiemDestination, SiemSection
from agent.siem import outbox
from agent.siem.component import SiemForwarder
from agent.siem.destination import build_destination
from agent.siem.sender import DeliveryError
from agent.store import Store
from tests.support.rsyslog import Rsyslog, TlsFiles, make_tls_files
from tests.support.siem import add_events, close_as_false_positive, first_seen, parse_received

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[trustme.CA, TlsFiles]:
    return make_tls_files(tmp_path / "tls")


@pytest.fixture
def tls_rsyslog(tmp_path: Path, tls_files: tuple[trustme.CA, TlsFiles]) -> Iterator[Rsyslog]:
    server = Rsyslog(tmp_path / "rsyslog", tls=tls_files[1])
    server.start()
    yield server
    server.stop()


def forwarder(store: Store, destination: SiemDestination, *, batch: int = 50) -> SiemForwarder:
    settings = SiemSection(destinations=[destination], batch=batch, poll_seconds=0.05)
    return SiemForwarder(store, [build_destination(destination, "ws.hospital.local")], settings)


def wait_for_empty_outbox(store: Store, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while outbox.backlog(store) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert outbox.backlog(store) == 0, f"{outbox.backlog(store)} records still queued"


def test_kill_and_restart_mid_stream_loses_and_reorders_nothing(
    store: Store, tls_rsyslog: Rsyslog, tls_files: tuple[trustme.CA, TlsFiles]
) -> None:
    destination = SiemDestination(
        name="soc", transport="tls", host="127.0.0.1", port=tls_rsyslog.port, ca_file=tls_files[1].ca
    )
    link = forwarder(store, destination, batch=40)
    link.start()
    produced: dict[str, list[str]] = {"ws-a": [], "ws-b": []}
    done = threading.Event()

    def produce() -> None:
        for round_ in range(60):
            for agent in produced:
                produced[agent] += add_events(store, agent, 10, start=round_ * 10)
            time.sleep(0.02)
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.4)
    tls_rsyslog.kill()  # mid-stream: batches in flight are cut
    time.sleep(0.8)  # the outage: records queue in the store meanwhile
    tls_rsyslog.start()
    producer.join(60)
    assert done.is_set()
    close_as_false_positive(store, produced["ws-a"][:25])  # the console's triage goes out too
    wait_for_empty_outbox(store)
    state = link.states[0]
    link.stop()

    received = parse_received(tls_rsyslog.messages())
    unique = first_seen(received)
    assert state.failed_batches > 0, "the kill did not interrupt delivery: the test proved nothing"
    for agent, ids in produced.items():
        events = [r.uid for r in unique if r.agent == agent and "." not in r.uid]
        assert events == ids, f"{agent}: {len(events)} of {len(ids)} events, or out of order"
    triage = [r.uid.split(".")[0] for r in unique if "." in r.uid]
    assert triage == produced["ws-a"][:25]
    seqs = [r.seq for r in unique]
    assert seqs == sorted(seqs)


def test_outage_from_the_start_queues_then_delivers_in_order_over_plain_tcp(store: Store, tmp_path: Path) -> None:
    server = Rsyslog(tmp_path / "rsyslog")
    destination = SiemDestination(name="tcp", transport="tcp", host="127.0.0.1", port=server.port, format="cef")
    link = forwarder(store, destination)
    link.start()
    ids = add_events(store, "ws-a", 120)
    time.sleep(0.5)
    assert outbox.backlog(store, "tcp") == 120
    health = link.health()
    assert health.status == "degraded"
    assert "failing for" in health.message
    assert "cannot connect" in health.message
    server.start()
    try:
        wait_for_empty_outbox(store)
        assert link.health().status == "ok"
    finally:
        link.stop()
        server.stop()
    messages = server.messages()
    assert all("CEF:0|PhiWall|PhiWall|" in m for m in messages)
    version, facility, severity, hostname, app, procid, msgid, sd = server.parsed_fields()[0]
    assert (version, facility, severity, hostname, app, procid, msgid) == (
        "1",
        "16",
        "4",
        "ws.hospital.local",
        "phiwall",
        "-",
        "event",
    )  # local0, warning (a block): rsyslog's RFC 5424 parser read every header field
    assert sd.startswith(f'[phiwall@32473 uid="{ids[0]}" agent="ws-a" seq="')
    assert [r.uid for r in first_seen(parse_received(messages))] == ids


def test_a_server_certificate_from_another_ca_is_refused(store: Store, tls_rsyslog: Rsyslog, tmp_path: Path) -> None:
    _, other = make_tls_files(tmp_path / "other-ca")
    destination = SiemDestination(
        name="soc", transport="tls", host="127.0.0.1", port=tls_rsyslog.port, ca_file=other.ca
    )
    link = forwarder(store, destination)
    outbox.register(store, ["soc"])
    add_events(store, "ws-a", 3)
    with pytest.raises(DeliveryError, match="server certificate not trusted"):
        link.forward_once(link.states[0])
    assert outbox.backlog(store, "soc") == 3
    assert tls_rsyslog.messages() == []


def test_mutual_tls_with_a_client_certificate(store: Store, tmp_path: Path) -> None:
    ca, files = make_tls_files(tmp_path / "tls")
    client = ca.issue_cert("ws-a.hospital.local")
    client_pem = tmp_path / "client.pem"
    client.private_key_and_cert_chain_pem.write_to_path(str(client_pem))
    server = Rsyslog(tmp_path / "rsyslog", tls=files, client_auth=True)
    server.start()
    try:
        common = {"transport": "tls", "host": "127.0.0.1", "port": server.port, "ca_file": files.ca}
        anonymous = SiemDestination(name="anonymous", **common)  # type: ignore[arg-type]
        mutual = SiemDestination(name="mtls", client_cert=client_pem, **common)  # type: ignore[arg-type]
        link = SiemForwarder(
            store,
            [build_destination(anonymous, "ws"), build_destination(mutual, "ws")],
            SiemSection(destinations=[anonymous, mutual]),
        )
        link.start()
        link.stop()  # registered; each destination is driven by hand below
        add_events(store, "ws-a", 5)
        with pytest.raises(DeliveryError):
            link.forward_once(link.states[0])
        time.sleep(0.2)
        assert server.messages() == []
        assert link.forward_once(link.states[1]) == 5
        assert len(server.messages()) == 5
    finally:
        server.stop()
