"""The CLI never says "none" when it means "error": stores, unreadable input, exit codes,
permissions, the listen address. The real `phiwall` script in a subprocess, real SQLite."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.commands.console import _load_keymap
from agent.errors import (
    EXIT_CODES,
    ConfigError,
    DataDirError,
    InputError,
    ListenError,
    MediaError,
    SignatureError,
    StoreError,
)
from agent.supervise import SupervisedProcess
from tests.support.media import DICTATIONS, MediaFactory

PHIWALL = str(Path(sys.executable).with_name("phiwall"))
ROOT = Path(__file__).resolve().parents[2]


def phiwall(
    *args: str, cwd: Path | None = None, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PHIWALL, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("phiwall: error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def made_store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'made.db'}"
    assert phiwall("db", "upgrade", "--db", url).returncode == 0
    return url


# --- stores are created only by enroll, run and explicit set-up ----------------------------------


@pytest.mark.parametrize(
    "command",
    [["match", "--json", "x.mp3"], ["console"], ["signatures", "status"], ["db", "status"]],
    ids=lambda c: c[0] if c[0] != "signatures" else "signatures status",
)
def test_commands_refuse_a_store_that_does_not_exist(tmp_path: Path, command: list[str]) -> None:
    store = tmp_path / "mistyped" / "x.db"
    result = phiwall(*command[:1], *command[1:], "--db", f"sqlite:///{store}", cwd=tmp_path)
    assert not store.exists(), "nothing was created"
    assert not store.parent.exists()
    assert result.returncode == StoreError.exit_code, result.stderr
    assert "does not exist" in one_error_line(result)


def test_signatures_status_without_a_named_store_still_reports_the_bundle(tmp_path: Path) -> None:
    """The embedded default store may not exist yet where the agent never ran: status still works."""
    result = phiwall("signatures", "status", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("in force:")


def test_doctor_fails_on_a_store_that_does_not_exist(tmp_path: Path) -> None:
    store = tmp_path / "nope.db"
    result = phiwall("doctor", "--json", "--db", f"sqlite:///{store}")
    findings = {f["name"]: f for f in json.loads(result.stdout)}
    assert findings["store"]["level"] == "fail"
    assert "does not exist" in findings["store"]["detail"]
    assert result.returncode == 1
    assert not store.exists()


# --- unreadable input ----------------------------------------------------------------------------


def test_match_json_reports_each_unreadable_path_and_exits_6(tmp_path: Path, made_store: str) -> None:
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    paths = [fifo, tmp_path / "missing.mp3", folder]
    result = phiwall("match", "--json", "--db", made_store, *map(str, paths), timeout=30)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(p) for p in paths], "one JSON object per PATH, in order"
    for line in lines:
        assert line["match"] is None
        assert isinstance(line["ms"], (int, float))
    assert "FIFO" in lines[0]["error"]
    assert "missing" in lines[1]["error"]
    assert "folder" in lines[2]["error"]
    assert result.returncode == InputError.exit_code == 6
    assert one_error_line(result) == "phiwall: error: 3 of 3 path(s) could not be read"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_match_reports_permission_denied(tmp_path: Path, made_store: str) -> None:
    locked = tmp_path / "locked.mp3"
    locked.write_bytes(b"ID3" + bytes(100))
    locked.chmod(0)
    result = phiwall("match", "--json", "--db", made_store, str(locked))
    assert json.loads(result.stdout)["error"] == "permission denied"
    assert result.returncode == 6


def test_match_text_file_is_a_media_error_not_none(tmp_path: Path, made_store: str) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    result = phiwall("match", "--db", made_store, str(text))
    assert result.stdout.startswith(f"error  {text}  (not audio, video or an image")
    assert result.returncode == MediaError.exit_code == 4


def test_enroll_stores_absolute_paths_and_the_host(tmp_path: Path, media_factory: MediaFactory) -> None:
    recording = media_factory.speech(DICTATIONS[2])
    work = tmp_path / "ward"
    work.mkdir()
    (work / "dictation.wav").write_bytes(recording.read_bytes())
    db = tmp_path / "enrolled.db"
    result = phiwall("enroll", "--db", f"sqlite:///{db}", "./sub/../dictation.wav", cwd=work)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as conn:
        path, origin = conn.execute("SELECT path, origin_agent_id FROM media_asset").fetchone()
        hostname = conn.execute("SELECT hostname FROM agent WHERE id = ?", (origin,)).fetchone()[0]
    assert path == str(work / "dictation.wav")
    assert hostname == socket.gethostname()
    assert mode(db) == 0o600, "a store is created private"


# --- exit codes: documented == real --------------------------------------------------------------


def documented_exit_codes(text: str) -> dict[int, str]:
    return {int(code): meaning for code, meaning in re.findall(r"^\| `(\d+)` \| (.+?) \|$", text, re.MULTILINE)}


def test_documented_exit_codes_are_the_real_ones() -> None:
    classes = [ConfigError, StoreError, DataDirError, MediaError, SignatureError, InputError, ListenError]
    for docs in (ROOT / "docs" / "configuration.md", ROOT / "README.md"):
        table = documented_exit_codes(docs.read_text(encoding="utf-8"))
        assert set(table) == set(EXIT_CODES), docs
    for error in classes:
        assert error.exit_code in EXIT_CODES
    assert phiwall("frobnicate").returncode == 2, "usage errors share 2 with configuration"


# --- the listen address -------------------------------------------------------------------------


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_run_on_a_busy_port_is_one_error_and_exit_7(tmp_path: Path, busy_port: int) -> None:
    store = tmp_path / "run.db"
    started = time.monotonic()
    result = phiwall("run", "--db", f"sqlite:///{store}", "--listen", f"127.0.0.1:{busy_port}", timeout=60)
    assert result.returncode == ListenError.exit_code == 7
    assert "already in use" in one_error_line(result)
    assert time.monotonic() - started < 30, "no restart loop"
    assert not store.exists(), "nothing started"


def test_proxy_process_on_a_busy_port_exits_7(tmp_path: Path, busy_port: int) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agent.proxy", "--listen", f"127.0.0.1:{busy_port}", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PHIWALL_DB": f"sqlite:///{tmp_path / 'p.db'}"},
    )
    assert result.returncode == 7
    assert "already in use" in result.stderr


def test_supervisor_does_not_restart_a_fatal_exit() -> None:
    calls: list[int] = []
    process = SupervisedProcess(
        "child", [sys.executable, "-c", "raise SystemExit(7)"], fatal_exit_codes=(7,), on_fatal=calls.append
    )
    process.start()
    deadline = time.monotonic() + 20
    while not calls and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)  # a restart would come after 1 s of back-off
    process.stop()
    assert calls == [7]
    assert process.restarts == 0
    assert process.fatal


def test_doctor_looks_where_run_listens(busy_port: int, made_store: str) -> None:
    result = phiwall("doctor", "--json", "--db", made_store, "--listen", f"127.0.0.1:{busy_port}")
    findings = {f["name"]: f for f in json.loads(result.stdout)}
    assert findings["agent"]["level"] == "ok"
    assert f"127.0.0.1:{busy_port}" in findings["agent"]["detail"]
    result = phiwall("doctor", "--json", "--db", made_store)
    agent = {f["name"]: f for f in json.loads(result.stdout)}["agent"]
    assert "127.0.0.1:8080" in agent["detail"], "the config's address without --listen"


# --- permissions ---------------------------------------------------------------------------------


def test_doctor_fails_on_loose_modes_and_run_tightens_them(tmp_path: Path, isolated_env: Path) -> None:
    db = tmp_path / "loose.db"
    url = f"sqlite:///{db}"
    assert phiwall("db", "upgrade", "--db", url).returncode == 0
    isolated_env.mkdir(parents=True, exist_ok=True)
    isolated_env.chmod(0o755)
    db.chmod(0o644)
    doctor = phiwall("doctor", "--json", "--db", url)
    findings = {f["name"]: f for f in json.loads(doctor.stdout)}
    assert findings["data dir"]["level"] == "fail"
    assert "755" in findings["data dir"]["detail"]
    assert findings["store"]["level"] == "fail"
    assert "chmod 600" in findings["store"]["fix"]
    assert doctor.returncode == 1

    agent = subprocess.Popen(
        [PHIWALL, "run", "--db", url, "--listen", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 60
        while (mode(isolated_env), mode(db)) != (0o700, 0o600) and time.monotonic() < deadline:
            assert agent.poll() is None, agent.stderr.read() if agent.stderr else ""
            time.sleep(0.1)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)
    assert mode(isolated_env) == 0o700
    assert mode(db) == 0o600
    after = {f["name"]: f for f in json.loads(phiwall("doctor", "--json", "--db", url).stdout)}
    assert after["data dir"]["level"] == "ok"
    assert after["store"]["level"] == "ok"


# --- keymaps -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '"incidents.close" = "C"\n"incidents.export" = ["x", "ctrl+e"]\n',
        'incidents.close = "C"\nincidents.export = ["x", "ctrl+e"]\n',
        '[incidents]\nclose = "C"\nexport = ["x", "ctrl+e"]\n',
        '[keymap]\n"incidents.close" = "C"\n[keymap.incidents]\nexport = ["x", "ctrl+e"]\n',
    ],
    ids=["quoted", "dotted", "table", "keymap-table"],
)
def test_natural_toml_keymap_forms(tmp_path: Path, text: str) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(text)
    assert _load_keymap(path) == {"incidents.close": "C", "incidents.export": "x,ctrl+e"}


def test_bad_keymap_value_names_the_binding(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text("incidents.close = 3\n")
    with pytest.raises(ConfigError, match=r"incidents\.close"):
        _load_keymap(path)
