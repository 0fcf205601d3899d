"""Local AI-app inventory against real processes: renamed interpreters, symlinked names, listeners."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from agent.policy.catalog import LocalApp
from agent.shadow.inventory import UNATTRIBUTED, AppSignature, record_inventory, signatures_from_catalog, sweep
from agent.store import Event, EventWriter, LocalAIApp, Store
from tests.unit.shadow.support import (
    children,
    loopback_address,
    loopback_catalog,
    server_named_by_argv0,
    server_with_args,
    server_with_process_name,
)


def _apps(port: int | None = None) -> tuple[LocalApp, ...]:
    ports = (port,) if port else ()
    return (
        LocalApp(id="ollama", name="Ollama", process_names=("ollama",), ports=ports or (11434,)),
        LocalApp(id="llama-cpp-server", name="llama.cpp server", process_names=("llama-server",), ports=(8080,)),
        LocalApp(id="vllm", name="vLLM", process_names=("vllm",), cmdline_globs=("*vllm.entrypoints.openai*",)),
        LocalApp(id="lm-studio", name="LM Studio", process_names=("lm studio",), exe_globs=("*/lm-studio/*",)),
    )


def test_finds_model_servers_by_name_argv0_and_command_line(tmp_path: Path) -> None:
    host = loopback_address()
    with children() as started:
        named = server_with_process_name("ollama", host, tmp_path)
        started.append(named)
        renamed = server_named_by_argv0("llama-server", host)
        started.append(renamed)
        vllm = server_with_args(["-m", "vllm.entrypoints.openai.api_server"], host)
        started.append(vllm)
        decoy = server_named_by_argv0("ollama-notes", host)  # similar name, not a match
        started.append(decoy)
        signatures = signatures_from_catalog(loopback_catalog(host, _apps(int(named.first_line))))
        report = sweep(signatures)

    by_pid = {f.pid: f for f in report.findings}
    assert by_pid[named.pid].signature_id == "ollama"
    assert by_pid[named.pid].matched_by == ("process_name", "port")
    assert by_pid[named.pid].ports == (int(named.first_line),)
    assert by_pid[named.pid].exe == os.path.realpath(sys.executable)
    assert by_pid[renamed.pid].signature_id == "llama-cpp-server"
    assert by_pid[renamed.pid].matched_by == ("argv0",)  # listens on its own port, not 8080
    assert by_pid[vllm.pid].signature_id == "vllm"
    assert by_pid[vllm.pid].matched_by == ("cmdline",)
    assert decoy.pid not in by_pid
    assert report.processes_seen > 4
    assert report.duration_s > 0


def test_no_signatures_means_no_work() -> None:
    report = sweep([])
    assert report.findings == []
    assert report.processes_seen == 0


def test_findings_never_carry_the_command_line(tmp_path: Path) -> None:
    host = loopback_address()
    with children() as started:
        patient_file = "/clinical/jane-doe-1970-dictation.wav"
        child = server_with_args(["-m", "vllm.entrypoints.openai.api_server", patient_file], host)
        started.append(child)
        report = sweep(signatures_from_catalog(loopback_catalog(host, _apps())))
    finding = next(f for f in report.findings if f.pid == child.pid)
    assert "jane-doe" not in repr(finding)


def test_recording_upserts_one_row_per_app_and_one_event(store: Store, tmp_path: Path) -> None:
    host = loopback_address()
    writer = EventWriter(store)
    writer.start()
    with children() as started:
        # A process name of this test's own: the sweep matches names machine-wide, and other
        # tests run "ollama" servers on other workers at the same time (seen in a CI run: the
        # event named another worker's server). Ollama's signature only: llama.cpp's port 8080
        # is the Wine tests' service proxy when they run alongside.
        name = f"ollama{os.getpid() % 100_000}"
        named = server_with_process_name(name, host, tmp_path)
        started.append(named)
        apps = (LocalApp(id="ollama", name="Ollama", process_names=(name,), ports=(int(named.first_line),)),)
        signatures = signatures_from_catalog(loopback_catalog(host, apps))
        first = record_inventory(store, sweep(signatures).findings, agent_id="ws-1", events=writer)
        second = record_inventory(store, sweep(signatures).findings, agent_id="ws-1", events=writer)
    writer.flush()
    writer.stop()
    assert first >= 1
    assert second == 0
    with store.session() as session:
        rows = session.exec(select(LocalAIApp).where(LocalAIApp.signature_id == "ollama")).all()
        events = session.exec(select(Event).where(Event.kind == "discovery")).all()
    assert len(rows) == 1
    assert rows[0].exe == os.path.realpath(sys.executable)
    assert json.loads(rows[0].ports) == [int(named.first_line)]
    assert rows[0].last_seen >= rows[0].first_seen
    ollama_events = [e for e in events if json.loads(e.details)["signature"] == "ollama"]
    assert len(ollama_events) == 1
    assert ollama_events[0].reason == "local AI app running: Ollama"
    assert ollama_events[0].pid == named.pid


def test_processes_that_exit_during_the_sweep_are_skipped(tmp_path: Path) -> None:
    """Short-lived processes vanish between listing and reading: the sweep neither fails nor invents them."""
    host = loopback_address()
    churn = subprocess.Popen(
        ["bash", "-c", "for i in $(seq 1 300); do (exec -a ollama sleep 0.001 &); done; wait"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        signatures = signatures_from_catalog(loopback_catalog(host, _apps()))
        reports = [sweep(signatures) for _ in range(5)]
    finally:
        churn.wait(timeout=30)
    for report in reports:
        assert not report.errors
        for finding in report.findings:
            assert finding.signature_id in {"ollama", "llama-cpp-server", "vllm", "lm-studio"}


def test_bounded_number_of_processes() -> None:
    report = sweep(signatures_from_catalog(loopback_catalog(loopback_address(), _apps())), max_processes=3)
    assert report.processes_seen == 3
    assert report.truncated
    assert report.partial


def _sweep_as(user: pwd.struct_passwd, signatures: list[AppSignature]) -> dict[str, object]:
    """Run one sweep in a forked child that dropped root (no exec: the interpreter lives under /root)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            r = sweep(signatures)
            payload = {
                "denied": r.access_denied,
                "complete": r.listeners_complete,
                "partial": r.partial,
                "errors": r.errors,
                "findings": [[f.pid, f.exe, list(f.matched_by), f.name] for f in r.findings],
            }
            os.write(write_end, json.dumps(payload).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    result: dict[str, object] = json.loads(data)
    return result


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to an unprivileged user")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_unprivileged_sweep_reports_partial_view_honestly(tmp_path: Path) -> None:
    """As `nobody`, root's processes hide exe and sockets: the report says so and guesses nothing."""
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no `nobody` user")
    host = loopback_address()
    with children() as started:
        named = server_with_process_name("ollama", host, tmp_path)
        started.append(named)
        apps = (LocalApp(id="ollama", name="Ollama", process_names=("ollama",), ports=(int(named.first_line),)),)
        seen = _sweep_as(nobody, signatures_from_catalog(loopback_catalog(host, apps)))
    assert isinstance(seen["denied"], int)
    assert seen["denied"] > 0
    assert seen["partial"] is True
    assert seen["errors"] == []
    # The root-owned server is still found by its name (names are public), but not its
    # executable or socket: the port is reported as a "possible" app with no process.
    findings = seen["findings"]
    assert isinstance(findings, list)
    assert [named.pid, "", ["process_name"], "Ollama"] in findings
    assert seen["complete"] is False
    assert [None, UNATTRIBUTED, ["port"], "possible Ollama"] in findings
