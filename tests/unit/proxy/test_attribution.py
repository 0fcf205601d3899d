"""Process attribution on real loopback sockets, including another process as the client."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest

from agent.proxy.attribution import ProcessAttribution, lookup_process


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server
    server.close()


def test_own_process(listener: socket.socket) -> None:
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    try:
        info = lookup_process(client.getsockname()[1], listener.getsockname()[1])
        assert info.pid == os.getpid()
        assert info.name == psutil.Process().name()
        assert info.user == psutil.Process().username()
        assert info.exe
    finally:
        client.close()
        accepted.close()


def test_child_process_is_found(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    code = f"import socket,sys; s=socket.create_connection(('127.0.0.1',{port})); sys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    try:
        accepted, peer = listener.accept()
        info = lookup_process(peer[1], port)
        assert info.pid == child.pid
        assert info.exe is not None
        assert os.path.realpath(info.exe) == os.path.realpath(sys.executable)
        # Lineage for the analyst: who launched it, and the command line as typed.
        assert info.parent_pid == os.getpid()
        assert info.parent_name == psutil.Process().name()
        assert info.cmdline is not None
        assert info.cmdline.startswith(sys.executable)
        assert "socket.create_connection" in info.cmdline
        accepted.close()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)


def test_closed_socket_gives_nothing(listener: socket.socket) -> None:
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    port = client.getsockname()[1]
    client.close()
    accepted.close()
    info = lookup_process(port, listener.getsockname()[1])
    assert info.pid is None


async def test_cached_per_connection(listener: socket.socket) -> None:
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    attribution = ProcessAttribution()
    try:
        first, second = await asyncio.gather(
            attribution.lookup("conn-1", client.getsockname()[1], listener.getsockname()[1]),
            attribution.lookup("conn-1", client.getsockname()[1], listener.getsockname()[1]),
        )
        assert first == second
        assert first.pid == os.getpid()
        assert attribution.lookups == 1
        assert (await attribution.lookup("conn-2", None, None)).pid is None
    finally:
        attribution.close()
        client.close()
        accepted.close()
