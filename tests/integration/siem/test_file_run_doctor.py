"""The JSON-lines file (rotation, failures), `phiwall run` forwarding to it, and `phiwall doctor`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy.exc import SQLAlchemyError

from agent.checkup import DoctorContext
from agent.config import Config, SiemDestination, SiemSection
from agent.errors import StoreError
from agent.siem import outbox
from agent.siem.component import SiemForwarder
from agent.siem.destination import build_destination
from agent.siem.doctor import check_siem
from agent.siem.jsonl import RotatingJsonLines
from agent.siem.sender import DeliveryError
from agent.store import Store, open_store
from tests.support.rsyslog import Rsyslog, free_port, make_tls_files
from tests.support.siem import add_events, close_as_false_positive

PHIWALL = str(Path(sys.executable).with_name("phiwall"))
SCHEMA = Path(__file__).parents[3] / "agent/siem/schema/ocsf-1.5.0-data_security_finding.schema.json"

pytestmark = pytest.mark.timeout(120)


def test_rotation_keeps_every_line_whole_and_files_under_the_bound(tmp_path: Path) -> None:
    target = RotatingJsonLines(tmp_path / "siem.jsonl", max_bytes=4096, backups=3, mode=0o600)
    lines = [json.dumps({"n": i, "pad": "x" * 90}) for i in range(100)]  # ~10 KB: rotates twice
    target.deliver(lines[:30])
    target.deliver(lines[30:])
    files = [tmp_path / "siem.jsonl.2", tmp_path / "siem.jsonl.1", tmp_path / "siem.jsonl"]
    assert not (tmp_path / "siem.jsonl.3").exists()
    read = [line for f in files for line in f.read_text().splitlines()]
    assert read == lines
    assert all(f.stat().st_size <= 4096 for f in files)
    assert oct((tmp_path / "siem.jsonl").stat().st_mode & 0o777) == oct(0o600)
    target.deliver(lines * 3)  # older files beyond `backups` are dropped
    assert sorted(p.name for p in tmp_path.iterdir()) == ["siem.jsonl", "siem.jsonl.1", "siem.jsonl.2", "siem.jsonl.3"]


def test_a_failed_write_keeps_the_records_queued(store: Store, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    destination = SiemDestination(name="file", transport="file", path=blocker / "siem.jsonl")
    link = SiemForwarder(store, [build_destination(destination, "h")], SiemSection(destinations=[destination]))
    outbox.register(store, ["file"])
    add_events(store, "ws-a", 3)
    with pytest.raises(DeliveryError, match="cannot write"):
        link.forward_once(link.states[0])
    assert outbox.backlog(store, "file") == 3


def test_phiwall_run_forwards_events_and_console_triage_to_the_file(tmp_path: Path, isolated_env: Path) -> None:
    out = tmp_path / "siem" / "phiwall.jsonl"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[proxy]\nlisten = "127.0.0.1:{free_port()}"\n[siem]\npoll_seconds = 0.2\n'
        f'[[siem.destinations]]\nname = "splunk"\ntransport = "file"\npath = "{out}"\n'
    )
    env = {**os.environ, "PHIWALL_CONFIG": str(config)}
    db = isolated_env / "phiwall.db"
    log = (tmp_path / "agent.log").open("w")
    agent = subprocess.Popen([PHIWALL, "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        store: Store | None = None
        while store is None and time.monotonic() < deadline:
            try:
                candidate = open_store(f"sqlite:///{db}", migrate=False)
                with candidate.engine.connect() as conn:
                    if conn.exec_driver_sql("select count(*) from siem_cursor").scalar_one():
                        store = candidate
                        break
                candidate.dispose()
            except (StoreError, SQLAlchemyError):
                pass  # still being created or migrated by the agent
            time.sleep(0.2)
        assert store is not None, (tmp_path / "agent.log").read_text()
        ids = add_events(store, "ws-a", 5)  # as the proxy child would
        close_as_false_positive(store, ids[:2])  # as the console would
        while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 7):
            time.sleep(0.2)
        store.dispose()
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    findings = [json.loads(line) for line in out.read_text().splitlines()]
    assert [f["metadata"]["uid"] for f in findings[:5]] == ids
    assert [f["activity_id"] for f in findings] == [1] * 5 + [3, 3]
    for finding in findings:
        assert validator.is_valid(finding)


def test_doctor_reports_reachability_and_backlog(store: Store, tmp_path: Path) -> None:
    _, tls = make_tls_files(tmp_path / "tls")
    server = Rsyslog(tmp_path / "rsyslog", tls=tls)
    server.start()
    try:
        destination = SiemDestination(name="soc", transport="tls", host="127.0.0.1", port=server.port, ca_file=tls.ca)
        outbox.register(store, ["soc"])
        add_events(store, "ws-a", 4)
        ok = check_siem(DoctorContext(Config(siem=SiemSection(destinations=[destination])), store.url))
        assert ok.level == "ok", ok.detail
        assert f"soc tls://127.0.0.1:{server.port} reachable, 4 queued" in ok.detail
    finally:
        server.stop()
    down = check_siem(DoctorContext(Config(siem=SiemSection(destinations=[destination])), store.url))
    assert down.level == "warn"
    assert "cannot connect" in down.detail
    assert "4 queued" in down.detail
    assert check_siem(DoctorContext(Config(), store.url)).level == "ok"


def test_a_file_destination_does_not_replay_after_a_failure(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "siem.jsonl"
    destination = SiemDestination(name="file", transport="file", path=out)
    link = SiemForwarder(store, [build_destination(destination, "h")], SiemSection(destinations=[destination]))
    outbox.register(store, ["file"])
    add_events(store, "ws-a", 2)
    assert link.forward_once(link.states[0]) == 2
    link._failed(link.states[0], "disk full")  # as after a failed write
    add_events(store, "ws-a", 1)
    assert link.forward_once(link.states[0]) == 1
    assert len(out.read_text().splitlines()) == 3  # fsynced lines are kept: no duplicates


def test_phiwall_siem_forward_and_status(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "central.jsonl"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[siem]\npoll_seconds = 0.1\n[[siem.destinations]]\nname = "c"\ntransport = "file"\npath = "{out}"\n'
    )
    outbox.register(store, ["c"])  # as an earlier forwarder run would have
    ids = add_events(store, "ws-a", 3)
    status = subprocess.run(
        [PHIWALL, "siem", "status", "--db", store.url, "--config", str(config)], capture_output=True, text=True
    )
    assert status.returncode == 0, status.stderr
    assert status.stdout.split() == ["c", "file", "3", "queued"]
    forward = subprocess.Popen([PHIWALL, "siem", "forward", "--db", store.url, "--config", str(config)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 3):
            time.sleep(0.1)
    finally:
        forward.send_signal(signal.SIGTERM)
        assert forward.wait(30) == 0
    assert [json.loads(line)["metadata"]["uid"] for line in out.read_text().splitlines()] == ids
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    refused = subprocess.run(
        [PHIWALL, "siem", "forward", "--db", store.url, "--config", str(empty)], capture_output=True, text=True
    )
    assert refused.returncode != 0
    assert "no [[siem.destinations]]" in refused.stderr
