"""Proxy overhead under Wine: PhiWall's proxy against plain mitmproxy, both run by the MSI's
Python under Wine, in the same run (issue 16's "proxy overhead under Wine" figure).

What it does: a fresh Wine prefix with the test shims (`tests.windows.conftest.new_prefix`),
`msiexec /i` of the MSI, the PhiWall service stopped (it would compete for the CPU), then two
proxies started by the installed `python.exe` under Wine:
- plain: mitmproxy's DumpMaster with exactly the options PhiWall sets
  (`agent.proxy.runner.mitmproxy_options`), no addon (as benchmarks/proxy_common.py's `plain`,
  which cannot run on Windows: it installs a SIGTERM handler on the event loop);
- phiwall: `python -m agent.proxy`, what the service's agent child and `SERVICEMODE=proxy` run.
Linux-side keep-alive clients drive them against proxy_common's loopback upstreams with
benchmarks/proxy_overhead.py's traffic mixes (hosts outside the catalog, loopback taken out of
the internal zone). Rounds are interleaved and alternate the order, so drift and other
people's load hit both alike; each figure is the median of per-round ratios (range shown).
CPU is the proxy's Windows process only (the shared wineserver is not counted).

    python benchmarks/wine_overhead.py [--msi dist/PhiWall-0.1.0-x64.msi] [--rounds 5]
        [--seconds 3] [--concurrency 4] [--mixes get-1k,post-json-2k,post-api-2k]

Without `--msi` it builds one with installer/windows/build.sh into .cache/msi (cached
downloads). Needs what the Wine tests need (`scripts/setup.sh --dev`). About 3 min plus
rounds x mixes x 2 x seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from proxy_common import ROOT, Child, LoadResult, median, run_load, start_child
from proxy_overhead import MIXES, SECOND_HOST_MIXES, public_loopback_signatures

from tests.windows.conftest import PYTHON, new_prefix

PLAIN = r"""
import asyncio, gc, logging, sys
from pathlib import Path
from mitmproxy import ctx, options
from mitmproxy.tools.dump import DumpMaster
from agent.config import Config
from agent.proxy.runner import mitmproxy_options
from agent.proxy.settings import ProxySettings

port_file = Path(sys.argv[1])

class PortFile:
    def running(self):
        host, port = ctx.master.addons.get("proxyserver").listen_addrs()[0][:2]
        port_file.write_text(f"{host}:{port}\n")

async def main():
    settings = ProxySettings(config=Config(), store_url="", data_dir=port_file.parent / "plain-data", listen_port=0)
    logging.getLogger("mitmproxy").setLevel("WARNING")
    gc.collect()
    gc.freeze()
    master = DumpMaster(options.Options(), with_termlog=False, with_dumper=False)
    master.addons.add(PortFile())
    master.options.update(**mitmproxy_options(settings))
    await master.run()

asyncio.run(main())
"""
"""The plain variant, run by the installed Python (`python -c PLAIN PORT_FILE`)."""


def windows(path: Path) -> str:
    return "Z:" + str(path).replace("/", "\\")


def build_msi() -> Path:
    out = ROOT / ".cache" / "msi"
    proc = subprocess.run(
        [str(ROOT / "installer" / "windows" / "build.sh"), str(out)], capture_output=True, text=True, check=True
    )
    return Path(proc.stdout.strip().splitlines()[-1])


def windows_process(shell: subprocess.Popen[bytes]) -> psutil.Process:
    """The proxy's Windows process: the child of `sh -c "wine ... | cat"` that is not `cat`."""
    for child in psutil.Process(shell.pid).children(recursive=True):
        if child.name() != "cat":
            return child
    raise RuntimeError("no Windows process under the shell")


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


Rounds = dict[tuple[str, str], list[tuple[LoadResult, float]]]
"""(traffic, variant) -> per round: the load result and the proxy's CPU seconds."""


def spread(values: list[float]) -> str:
    return f"x{median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def print_ratios(rounds: Rounds, mixes: list[str]) -> None:
    """PhiWall relative to plain mitmproxy, per traffic type, from same-round pairs."""
    print("\nPhiWall relative to plain mitmproxy under Wine (median of per-round ratios [min-max]; >= 1: no worse)")
    for name in mixes:
        pairs = list(zip(rounds[(name, "mitmproxy")], rounds[(name, "phiwall")], strict=True))
        rps = [ours.rps / plain.rps for (plain, _), (ours, _) in pairs if plain.rps]
        p50 = [plain.p50 / ours.p50 for (plain, _), (ours, _) in pairs]
        cpu = [
            (plain_cpu / max(1, plain.requests)) / max(1e-9, ours_cpu / max(1, ours.requests))
            for (plain, plain_cpu), (ours, ours_cpu) in pairs
        ]
        print(f"{name:14} req/s {spread(rps)}  p50 {spread(p50)}  CPU/req {spread(cpu)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--msi", type=Path, default=None, help="the MSI to install (default: build one)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0, help="per round, per variant and traffic type")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--mixes", default="get-1k,post-json-2k,post-api-2k", help=f"from {', '.join(MIXES)}")
    parser.add_argument("--keep", action="store_true", help="keep the Wine prefix and logs")
    args = parser.parse_args()
    mixes = args.mixes.split(",")
    msi = args.msi or build_msi()
    tmp = Path(tempfile.mkdtemp(prefix="wine-overhead-"))
    print(f"MSI {msi} ({msi.stat().st_size / 1e6:.0f} MB); work dir {tmp}", flush=True)
    started = time.monotonic()
    try:
        wine = new_prefix(tmp / "prefix", tmp / "stubs")
    except BaseException:
        env = {**os.environ, "WINEPREFIX": str(tmp / "prefix")}
        subprocess.run(["wineserver", "-k"], env=env, check=False)  # this prefix's wineserver only
        raise
    print(f"Wine prefix with the shims: {time.monotonic() - started:.0f} s", flush=True)
    children: list[Child] = []
    shells: list[subprocess.Popen[bytes]] = []
    try:
        started = time.monotonic()
        proc = wine.run("msiexec", "/i", windows(msi), "/qn", timeout=900)
        assert proc.returncode == 0, proc.stderr[-2000:]
        print(f"msiexec /i /qn: {time.monotonic() - started:.0f} s", flush=True)
        # The service starts at install and runs the agent: stop it, it would compete for the CPU.
        wine.python("from agent.platform.winservice import stop_service; stop_service()", shims=True)

        upstreams = []
        for index, host in enumerate(("127.0.0.1", "127.0.0.2")):
            port_file = tmp / f"upstream{index}.port"
            argv = [sys.executable, str(ROOT / "benchmarks" / "proxy_common.py"), "upstream"]
            upstreams.append(start_child([*argv, "--port-file", str(port_file), "--host", host], port_file))
        children += upstreams

        started = time.monotonic()
        port_file = tmp / "plain.port"
        plain_shell, plain = wine.start_listening(
            [PYTHON, "-B", "-c", PLAIN, windows(port_file)], tmp / "plain.log", port_file
        )
        shells.append(plain_shell)
        print(f"plain mitmproxy under Wine listening after {time.monotonic() - started:.0f} s", flush=True)

        started = time.monotonic()
        config = tmp / "config.toml"
        signatures = public_loopback_signatures(tmp)
        config.write_text(
            f"[agent]\nid = \"wine-bench\"\ndata_dir = '{windows(tmp / 'data')}'\n"
            f"[signatures]\ncatalog = '{windows(signatures)}'\n"
        )
        db = "sqlite:///" + windows(tmp / "bench.db").replace("\\", "/")
        port_file = tmp / "phiwall.port"
        argv = [PYTHON, "-B", "-m", "agent.proxy", "--listen", "127.0.0.1:0", "--config", windows(config)]
        argv += ["--db", db, "--port-file", windows(port_file)]
        phiwall_shell, phiwall = wine.start_listening(argv, tmp / "phiwall.log", port_file)
        shells.append(phiwall_shell)
        print(f"PhiWall proxy under Wine listening after {time.monotonic() - started:.0f} s", flush=True)

        proxies = {
            "mitmproxy": (plain, windows_process(plain_shell)),
            "phiwall": (phiwall, windows_process(phiwall_shell)),
        }
        rounds: Rounds = {}
        for name in mixes:  # warm-up: connections, lazy imports, the first classification
            upstream = upstreams[1 if name in SECOND_HOST_MIXES else 0].address
            for address, _ in proxies.values():
                run_load(address, upstream, seconds=1.0, concurrency=args.concurrency, mix=MIXES[name])
        for number in range(args.rounds):
            for name in mixes:
                upstream = upstreams[1 if name in SECOND_HOST_MIXES else 0].address
                order = list(proxies) if (number + mixes.index(name)) % 2 == 0 else list(reversed(proxies))
                for variant in order:
                    address, process = proxies[variant]
                    before = cpu_seconds(process)
                    load = run_load(
                        address, upstream, seconds=args.seconds, concurrency=args.concurrency, mix=MIXES[name]
                    )
                    rounds.setdefault((name, variant), []).append((load, cpu_seconds(process) - before))
            print(f"round {number + 1}/{args.rounds} done (load average {os.getloadavg()[0]:.1f})", flush=True)

        version = subprocess.run(["wine", "--version"], capture_output=True, text=True).stdout.strip()
        print(f"\n{version}, {args.rounds} rounds x {args.seconds:g} s, concurrency {args.concurrency}")
        print(
            f"{'traffic':14} {'variant':10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11} {'errors':>7}"
        )
        for name in mixes:
            for variant in proxies:
                runs = rounds[(name, variant)]
                rps = median([load.rps for load, _ in runs])
                p50 = median([load.p50 for load, _ in runs])
                p99 = median([load.p99 for load, _ in runs])
                cpu = median([cpu / max(1, load.requests) * 1e6 for load, cpu in runs])
                errors = sum(load.errors for load, _ in runs)
                print(f"{name:14} {variant:10} {rps:8.0f} {p50:8.1f} {p99:8.1f} {cpu:11.0f} {errors:7d}")
        print_ratios(rounds, mixes)
    finally:
        for shell in shells:
            wine.stop_listening(shell)
        for child in children:
            child.stop()
        wine.stop_keep_alive()
        subprocess.run(["wineserver", "-k"], env=wine.env, check=False)  # this prefix's wineserver only
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
