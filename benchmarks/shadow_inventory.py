"""Cost of one local-AI-app inventory sweep and one bypass sweep on this machine.

    .venv/bin/python benchmarks/shadow_inventory.py [--rounds N] [--extra-processes N]

Uses the shipped catalog's `local_apps` signatures and AI host names (resolution is done
once before timing: the component caches it for ten minutes). Prints milliseconds per
sweep, with the number of processes and sockets examined, against baselines in the same
process: a bare `psutil.process_iter(["pid", "name"])` listing for the inventory, and a
bare `psutil.net_connections("inet")` for the bypass sweep. `--extra-processes` starts that
many idle processes first, to show how the sweep scales with the process table.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil

from agent.shadow.bypass import AddressBook, catalog_ai_hosts, scan
from agent.shadow.inventory import signatures_from_catalog, sweep
from agent.updates.source import shipped_bundle


def median_ms(fn: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--extra-processes", type=int, default=0)
    args = parser.parse_args()

    extra = [
        subprocess.Popen(["sleep", "600"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(args.extra_processes)
    ]
    try:
        catalog = shipped_bundle().catalog
        signatures = signatures_from_catalog(catalog)
        book = AddressBook(timeout_s=5.0)
        hosts = catalog_ai_hosts(catalog)
        book.refresh(hosts)
        sweep(signatures)  # warm caches
        t_inventory = median_ms(lambda: sweep(signatures), args.rounds)
        t_list = median_ms(lambda: list(psutil.process_iter(["pid", "name"])), args.rounds)
        t_bypass = median_ms(lambda: scan(book), args.rounds)
        t_sockets = median_ms(lambda: psutil.net_connections(kind="inet"), args.rounds)
        report = sweep(signatures)
        bypass = scan(book)
        book.close()
    finally:
        for proc in extra:
            proc.kill()
            proc.wait()

    print(
        f"shipped catalog: {len(signatures)} local-app signatures, {len(hosts)} AI host names "
        f"({book.size} addresses resolved here)"
    )
    print(
        f"  inventory sweep     {t_inventory:7.2f} ms  ({report.processes_seen} processes, "
        f"{len(report.findings)} local AI apps found; {report.access_denied} processes hid their executable, "
        f"so the system-wide socket scan {'ran' if report.access_denied else 'was skipped'})"
    )
    print(f"  baseline process_iter(pid, name)  {t_list:7.2f} ms   sweep/baseline = {t_inventory / t_list:.2f}")
    print(f"  bypass sweep        {t_bypass:7.2f} ms  ({bypass.connections_seen} sockets)")
    print(f"  baseline net_connections        {t_sockets:7.2f} ms   sweep/baseline = {t_bypass / t_sockets:.2f}")


if __name__ == "__main__":
    main()
