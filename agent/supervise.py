"""Keep a child process running: restart it with back-off when it dies.

The proxy runs as a child so that a crash in native code (codecs, libchromaprint) takes down
one proxy generation, not the agent; the supervisor brings it back within seconds and
counts restarts so heartbeats show a flapping proxy.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Collection, Sequence

from agent.backoff import Backoff
from agent.components import Health

log = logging.getLogger(__name__)


class SupervisedProcess:
    """Run `argv` until stopped; restart after exits with exponential back-off (max 30 s)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        max_backoff: float = 30.0,
        healthy_after: float = 20.0,
        fatal_exit_codes: Collection[int] = (),
        on_fatal: Callable[[int], None] | None = None,
    ) -> None:
        """`fatal_exit_codes`: exits that a restart cannot fix (the port is in use): the child
        is not restarted and `on_fatal(code)` is called once."""
        self.name = name
        self._argv = list(argv)
        self._env = env
        self._max_backoff = max_backoff
        self._healthy_after = healthy_after
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._loop, name=f"supervise-{name}", daemon=True)
        self._fatal_exit_codes = frozenset(fatal_exit_codes)
        self._on_fatal = on_fatal
        self.restarts = 0
        self.last_exit: int | None = None
        self.fatal = False

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def start(self) -> None:
        self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, **(self._env or {})}
        return subprocess.Popen(self._argv, env=env, stdin=subprocess.DEVNULL)

    def _loop(self) -> None:
        backoff = Backoff(first=1.0, cap=self._max_backoff)
        failed_in_a_row = 0
        while not self._stop.is_set():
            started = time.monotonic()
            with self._lock:
                if self._stop.is_set():
                    return
                try:
                    self._proc = self._spawn()
                except OSError as exc:
                    log.error("%s: cannot start %s: %s", self.name, self._argv[0], exc)
                    self._proc = None
            if self._proc is not None:
                code = self._proc.wait()
                self.last_exit = code
            if self._stop.is_set():
                return
            if self.last_exit in self._fatal_exit_codes:
                self.fatal = True
                log.error("%s exited with code %s (a restart cannot fix it): not restarting", self.name, self.last_exit)
                if self._on_fatal is not None:
                    self._on_fatal(self.last_exit)
                return
            self.restarts += 1
            failed_in_a_row = 1 if time.monotonic() - started > self._healthy_after else failed_in_a_row + 1
            delay = backoff.delay(failed_in_a_row)
            log.warning("%s exited (code %s); restarting in %.0f s", self.name, self.last_exit, delay)
            if self._stop.wait(delay):
                return

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def health(self) -> Health:
        if self.pid is not None:
            if self.restarts:
                return Health(
                    "degraded" if self.restarts > 3 else "ok",
                    f"pid {self.pid}, {self.restarts} restarts (last exit {self.last_exit})",
                )
            return Health("ok", f"pid {self.pid}")
        return Health("down", f"not running (last exit {self.last_exit}, {self.restarts} restarts)")
