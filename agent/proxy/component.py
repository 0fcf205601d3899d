"""The proxy as a `phiwall run` component: a supervised child process.

The child (`python -m agent.proxy`) is restarted with back-off if it dies, so a crash in
native decoding code costs seconds of proxying, not the agent. The store URL travels in the
child's environment (`PHIWALL_DB`), not its command line, where `ps` would show a PostgreSQL
password. Health and the catalog version come from the status file the child rewrites every
few seconds: a live pid with a stale status file is reported as degraded.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from agent.components import AgentContext, Health
from agent.errors import ListenError
from agent.proxy.settings import STATUS_FILE
from agent.supervise import SupervisedProcess

REFRESH_S = 5.0
STALE_AFTER_S = 6 * REFRESH_S


class ProxyComponent:
    name = "proxy"

    def __init__(self, ctx: AgentContext) -> None:
        self.status_file = ctx.data_dir / STATUS_FILE
        self._listen = ctx.listen
        argv = [
            sys.executable,
            "-m",
            "agent.proxy",
            "--listen",
            ctx.listen,
            "--data-dir",
            str(ctx.data_dir),
            "--refresh",
            str(REFRESH_S),
        ]
        if ctx.config.source is not None:
            argv += ["--config", str(ctx.config.source)]
        self._stopping = ctx.stopping
        self.fatal_error: str | None = None
        self.process = SupervisedProcess(
            "proxy",
            argv,
            env={"PHIWALL_DB": ctx.store.url},
            fatal_exit_codes=(ListenError.exit_code,),
            on_fatal=self._on_fatal,
        )
        self._started = time.monotonic()

    def _on_fatal(self, code: int) -> None:
        """The proxy cannot listen (its port was taken after `phiwall run` checked it): stop the agent."""
        self.fatal_error = f"the proxy cannot listen on {self._listen} (exit {code}): the address is in use"
        self._stopping.set()

    def start(self) -> None:
        self.status_file.unlink(missing_ok=True)
        self._started = time.monotonic()
        self.process.start()

    def stop(self) -> None:
        self.process.stop()

    def _status(self) -> dict[str, Any] | None:
        try:
            loaded = json.loads(self.status_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return loaded if isinstance(loaded, dict) else None

    @property
    def catalog_version(self) -> str | None:
        status = self._status()
        version = status.get("catalog_version") if status else None
        return version if isinstance(version, str) else None

    def health(self) -> Health:
        process = self.process.health()
        if process.status == "down":
            return process
        status = self._status()
        if status is None or status.get("pid") != self.process.pid:
            if time.monotonic() - self._started < STALE_AFTER_S:
                return Health(process.status, f"{process.message}; starting")
            return Health("degraded", f"{process.message}; no status from the proxy process")
        age = time.time() - float(status.get("time", 0))
        if age > STALE_AFTER_S:
            return Health("degraded", f"{process.message}; not reporting for {age:.0f} s")
        problems = []
        if status.get("events_dropped"):
            problems.append(f"{status['events_dropped']} events dropped")
        if status.get("hook_errors"):
            problems.append(f"{status['hook_errors']} hook errors")
        if status.get("signatures_error"):
            problems.append(f"signatures: {status['signatures_error']}")
        summary = (
            f"{status.get('flows', 0)} flows, {status.get('blocked', 0)} blocked, "
            f"{status.get('inspections_active', 0)} inspecting"
        )
        if problems or process.status == "degraded":
            return Health("degraded", f"{process.message}; {summary}; " + "; ".join(problems))
        return Health("ok", f"{process.message}; {summary}")


def build(ctx: AgentContext) -> ProxyComponent:
    return ProxyComponent(ctx)
