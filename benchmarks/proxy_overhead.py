"""Overhead of the PhiWall addon on traffic that is not an upload to an AI service.

Same run, same machine, same mitmproxy options: mitmproxy alone vs. the PhiWall proxy
process (`python -m agent.proxy`: addon, routing, shadow-AI discovery, event writer), both
in front of one fast loopback upstream, driven by keep-alive HTTP/1.1 clients. Rounds
alternate between the two so drift affects both. Traffic: GET 1 KB, GET 256 KB and POST of
a 2 KB JSON body to an uncatalogued host (the POST takes PhiWall's inspection path for
unknown hosts: parsed, nothing to fingerprint, forwarded).

    python benchmarks/proxy_overhead.py [--seconds 8] [--rounds 3] [--concurrency 8]

Two ratios are printed: requests/s in the same run, and CPU time per request of the proxy
process (user + system). On a shared, loaded machine the first one is noisy (other processes
take the cores in turns); CPU per request is what the addon actually adds, and under
saturation the throughput ratio converges to it.

Target: with the addon >= 0.95 x without.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil
from proxy_common import ROOT, Child, LoadResult, median, run_load, start_child

MIXES = {
    "get-1k": [("GET", "/small", b"")],
    "get-256k": [("GET", "/large", b"")],
    "post-json-2k": [("POST", "/api", json.dumps({"messages": [{"role": "user", "content": "x" * 2000}]}).encode())],
}


@dataclass
class Round:
    load: LoadResult
    cpu_s: float
    """CPU seconds (user + system) the proxy process used during the round."""

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / max(1, self.load.requests) * 1e6


def start_phiwall(tmp: Path) -> Child:
    config = tmp / "config.toml"
    config.write_text(f'[agent]\nid = "bench"\ndata_dir = "{tmp / "data"}"\n')
    argv = [sys.executable, "-m", "agent.proxy", "--listen", "127.0.0.1:0", "--config", str(config)]
    argv += ["--port-file", str(tmp / "phiwall.port")]
    return start_child(
        argv, tmp / "phiwall.port", env={"PHIWALL_DB": f"sqlite:///{tmp / 'bench.db'}"}, log=tmp / "phiwall.log"
    )


def cpu_seconds(child: Child) -> float:
    times = psutil.Process(child.proc.pid).cpu_times()
    return float(times.user + times.system)


def measure(child: Child, upstream: Child, args: argparse.Namespace, mix: list[tuple[str, str, bytes]]) -> Round:
    before = cpu_seconds(child)
    load = run_load(child.address, upstream.address, seconds=args.seconds, concurrency=args.concurrency, mix=mix)
    return Round(load, cpu_seconds(child) - before)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="phiwall-bench-") as tmp_name:
        tmp = Path(tmp_name)
        common = str(ROOT / "benchmarks" / "proxy_common.py")
        upstream = start_child(
            [sys.executable, common, "upstream", "--port-file", str(tmp / "up.port")], tmp / "up.port"
        )
        plain = start_child(
            [sys.executable, common, "plain", "--port-file", str(tmp / "plain.port")], tmp / "plain.port"
        )
        phiwall = start_phiwall(tmp)
        children = [upstream, plain, phiwall]
        try:
            for child in (plain, phiwall):  # warm up (connections, caches, CA generation)
                run_load(child.address, upstream.address, seconds=1.0, concurrency=2, mix=MIXES["get-1k"])
            report: dict[str, dict[str, float]] = {}
            print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            columns = ("traffic", "variant", "req/s", "p50 ms", "p99 ms", "CPU us/req", "errors")
            print("{:<14} {:<9} {:>8} {:>8} {:>8} {:>11} {:>7}".format(*columns))
            for name, mix in MIXES.items():
                rounds: dict[str, list[Round]] = {"mitmproxy": [], "phiwall": []}
                for _ in range(args.rounds):
                    for variant, child in (("mitmproxy", plain), ("phiwall", phiwall)):
                        rounds[variant].append(measure(child, upstream, args, mix))
                row: dict[str, float] = {}
                for variant, runs in rounds.items():
                    rps = median([r.load.rps for r in runs])
                    p50 = median([r.load.p50 for r in runs])
                    p99 = median([r.load.p99 for r in runs])
                    cpu = median([r.cpu_us_per_request for r in runs])
                    errors = sum(r.load.errors for r in runs)
                    row.update(
                        {
                            f"{variant}_rps": rps,
                            f"{variant}_p50_ms": p50,
                            f"{variant}_p99_ms": p99,
                            f"{variant}_cpu_us": cpu,
                        }
                    )
                    print(f"{name:<14} {variant:<9} {rps:8.0f} {p50:8.2f} {p99:8.2f} {cpu:11.0f} {errors:7d}")
                row["ratio_rps"] = row["phiwall_rps"] / row["mitmproxy_rps"]
                row["ratio_cpu"] = row["mitmproxy_cpu_us"] / row["phiwall_cpu_us"]
                print(
                    f"{name:<14} ratio     {row['ratio_rps']:8.3f} (req/s, same run)  "
                    f"{row['ratio_cpu']:.3f} (CPU per request)   target >= 0.95"
                )
                report[name] = row
            if args.json:
                args.json.write_text(json.dumps(report, indent=2))
            return 0 if all(row["ratio_cpu"] >= 0.95 for row in report.values()) else 1
        finally:
            for child in children:
                child.stop()


if __name__ == "__main__":
    sys.exit(main())
