"""The clinician is told, on their own desktop: a real D-Bus session bus, a real notification
server, the real `phiwall notify` helper (desktop-notifier over org.freedesktop.Notifications)
and the agent's `NotifyHub` reading block events from a real store.

A burst of blocks gives one notification in plain words (what, why, what instead, the
incident id) and no PHI; a block of another user reaches nobody here; a later burst gives
a second notification.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.notify.hub import NotifyHub, normalise_user
from agent.notify.notices import TITLE
from agent.store import Store, make_event, write_events

ROOT = Path(__file__).resolve().parents[3]
SERVER = Path(__file__).with_name("notification_server.py")
PHI_PATH = "/home/clinic/Recordings/jane-doe-1970-01-01-dictation.wav"

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="needs dbus-daemon (Debian package dbus)"),
]


def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def session_bus(tmp_path: Path) -> Iterator[str]:
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1", f"--address=unix:path={tmp_path / 'bus'}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert bus.stdout is not None
    address = bus.stdout.readline().strip()
    assert address.startswith("unix:"), address
    yield address
    bus.terminate()
    bus.wait(10)


@pytest.fixture
def notification_server(session_bus: str, tmp_path: Path) -> Iterator[Path]:
    record = tmp_path / "notifications.jsonl"
    record.touch()
    server = subprocess.Popen(
        [sys.executable, str(SERVER), str(record)],
        env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": session_bus},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    assert server.stdout.readline().strip() == "ready"
    yield record
    server.terminate()
    server.wait(10)


def calls(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]


def block(store: Store, user: str, **fields: Any) -> str:
    event = make_event(
        kind=fields.pop("kind", "upload"),
        agent_id="a1",
        verdict=fields.pop("verdict", "block"),
        user=user,
        host="127.0.0.2",
        service_id="loopback-scribe",
        path="/v1/audio/transcriptions",
        reason=f"clinical media matched an enrolled recording ({PHI_PATH})",
        asset_id=fields.pop("asset_id", "ab" * 32),
        **fields,
    )
    write_events(store, [event])
    return event.id


def test_one_plain_notification_per_burst_for_the_right_user(
    store: Store, tmp_path: Path, session_bus: str, notification_server: Path
) -> None:
    me = getpass.getuser()
    hub = NotifyHub(store, str(tmp_path / "notify.sock"), poll=0.1)
    hub.start()
    helper = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "notify",
            "--socket",
            str(tmp_path / "notify.sock"),
            "--quiet-seconds",
            "3",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "DBUS_SESSION_BUS_ADDRESS": session_bus},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: normalise_user(me) in hub.connected_users())
        block(store, "someone-else")  # another clinician's block: never shown to this user
        block(store, me, verdict="audit")  # not a block: nothing to tell
        first = block(store, me)
        for _ in range(3):  # the web app retries: still one burst
            block(store, f"HOSPITAL\\{me}")
            time.sleep(0.2)
        shown = wait_for(lambda: calls(notification_server))
        time.sleep(1.5)  # anything else of this burst would have arrived by now
        assert len(calls(notification_server)) == 1, calls(notification_server)
        note = shown[0]
        assert note["app_name"] == "PhiWall"
        assert note["summary"] == TITLE
        body = note["body"]
        assert "loopback scribe" in body  # what was stopped
        assert "registered as patient media" in body  # why
        assert "approved" in body  # what to do instead
        assert f"Incident {first}" in body
        assert "/" not in body  # no file path, no URL path
        assert "jane" not in body.lower()
        assert note["urgency"] == 2  # critical: stays until read

        time.sleep(3.2)  # the burst is over
        later = block(store, me, kind="discovery", asset_id=None)
        wait_for(lambda: len(calls(notification_server)) == 2)
        assert f"Incident {later}" in calls(notification_server)[1]["body"]
        assert "AI service your hospital has not approved" in calls(notification_server)[1]["body"]
        assert hub.health().status == "ok"
    finally:
        helper.terminate()
        _, err = helper.communicate(timeout=10)
        hub.stop()
    assert "Traceback" not in err, err


def test_helper_waits_for_the_agent_and_reconnects(
    store: Store, tmp_path: Path, session_bus: str, notification_server: Path
) -> None:
    """Started with the session before the agent is up: it keeps trying, then delivers."""
    sock = tmp_path / "late.sock"
    helper = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "notify", "--socket", str(sock), "--quiet-seconds", "0"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "DBUS_SESSION_BUS_ADDRESS": session_bus},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)
        hub = NotifyHub(store, str(sock), poll=0.1)
        hub.start()
        try:
            wait_for(lambda: hub.connected_users())
            incident = block(store, getpass.getuser())
            wait_for(lambda: calls(notification_server))
            assert f"Incident {incident}" in calls(notification_server)[0]["body"]
        finally:
            hub.stop()
    finally:
        helper.terminate()
        helper.communicate(timeout=10)


def test_helper_finds_a_user_run_agent_from_the_same_config(
    store: Store, tmp_path: Path, session_bus: str, notification_server: Path
) -> None:
    """No socket given: the helper and `phiwall run`'s hub derive the same (abstract) address
    from the agent's data dir, however long its path."""
    from agent.notify.paths import default_socket

    data_dir = tmp_path / ("a-rather-long-directory-name-" * 4) / "data"
    data_dir.mkdir(parents=True)
    config = tmp_path / "agent.toml"
    config.write_text(f'[agent]\ndata_dir = "{data_dir}"\n')
    env = {k: v for k, v in os.environ.items() if k != "PHIWALL_NOTIFY_SOCKET"}
    hub = NotifyHub(store, default_socket(data_dir), poll=0.1)
    hub.start()
    helper = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "notify", "--config", str(config)],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT), "DBUS_SESSION_BUS_ADDRESS": session_bus},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert hub.error is None, hub.error
        wait_for(lambda: hub.connected_users())
        incident = block(store, getpass.getuser())
        wait_for(lambda: calls(notification_server))
        assert f"Incident {incident}" in calls(notification_server)[0]["body"]
    finally:
        helper.terminate()
        helper.communicate(timeout=10)
        hub.stop()
