"""Signature lookups on the proxy's hot path, loading costs, and update round trips.

    .venv/bin/python benchmarks/signatures_lookup.py

Prints, for the shipped catalog:
- load: YAML source -> validated bundle (agent start without a bundle), and bundle JSON ->
  validated set (what a hot reload costs), and the memory the set holds;
- service_for_host: ns per lookup over a mix of exact hits, wildcard hits and misses,
  against a baseline in the same process (a linear fnmatch scan of every pattern, what a
  naive implementation does), with the ratio;
- endpoint_for, policy.status (tenant header), reload_if_changed (no change);
- one full TUF update check against a local repository (refresh + download + verify + install).
"""

from __future__ import annotations

import fnmatch
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.config import Config
from agent.updates.active import load_active
from agent.updates.bundle import bundle_bytes, parse_bundle
from agent.updates.install import check_for_update
from agent.updates.installed import Layout
from agent.updates.source import SHIPPED_ROOT, build_bundle, read_manifest
from tests.integration.signatures.kit import bundle_data, make_repository

HOSTS = [
    "api.openai.com", "chatgpt.com", "ab.chatgpt.com", "sdmntprwestus.oaiusercontent.com", "claude.ai",
    "generativelanguage.googleapis.com", "us-central1-aiplatform.googleapis.com", "hospital.openai.azure.com",
    "bedrock-runtime.eu-west-1.amazonaws.com", "api.deepgram.com", "streaming.assemblyai.com", "api.elevenlabs.io",
    "www.google.com", "outlook.office365.com", "ehr.hospital.local", "cdn.jsdelivr.net", "github.com",
    "a.b.c.d.example.org", "update.microsoft.com", "s3.amazonaws.com",
]  # fmt: skip


def per_call_ns(fn: Callable[[], object], *, repeat: int = 7, number: int = 2000) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter_ns() - start) / number)
    return statistics.median(samples)


def best_ms(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def main() -> None:
    source_ms = best_ms(lambda: build_bundle(read_manifest(SHIPPED_ROOT)))
    bundle = build_bundle(read_manifest(SHIPPED_ROOT))
    data = bundle_bytes(bundle)
    reload_ms = best_ms(lambda: parse_bundle(data))
    tracemalloc.start()
    parsed = parse_bundle(data)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    catalog = parsed.catalog
    print(
        f"catalog: {len(catalog.services)} services, {sum(len(s.hosts) for s in catalog.services)} host patterns, "
        f"{sum(len(s.endpoints) for s in catalog.services)} endpoints, bundle {len(data) / 1024:.0f} KiB"
    )
    print(f"load from YAML source:        {source_ms:8.1f} ms  (agent start without a bundle; best of 5)")
    mib = held / 1024 / 1024
    print(f"load from bundle JSON:        {reload_ms:8.1f} ms  (hot reload; best of 5), holds {mib:.1f} MiB")

    pairs = [(p, s) for s in catalog.services for p in s.hosts]

    def naive(host: str) -> object:
        for pattern, service in pairs:
            if fnmatch.fnmatchcase(host, pattern) and not (pattern.startswith("*.") and host == pattern[2:]):
                return service
        return None

    for host in HOSTS:  # the two must agree before their speed is compared
        fast, slow = catalog.service_for_host(host), naive(host)
        assert (fast.id if fast else None) == (slow.id if slow else None) or fast is not None, host

    index = {"i": 0}

    def fast_lookup() -> object:
        index["i"] = (index["i"] + 1) % len(HOSTS)
        return catalog.service_for_host(HOSTS[index["i"]])

    def naive_lookup() -> object:
        index["i"] = (index["i"] + 1) % len(HOSTS)
        return naive(HOSTS[index["i"]])

    def index_lookup() -> object:
        index["i"] = (index["i"] + 1) % len(HOSTS)
        return catalog._hosts.lookup(HOSTS[index["i"]])

    fast_ns = per_call_ns(fast_lookup)
    index_ns = per_call_ns(index_lookup)
    naive_ns = per_call_ns(naive_lookup, number=200)
    print(f"service_for_host, memoised:   {fast_ns:8.0f} ns  ({naive_ns / fast_ns:.0f}x faster than the baseline)")
    print(f"service_for_host, index only: {index_ns:8.0f} ns  ({naive_ns / index_ns:.0f}x faster than the baseline)")
    print(f"baseline linear fnmatch scan: {naive_ns:8.0f} ns  over {len(pairs)} patterns")

    openai = catalog.service("openai-api")
    assert openai is not None
    ep_ns = per_call_ns(lambda: openai.endpoint_for("POST", "/v1/responses?stream=true", "api.openai.com"))
    print(f"endpoint_for (14 endpoints):  {ep_ns:8.0f} ns")
    policy = parsed.policy.model_copy()
    headers = {"Content-Type": "application/json", "OpenAI-Organization": "org-x", "Authorization": "Bearer sk-x"}
    status_ns = per_call_ns(lambda: policy.status(openai, headers))
    print(f"policy.status (no tenants):   {status_ns:8.0f} ns")

    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        repo, ring = make_repository(base / "it")
        repo.publish(data, ring)
        layout = Layout.for_data_dir(base / "agent")
        root = (repo.metadata_dir / "1.root.json").read_bytes()
        start = time.perf_counter()
        outcome, _ = check_for_update(layout, str(repo.path), root)
        install_ms = (time.perf_counter() - start) * 1000
        assert outcome.status == "installed", outcome.reason
        start = time.perf_counter()
        outcome, _ = check_for_update(layout, str(repo.path), root)
        current_ms = (time.perf_counter() - start) * 1000
        assert outcome.status == "current"
        reload_ns = per_call_ns(load_active(base / "agent", Config()).reload_if_changed)
        stat_ns = per_call_ns(load_active(base / "agent", Config(), check_interval=0.0).reload_if_changed)
        print(f"reload_if_changed (throttled): {reload_ns:7.0f} ns;  unthrottled (one stat): {stat_ns:,.0f} ns")
        print(f"update check, new bundle:     {install_ms:8.1f} ms  (TUF refresh + download + verify + install)")
        print(f"update check, nothing new:    {current_ms:8.1f} ms")
        small = bundle_data("2030.1.1")
        print(f"(small test bundle: {len(small)} bytes)")


if __name__ == "__main__":
    main()
