"""README command 1's promise: `phiwall run` starts on embedded defaults, the doctor then
reports healthy, and SIGTERM stops the agent cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from sqlmodel import select

from agent.errors import StoreError
from agent.store import Agent, open_store

PHIWALL = str(Path(sys.executable).with_name("phiwall"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_run_then_doctor_is_healthy_then_sigterm_stops(tmp_path: Path, isolated_env: Path) -> None:
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(f'[proxy]\nlisten = "127.0.0.1:{port}"\n')
    env = {**os.environ, "PHIWALL_CONFIG": str(config)}
    log = (tmp_path / "agent.log").open("w")
    agent = subprocess.Popen([PHIWALL, "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        db = isolated_env / "phiwall.db"
        wait_for(lambda: db.exists(), 30, "the store to be created")

        def heartbeat_written() -> bool:
            try:  # the agent may still be migrating the new store
                store = open_store(f"sqlite:///{db}", migrate=False)
            except StoreError:
                return False
            try:
                with store.session() as session:
                    return session.exec(select(Agent)).first() is not None
            finally:
                store.dispose()

        wait_for(heartbeat_written, 60, "the first heartbeat")

        def doctor_healthy() -> bool:
            result = subprocess.run([PHIWALL, "doctor", "--json"], env=env, capture_output=True, text=True)
            findings = json.loads(result.stdout)
            return result.returncode == 0 and all(f["level"] == "ok" for f in findings)

        wait_for(doctor_healthy, 90, "`phiwall doctor` to report every check ok")
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            code = agent.wait(30)
        finally:
            if agent.poll() is None:
                agent.kill()
            log.close()
    output = (tmp_path / "agent.log").read_text()
    assert code == 0, output[-2000:]
    assert "agent stopped" in output
