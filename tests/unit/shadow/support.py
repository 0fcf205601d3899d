"""Real processes and sockets for the shadow-AI tests, and a small catalog pointing at loopback.

Every helper starts genuine OS processes (a Python interpreter under another name, a client
that holds a TCP connection or a connected UDP socket) so psutil sees exactly what it would
see on a workstation. Each test gets its own loopback address (127.x.y.z) so sockets of other
tests or engineers on this machine never match its catalog.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from agent.policy.catalog import Catalog, LocalApp, Service

SERVER_CODE = """
import socket, sys, time
host = sys.argv[-1]
s = socket.socket(); s.bind((host, 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
time.sleep(120)
"""

TCP_CLIENT_CODE = """
import socket, sys, time
c = socket.create_connection((sys.argv[-2], int(sys.argv[-1])), timeout=5)
print("connected", flush=True)
time.sleep(120)
"""

PROXY_LIKE_CODE = """
import socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(8)
c = socket.create_connection((sys.argv[-2], int(sys.argv[-1])), timeout=5)
print(l.getsockname()[1], flush=True)
time.sleep(120)
"""

UDP_CLIENT_CODE = """
import socket, sys, time
family = socket.AF_INET6 if ":" in sys.argv[-2] else socket.AF_INET
u = socket.socket(family, socket.SOCK_DGRAM); u.connect((sys.argv[-2], int(sys.argv[-1])))
print("connected", flush=True)
time.sleep(120)
"""


def loopback_address() -> str:
    """A loopback address of our own (Linux routes all of 127.0.0.0/8 to lo)."""
    return f"127.{random.randint(1, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"


@dataclass
class Child:
    process: subprocess.Popen[str]
    first_line: str

    @property
    def pid(self) -> int:
        return self.process.pid


def _start(argv: list[str], *, executable: str | None = None, env: dict[str, str] | None = None) -> Child:
    process = subprocess.Popen(
        argv,
        executable=executable,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line:
        process.kill()
        raise RuntimeError(f"child {argv[0]} did not start")
    return Child(process, line)


@contextmanager
def children() -> Iterator[list[Child]]:
    """Collects started children and always kills them (each by its own pid)."""
    started: list[Child] = []
    try:
        yield started
    finally:
        for child in started:
            child.process.kill()
            child.process.wait(timeout=10)


def server_named_by_argv0(name: str, host: str) -> Child:
    """A listening Python whose argv[0] is `name` (what `exec -a name` does)."""
    return _start([name, "-c", SERVER_CODE, host], executable=sys.executable)


def server_with_process_name(name: str, host: str, tmp: Path) -> Child:
    """A listening Python whose process name (comm) is `name`: started through a symlink so named."""
    link = tmp / name
    if not link.exists():
        link.symlink_to(os.path.realpath(sys.executable))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return _start([str(link), "-I", "-c", SERVER_CODE, host], env=env)


def server_with_args(extra: list[str], host: str) -> Child:
    return _start([sys.executable, "-c", SERVER_CODE, *extra, host])


def tcp_client(host: str, port: int) -> Child:
    return _start([sys.executable, "-c", TCP_CLIENT_CODE, host, str(port)])


def proxy_like(host: str, port: int) -> Child:
    """Listens on a port of its own (the "proxy port", printed) and holds a connection to host:port."""
    return _start([sys.executable, "-c", PROXY_LIKE_CODE, host, str(port)])


def udp_client(host: str, port: int) -> Child:
    return _start([sys.executable, "-c", UDP_CLIENT_CODE, host, str(port)])


def listener(host: str) -> socket.socket:
    sock = socket.socket()
    sock.bind((host, 0))
    sock.listen(8)
    return sock


def wait_until(predicate: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.02)
    return False


def loopback_catalog(ai_address: str, apps: tuple[LocalApp, ...] = (), version: str = "2026.1.1") -> Catalog:
    """One AI service reachable at `ai_address`, plus a service carrying local-app signatures."""
    services = [
        Service(
            id="loopback-llm",
            name="Loopback LLM",
            vendor="Test",
            category="inference",
            interface="api",
            hosts=(ai_address,),
            examples=(f"https://{ai_address}/v1/chat/completions",),
        )
    ]
    if apps:
        services.append(
            Service(
                id="local-models",
                name="Local model servers",
                vendor="Test",
                category="local",
                interface="api",
                local_apps=apps,
            )
        )
    return Catalog(version=version, services=tuple(services))
