"""Overhead of the PhiWall proxy on traffic that is not an upload to an AI service.

Same run, same machine, same mitmproxy options: mitmproxy alone (mitmdump's master with all
its default addons: what a hospital would run without PhiWall) vs. the PhiWall proxy process
(`python -m agent.proxy`: its own master with only the mitmproxy addons enforcement needs,
agent.proxy.master, plus PhiWall's addon: routing, shadow-AI discovery, event writer). Since
that master is leaner than mitmdump's, `--slim` adds it without PhiWall's addon as a third
variant: PhiWall against it is the addon's own cost. All in front of fast loopback
upstreams, driven by keep-alive HTTP/1.1 clients. Traffic, all to
hosts outside the catalog:
- get-1k, get-256k: GETs (routing, shadow-AI counting, 1-in-N classification);
- post-json-2k: a 2 KB chat-shaped JSON body (`messages`); the shadow classifier takes its host
  for an AI service, so it gets the strict path: scanned for media, parsed (malformed JSON to
  an AI service fails closed), forwarded;
- post-api-2k: a 2 KB ordinary JSON body (a FHIR bundle) to another host, which the classifier
  takes for an ordinary API: scanned for media, not parsed, forwarded.

    python benchmarks/proxy_overhead.py [--rounds 25] [--seconds 1] [--concurrency 8] [--control] [--slim]
        [--kinds get-1k ...] [--quiet-load 1.5]

Robust against a shared machine:
- the proxy under test gets a core of its own (`--pin`, the default with two or more cores):
  both proxies are pinned to core 0, this process (the load generator) and the upstreams to
  the others, so the proxy, not the client, is what limits the rate, and the client's CPU
  does not steal from it;
- rounds are short and interleaved (for every round and traffic type both variants run back
  to back, in alternating order), so drift and other people's load hit both alike: many
  1-second pairs cancel the host's swings (plain mitmproxy's CPU per request was seen to move
  by 50 % within a minute on a pinned core) better than a few long ones;
- each figure is the median over rounds of the *per-round* ratio, shown with its
  interquartile range;
- besides requests/s and p50/p99 latency at the client, the proxy process's CPU time per
  request (user + system, from /proc) is reported: it is what the addon actually costs and
  the least sensitive to load, since time other processes take is not counted;
- `--control` adds a second plain mitmproxy as a third variant and reports it against the
  first (an A/A row per traffic type): the noise floor of the method, which should read 1.00;
- `--quiet-load L` waits (up to `--wait` seconds) until the 1-minute load average is below L
  before measuring, and the load average is printed before and after;
- every round also measures how many cores processes outside the benchmark kept busy (plus
  hypervisor steal): the "others" column. Ratios are reported over the round pairs where that
  stayed under `--quiet-cores` (default 0.25) for both variants, and over all pairs.

Ratios are "PhiWall relative to mitmproxy alone", >= 1 better: req/s phiwall/plain, latency
plain/phiwall, CPU plain/phiwall. Target: >= 0.95. Exit status 0 when the median CPU and
req/s ratios (over quiet pairs if there are any) of every traffic type meet it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from proxy_common import ROOT, Child, LoadResult, median, run_load, start_child

OBSERVATION = {
    "resource": {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": "Patient/example"},
        "valueQuantity": {"value": 72, "unit": "beats/minute", "system": "http://unitsofmeasure.org"},
    },
    "request": {"method": "POST", "url": "Observation"},
}
FHIR_BUNDLE = json.dumps({"resourceType": "Bundle", "type": "batch", "entry": [OBSERVATION] * 6}).encode()
MIXES = {
    "get-1k": [("GET", "/small", b"")],
    "get-256k": [("GET", "/large", b"")],
    "post-json-2k": [("POST", "/api", json.dumps({"messages": [{"role": "user", "content": "x" * 2000}]}).encode())],
    "post-api-2k": [("POST", "/fhir", FHIR_BUNDLE)],
}
SECOND_HOST_MIXES = {"post-api-2k"}
"""Sent to a second upstream address, so the two POST kinds are separate hosts to the classifier."""
VARIANTS = ("mitmproxy", "phiwall")
CONTROL = "mitmproxy-b"
"""`--control`: a second plain mitmproxy, measured like PhiWall against the first (A/A)."""
SLIM = "slim"
"""`--slim`: PhiWall's own mitmproxy master without its addon (agent.proxy.master)."""
TARGET = 0.95
PROXY_CORE = 0


@dataclass
class Round:
    load: LoadResult
    cpu_s: float
    """CPU seconds (user + system) the proxy process used during the round."""
    others: float
    """Cores that processes outside this benchmark kept busy during the round (plus steal)."""

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / max(1, self.load.requests) * 1e6


class Interference:
    """CPU used by everything but this benchmark's processes: the other engineers' load."""

    def __init__(self, ours: list[int]) -> None:
        self.ours = [psutil.Process(pid) for pid in ours]

    def _sample(self) -> tuple[float, float, float]:
        system = psutil.cpu_times()
        # Interrupt time is left out: it is mostly this benchmark's own loopback traffic.
        busy = system.user + system.nice + system.system + system.steal
        ours = 0.0
        for process in self.ours:
            times = process.cpu_times()
            ours += times.user + times.system
        return time.monotonic(), busy, ours

    def start(self) -> tuple[float, float, float]:
        return self._sample()

    def cores(self, since: tuple[float, float, float]) -> float:
        now, busy, ours = self._sample()
        return max(0.0, ((busy - since[1]) - (ours - since[2])) / max(1e-6, now - since[0]))


def public_loopback_signatures(tmp: Path) -> Path:
    """The shipped signatures, with loopback taken out of the internal zone.

    The upstreams here stand for public hosts outside the catalog; with the shipped policy,
    loopback is internal (agent.policy.zones) and would take the internal path instead.
    """
    from agent.updates.source import SHIPPED_ROOT

    root = tmp / "signatures"
    shutil.copytree(SHIPPED_ROOT, root, ignore=shutil.ignore_patterns("__pycache__", "*.py", "dataset"))
    policy = root / "policy" / "default.yaml"
    policy.write_text(policy.read_text().replace("internal_private_ranges: true", "internal_private_ranges: false"))
    return root


def start_phiwall(tmp: Path) -> Child:
    config = tmp / "config.toml"
    signatures = public_loopback_signatures(tmp)
    config.write_text(f'[agent]\nid = "bench"\ndata_dir = "{tmp / "data"}"\n[signatures]\ncatalog = "{signatures}"\n')
    argv = [sys.executable, "-m", "agent.proxy", "--listen", "127.0.0.1:0", "--config", str(config)]
    argv += ["--port-file", str(tmp / "phiwall.port")]
    return start_child(
        argv, tmp / "phiwall.port", env={"PHIWALL_DB": f"sqlite:///{tmp / 'bench.db'}"}, log=tmp / "phiwall.log"
    )


def cpu_seconds(child: Child) -> float:
    times = psutil.Process(child.proc.pid).cpu_times()
    return float(times.user + times.system)


def measure(
    child: Child,
    upstream: Child,
    args: argparse.Namespace,
    mix: list[tuple[str, str, bytes]],
    interference: Interference,
) -> Round:
    """One round of one traffic type through one proxy."""
    before = cpu_seconds(child)
    since = interference.start()
    load = run_load(child.address, upstream.address, seconds=args.seconds, concurrency=args.concurrency, mix=mix)
    return Round(load, cpu_seconds(child) - before, interference.cores(since))


def wait_for_quiet(limit: float, wait_s: float) -> float:
    """Block until the 1-minute load average is below `limit` (or `wait_s` passed); return it."""
    deadline = time.monotonic() + wait_s
    load = os.getloadavg()[0]
    while load >= limit and time.monotonic() < deadline:
        print(f"load average {load:.2f} >= {limit}: waiting for a quieter machine", flush=True)
        time.sleep(30)
        load = os.getloadavg()[0]
    return load


def quiet_pairs(rounds: dict[str, list[Round]], limit: float, variant: str = "phiwall") -> list[tuple[Round, Round]]:
    """(mitmproxy, `variant`) round pairs during which other processes used under `limit` cores."""
    pairs = list(zip(rounds["mitmproxy"], rounds[variant], strict=True))
    return [pair for pair in pairs if max(pair[0].others, pair[1].others) < limit]


def pin(children: list[Child], proxies: list[Child]) -> str:
    """Proxies on `PROXY_CORE`, this process and the other children on the remaining cores.

    Returns what was done, for the report. Without two usable cores (or on a system without
    affinity) nothing is pinned.
    """
    setter = getattr(os, "sched_setaffinity", None)
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if setter is None or len(cores) < 2:
        return "not pinned (fewer than 2 cores)"
    proxy_core = {cores[PROXY_CORE]}
    rest = set(cores) - proxy_core
    for child in proxies:
        setter(child.proc.pid, proxy_core)
    for child in children:
        if child not in proxies:
            setter(child.proc.pid, rest)
    setter(0, rest)
    return f"proxies pinned to core {cores[PROXY_CORE]}, load generator and upstreams to {sorted(rest)}"


def quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4)
    return q1, q3


def ratios(pairs: list[tuple[Round, Round]]) -> dict[str, list[float]]:
    """Per-round ratios, PhiWall relative to mitmproxy alone (>= 1: no worse)."""
    out: dict[str, list[float]] = {"rps": [], "p50": [], "p99": [], "cpu": []}
    for plain, phiwall in pairs:
        out["rps"].append(phiwall.load.rps / plain.load.rps)
        out["p50"].append(plain.load.p50 / phiwall.load.p50)
        out["p99"].append(plain.load.p99 / phiwall.load.p99)
        out["cpu"].append(plain.cpu_us_per_request / phiwall.cpu_us_per_request)
    return out


def shown_ratios(per_round: dict[str, list[float]]) -> str:
    parts = []
    for key, values in per_round.items():
        low, high = quartiles(values)
        parts.append(f"{key} {median(values):.3f} [{low:.2f}-{high:.2f}]")
    return "  ".join(parts)


def summary(runs: list[Round]) -> dict[str, float]:
    return {
        "rps": median([r.load.rps for r in runs]),
        "p50_ms": median([r.load.p50 for r in runs]),
        "p99_ms": median([r.load.p99 for r in runs]),
        "cpu_us": median([r.cpu_us_per_request for r in runs]),
        "requests": sum(r.load.requests for r in runs),
        "errors": sum(r.load.errors for r in runs),
        "others_cores": median([r.others for r in runs]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.0, help="per round, per variant and traffic type")
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--quiet-load", type=float, default=None, help="wait for a 1-min load average below this")
    parser.add_argument("--wait", type=float, default=1800.0, help="longest wait for --quiet-load, seconds")
    parser.add_argument(
        "--quiet-cores",
        type=float,
        default=0.25,
        help="a round pair counts as quiet when other processes used fewer cores than this during both rounds",
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="give the proxies a core of their own (default: yes, with two or more cores)",
    )
    parser.add_argument("--control", action="store_true", help="add a second plain mitmproxy: the A/A noise floor")
    parser.add_argument(
        "--slim", action="store_true", help="add PhiWall's mitmproxy master without its addon: the addon's own cost"
    )
    parser.add_argument("--kinds", nargs="+", choices=list(MIXES), default=list(MIXES), help="traffic types to measure")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    mixes = {name: MIXES[name] for name in args.kinds}

    with tempfile.TemporaryDirectory(prefix="phiwall-bench-") as tmp_name:
        tmp = Path(tmp_name)
        common = str(ROOT / "benchmarks" / "proxy_common.py")
        upstream = start_child(
            [sys.executable, common, "upstream", "--port-file", str(tmp / "up.port")], tmp / "up.port"
        )
        second = start_child(
            [sys.executable, common, "upstream", "--port-file", str(tmp / "up2.port"), "--host", "127.0.0.2"],
            tmp / "up2.port",
        )
        upstreams = {name: second if name in SECOND_HOST_MIXES else upstream for name in mixes}
        plain = start_child(
            [sys.executable, common, "plain", "--port-file", str(tmp / "plain.port")], tmp / "plain.port"
        )
        phiwall = start_phiwall(tmp)
        proxies = {"mitmproxy": plain, "phiwall": phiwall}
        if args.control:
            proxies[CONTROL] = start_child(
                [sys.executable, common, "plain", "--port-file", str(tmp / "plain-b.port")], tmp / "plain-b.port"
            )
        if args.slim:
            proxies[SLIM] = start_child(
                [sys.executable, common, "slim", "--port-file", str(tmp / "slim.port")], tmp / "slim.port"
            )
        variants = tuple(proxies)
        children = (upstream, second, *proxies.values())
        pinning = pin(list(children), list(proxies.values())) if args.pin else "not pinned (--no-pin)"
        interference = Interference([os.getpid(), *(child.proc.pid for child in children)])
        try:
            for child in proxies.values():  # warm up (connections, caches, CA generation, first classifications)
                for name, mix in mixes.items():
                    run_load(child.address, upstreams[name].address, seconds=1.0, concurrency=2, mix=mix)
            if args.quiet_load is not None:
                wait_for_quiet(args.quiet_load, args.wait)
            load_before = os.getloadavg()[0]
            rounds: dict[str, dict[str, list[Round]]] = {name: {v: [] for v in variants} for name in mixes}
            for index in range(args.rounds):
                for name, mix in mixes.items():
                    order = variants if index % 2 == 0 else variants[::-1]
                    for variant in order:
                        round_ = measure(proxies[variant], upstreams[name], args, mix, interference)
                        rounds[name][variant].append(round_)
            load_after = os.getloadavg()[0]
            print(
                f"{args.rounds} interleaved rounds x {args.seconds:.0f} s, {args.concurrency} connections, "
                f"{os.cpu_count()} cores, {pinning}; load average {load_before:.2f} before, {load_after:.2f} after"
            )
            columns = ("traffic", "variant", "req/s", "p50 ms", "p99 ms", "CPU us/req", "requests", "errors", "others")
            print("{:<14} {:<9} {:>8} {:>8} {:>8} {:>11} {:>9} {:>7} {:>7}".format(*columns))
            report: dict[str, object] = {
                "load_before": load_before,
                "load_after": load_after,
                "rounds": args.rounds,
                "seconds": args.seconds,
                "quiet_cores": args.quiet_cores,
                "pinning": pinning,
            }
            ok = True
            for name in mixes:
                row: dict[str, object] = {}
                for variant in variants:
                    figures = summary(rounds[name][variant])
                    row[variant] = figures
                    print(
                        f"{name:<14} {variant:<9} {figures['rps']:8.0f} {figures['p50_ms']:8.2f} "
                        f"{figures['p99_ms']:8.2f} {figures['cpu_us']:11.0f} {figures['requests']:9.0f} "
                        f"{figures['errors']:7.0f} {figures['others_cores']:7.2f}"
                    )
                quiet = quiet_pairs(rounds[name], args.quiet_cores)
                everything = quiet_pairs(rounds[name], float("inf"))
                for label, pairs in (("quiet", quiet), ("all", everything)):
                    if not pairs:
                        print(
                            f"{name:<14} {label:<9} no round pair with other processes under {args.quiet_cores} cores"
                        )
                        continue
                    per_round = ratios(pairs)
                    row[f"ratios_{label}"] = {key: median(values) for key, values in per_round.items()}
                    row[f"ranges_{label}"] = {key: [min(values), max(values)] for key, values in per_round.items()}
                    row[f"quartiles_{label}"] = {key: list(quartiles(values)) for key, values in per_round.items()}
                    row[f"pairs_{label}"] = len(pairs)
                    print(f"{name:<14} {label + ' ' + str(len(pairs)):<9} {shown_ratios(per_round)}")
                if CONTROL in variants:
                    control = ratios(quiet_pairs(rounds[name], float("inf"), CONTROL))
                    row["ratios_control"] = {key: median(values) for key, values in control.items()}
                    row["quartiles_control"] = {key: list(quartiles(values)) for key, values in control.items()}
                    print(f"{name:<14} {'A/A ' + str(args.rounds):<9} {shown_ratios(control)}")
                if SLIM in variants:
                    addon = ratios(list(zip(rounds[name][SLIM], rounds[name]["phiwall"], strict=True)))
                    row["ratios_addon"] = {key: median(values) for key, values in addon.items()}
                    row["quartiles_addon"] = {key: list(quartiles(values)) for key, values in addon.items()}
                    print(f"{name:<14} {'addon ' + str(args.rounds):<9} {shown_ratios(addon)}")
                decisive = ratios(quiet or everything)
                ok = ok and median(decisive["cpu"]) >= TARGET and median(decisive["rps"]) >= TARGET
                report[name] = row
            print(
                "ratios: median [interquartile range] of per-round ratios, PhiWall relative to mitmproxy alone "
                f"(>= 1: no worse), over quiet round pairs and over all; target >= {TARGET}"
                + ("; A/A: a second plain mitmproxy relative to the first (the method's noise)" if args.control else "")
                + ("; addon: PhiWall relative to its own master without the addon" if args.slim else "")
            )
            if args.json:
                args.json.write_text(json.dumps(report, indent=2))
            return 0 if ok else 1
        finally:
            for child in children:
                child.stop()


if __name__ == "__main__":
    sys.exit(main())
