"""The real `phiwall console` in a real terminal (tmux): first paint, keys, clean exit; and its CLI."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from agent.store import Store

PHIWALL = Path(sys.executable).with_name("phiwall")


def tmux(socket: str, *args: str) -> str:
    done = subprocess.run(
        ["tmux", "-L", socket, "-f", "/dev/null", *args], capture_output=True, text=True, timeout=10, check=False
    )
    return done.stdout


def wait_for_screen(socket: str, needle: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux(socket, "capture-pane", "-p", "-t", "console")
        if needle in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} never appeared; the terminal shows:\n{screen}")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/setup.sh --dev installs it)")
def test_console_paints_reacts_and_exits_cleanly_in_tmux(small_store: Store, tmp_path: Path) -> None:
    socket = f"phiwall-test-{uuid.uuid4().hex[:8]}"
    exit_file = tmp_path / "exit-code"
    command = (
        # COLUMNS/LINES inherited from the test run would override the pane's real size.
        f"unset COLUMNS LINES; PHIWALL_ANALYST=tmux-tester {PHIWALL} console --db {small_store.url} --poll 0.5; "
        f"echo $? > {exit_file}; sleep 30"
    )
    tmux(socket, "new-session", "-d", "-s", "console", "-x", "140", "-y", "40", command)
    try:
        screen = wait_for_screen(socket, "matching", timeout=30)
        assert "400 matching" in screen
        assert "analyst tmux-tester" in screen
        assert "Verdict" in screen
        tmux(socket, "send-keys", "-t", "console", "2")
        wait_for_screen(socket, "AI services and unknown AI hosts", timeout=15)
        tmux(socket, "send-keys", "-t", "console", "1")
        wait_for_screen(socket, "400 matching", timeout=15)
        tmux(socket, "send-keys", "-t", "console", "q")
        deadline = time.monotonic() + 15
        while not exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert exit_file.exists(), "the console did not exit on q"
        assert exit_file.read_text().strip() == "0"
        after = tmux(socket, "capture-pane", "-p", "-t", "console")
        assert "Traceback" not in after
    finally:
        socket_path = tmux(socket, "display", "-p", "#{socket_path}").strip()
        tmux(socket, "kill-server")
        if socket_path:
            Path(socket_path).unlink(missing_ok=True)


def test_console_command_help_and_refusals(tmp_path: Path) -> None:
    help_text = subprocess.run([str(PHIWALL), "console", "--help"], capture_output=True, text=True, check=True).stdout
    for option in ("--db", "--config", "--read-only", "--analyst", "--keymap", "--poll"):
        assert option in help_text
    missing = subprocess.run(
        [str(PHIWALL), "console", "--db", f"sqlite:///{tmp_path / 'x.db'}"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert missing.returncode == 3, "a mistyped store is refused, never created"
    assert "does not exist" in missing.stderr
    assert not (tmp_path / "x.db").exists()
    subprocess.run([str(PHIWALL), "db", "upgrade", "--db", f"sqlite:///{tmp_path / 'x.db'}"], check=True)
    not_a_tty = subprocess.run(
        [str(PHIWALL), "console", "--db", f"sqlite:///{tmp_path / 'x.db'}"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert not_a_tty.returncode != 0
    assert "interactive terminal" in not_a_tty.stderr
    assert "Traceback" not in not_a_tty.stderr
    bad_keymap = tmp_path / "keys.toml"
    bad_keymap.write_text("not = [toml")
    refused = subprocess.run(
        [str(PHIWALL), "console", "--keymap", str(bad_keymap)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert refused.returncode == 2
    assert "not valid TOML" in refused.stderr


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/setup.sh --dev installs it)")
def test_demo_console_in_one_command_leaves_nothing_behind(tmp_path: Path) -> None:
    socket = f"phiwall-demo-{uuid.uuid4().hex[:8]}"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    exit_file = tmp_path / "exit-code"
    command = f"unset COLUMNS LINES; TMPDIR={scratch} {PHIWALL} console --demo; echo $? > {exit_file}; sleep 30"
    tmux(socket, "new-session", "-d", "-s", "console", "-x", "160", "-y", "40", command)
    try:
        screen = wait_for_screen(socket, "20,000 matching", timeout=60)
        assert "Kind" in screen
        assert any(p.name.startswith("phiwall-demo-") for p in scratch.iterdir())
        tmux(socket, "send-keys", "-t", "console", "q")
        deadline = time.monotonic() + 15
        while not exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert exit_file.read_text().strip() == "0"
        assert list(scratch.iterdir()) == []  # the throwaway store is gone
    finally:
        socket_path = tmux(socket, "display", "-p", "#{socket_path}").strip()
        tmux(socket, "kill-server")
        if socket_path:
            Path(socket_path).unlink(missing_ok=True)
