"""Shared parts of the proxy benchmarks: a fast loopback upstream, a plain mitmproxy, a load
generator, and process helpers. Run from the checkout root (`python benchmarks/proxy_....py`).

    python benchmarks/proxy_common.py upstream --port-file F [--host 127.0.0.2]   # the upstream server alone
    python benchmarks/proxy_common.py plain --port-file F      # mitmproxy (mitmdump's addons) without PhiWall's
    python benchmarks/proxy_common.py slim --port-file F       # PhiWall's mitmproxy master without its addon
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SMALL = b"x" * 1024
LARGE = b"y" * (256 << 10)


# --- upstream ---------------------------------------------------------------------------------


class _Upstream(asyncio.Protocol):
    """Minimal HTTP/1.1 keep-alive server: reads requests (Content-Length bodies), answers fast."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buffer) < end + 4 + length:
                return
            del self.buffer[: end + 4 + length]
            path = head.split(" ", 2)[1]
            body = LARGE if "/large" in path else SMALL
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % len(body)
                + body
            )


async def _serve_upstream(port_file: Path, host: str = "127.0.0.1") -> None:
    server = await asyncio.get_running_loop().create_server(_Upstream, host, 0)
    port_file.write_text(f"{host}:{server.sockets[0].getsockname()[1]}\n")
    async with server:
        await server.serve_forever()


async def _serve_plain(port_file: Path, *, slim: bool = False) -> None:
    """mitmproxy with exactly the options PhiWall uses, but without the PhiWall addon.

    `slim=False`: mitmdump's master (`DumpMaster`, all of mitmproxy's default addons), the
    mitmproxy a hospital would otherwise run. `slim=True`: the master PhiWall's proxy runs
    (agent.proxy.master, only the addons enforcement needs), so PhiWall against it measures
    PhiWall's addon alone. The process is set up as `agent.proxy.runner.serve` sets up
    PhiWall's (logging levels, heap frozen out of the cyclic collector's sight before
    serving), so the comparison measures the addon, not process tuning.
    """
    import gc
    import logging

    from mitmproxy import options
    from mitmproxy.tools.dump import DumpMaster

    from agent.config import Config
    from agent.proxy.master import enforcement_master
    from agent.proxy.runner import mitmproxy_options
    from agent.proxy.settings import ProxySettings

    class PortFile:
        def running(self) -> None:
            from mitmproxy import ctx

            addons: Any = ctx.master.addons
            host, port = addons.get("proxyserver").listen_addrs()[0][:2]
            port_file.write_text(f"{host}:{port}\n")

    data_dir = port_file.parent / "plain-data"
    settings = ProxySettings(config=Config(), store_url="", data_dir=data_dir, listen_port=0)
    logging.getLogger("mitmproxy").setLevel("WARNING")
    gc.collect()
    gc.freeze()
    if slim:
        master = enforcement_master(options.Options())
    else:
        master = DumpMaster(options.Options(), with_termlog=False, with_dumper=False)
    addons: Any = master.addons
    addons.add(PortFile())
    master_options: Any = master.options
    master_options.update(**mitmproxy_options(settings))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, master.shutdown)
    await master.run()


# --- processes --------------------------------------------------------------------------------


@dataclass
class Child:
    proc: subprocess.Popen[bytes]
    address: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_child(
    argv: list[str], port_file: Path, *, env: dict[str, str] | None = None, log: Path | None = None
) -> Child:
    port_file.unlink(missing_ok=True)
    out = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 180  # a process start can take over a minute on a saturated machine
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return Child(proc, port_file.read_text().strip())
        if proc.poll() is not None:
            raise RuntimeError(
                f"{argv} exited with {proc.returncode}" + (f": {log.read_text()[-2000:]}" if log else "")
            )
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{argv} did not start")


# --- load ----------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p50(self) -> float:
        return self.percentile(0.50)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def _worker(
    proxy: str, upstream: str, mix: list[tuple[str, str, bytes]], stop_at: float, out: LoadResult
) -> None:
    host, port = proxy.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    index = 0
    try:
        while time.perf_counter() < stop_at:
            method, path, body = mix[index % len(mix)]
            index += 1
            request = f"{method} http://{upstream}{path} HTTP/1.1\r\nHost: {upstream}\r\nUser-Agent: bench\r\n"
            if body:
                request += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            started = time.perf_counter()
            writer.write(request.encode() + b"\r\n" + body)
            status = await _read_response(reader)
            out.latencies_ms.append((time.perf_counter() - started) * 1000)
            if status == 200:
                out.requests += 1
            else:
                out.errors += 1
    finally:
        writer.close()


def run_load(
    proxy: str, upstream: str, *, seconds: float, concurrency: int, mix: list[tuple[str, str, bytes]]
) -> LoadResult:
    """Keep `concurrency` keep-alive connections busy through `proxy` for `seconds`."""

    async def main() -> LoadResult:
        result = LoadResult()
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(_worker(proxy, upstream, mix, stop_at, result) for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
        return result

    return asyncio.run(main())


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["upstream", "plain", "slim"])
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1", help="upstream: loopback address to listen on")
    args = parser.parse_args()
    if args.role == "upstream":
        asyncio.run(_serve_upstream(args.port_file, args.host))
    else:
        asyncio.run(_serve_plain(args.port_file, slim=args.role == "slim"))


if __name__ == "__main__":
    main()
