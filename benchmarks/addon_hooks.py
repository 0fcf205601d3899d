"""CPU cost of the PhiWall addon's hooks per flow, in process: no network, no mitmproxy loop.

`proxy_overhead.py` measures the whole proxy against mitmproxy alone, which on a shared
machine is noisy at the few-percent level. This isolates what the addon itself adds to an
ordinary flow: `requestheaders`, `request` and `responseheaders` of `PhiWallGuard` on
prebuilt mitmproxy test flows (a GET with a 1 KB JSON answer to a host outside the catalog,
a 2 KB FHIR-shaped JSON POST of one long string, `post-bundle`: the FHIR bundle that
`proxy_overhead.py`'s post-api row sends, dozens of objects, arrays and quoted keys, and
`post-chat`: its chat-shaped row, `messages` JSON to an AI-looking host outside the catalog), timed
with the process CPU clock (time other processes take is not counted). Prints the best and
median of `--repeat` batches, in microseconds per flow. Run it in two checkouts to compare them:

    python benchmarks/addon_hooks.py [--flows 20000] [--repeat 7] [--kinds post-chat] [--profile /tmp/hooks]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mitmproxy import http
from mitmproxy.test import taddons, tflow, tutils
from proxy_overhead import FHIR_BUNDLE, MIXES

FHIR = json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"id": "x" * 1900}}]})
BUNDLE = FHIR_BUNDLE.decode()  # what proxy_overhead.py's post-api row sends
CHAT = MIXES["post-json-2k"][0][2]  # proxy_overhead.py's chat-shaped row, to an AI-looking host


KINDS = ("get-1k", "post-api-2k", "post-bundle", "post-chat")


def flows(kind: str, count: int) -> list[http.HTTPFlow]:
    made = []
    for _ in range(count):
        if kind == "get-1k":
            request = tutils.treq(
                host="news.example", port=443, scheme=b"https", method=b"GET", path=b"/a", content=b""
            )
            request.headers.pop("content-length", None)
        elif kind == "post-chat":
            request = tutils.treq(
                host="llm.example", port=443, scheme=b"https", method=b"POST", path=b"/api", content=CHAT
            )
            request.headers["content-type"] = "application/json"
        else:
            body = BUNDLE if kind == "post-bundle" else FHIR
            request = tutils.treq(
                host="fhir.example", port=443, scheme=b"https", method=b"POST", path=b"/fhir", content=body.encode()
            )
            request.headers["content-type"] = "application/fhir+json"
        flow = tflow.tflow(req=request)
        flow.response = None
        made.append(flow)
    return made


def answer() -> http.Response:
    return tutils.tresp(headers=((b"content-type", b"application/json"), (b"content-length", b"1024")), content=None)


async def run(count: int, repeat: int, kinds: list[str], profile: Path | None) -> None:
    from agent.config import Config
    from agent.media import MediaService
    from agent.proxy.addon import PhiWallGuard
    from agent.proxy.services import GuardServices
    from agent.proxy.settings import ProxySettings
    from agent.store import open_store
    from agent.store.events import EventWriter
    from agent.updates.active import load_active
    from agent.updates.source import SHIPPED_ROOT

    tmp = Path(tempfile.mkdtemp(prefix="addon-hooks-"))
    try:
        root = tmp / "signatures"
        shutil.copytree(SHIPPED_ROOT, root, ignore=shutil.ignore_patterns("__pycache__", "*.py", "dataset"))
        config = Config.model_validate(
            {"agent": {"id": "bench", "data_dir": str(tmp / "data")}, "signatures": {"catalog": str(root)}}
        )
        store = open_store(f"sqlite:///{tmp / 'bench.db'}")
        writer = EventWriter(store)
        writer.start()
        services = GuardServices(
            ProxySettings(config=config, store_url=store.url, data_dir=tmp / "data"),
            store=store,
            media=MediaService(store),
            signatures=load_active(tmp / "data", config),
            writer=writer,
            agent="bench",
        )
        await services.start()
        guard = PhiWallGuard(services)
        with taddons.context(guard):  # type: ignore[no-untyped-call]
            for kind in kinds:
                results = []
                profiler = cProfile.Profile() if profile is not None else None
                for _ in range(repeat):
                    batch = flows(kind, count)
                    responses = [answer() for _ in batch]
                    started = time.process_time()
                    if profiler is not None:
                        profiler.enable()
                    for flow, response in zip(batch, responses, strict=True):
                        guard.requestheaders(flow)
                        pending = guard.request(flow)
                        if pending is not None:
                            await pending
                        flow.response = response
                        guard.responseheaders(flow)
                    if profiler is not None:
                        profiler.disable()
                    results.append((time.process_time() - started) / count * 1e6)
                if profiler is not None and profile is not None:
                    profiler.dump_stats(profile.with_suffix(f".{kind}.prof"))
                print(f"{kind:12} best {min(results):6.1f} us/flow   median {statistics.median(results):6.1f} us/flow")
        await services.stop()
        services.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flows", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile stats to PATH.<kind>.prof")
    args = parser.parse_args()
    asyncio.run(run(args.flows, args.repeat, args.kinds, args.profile))


if __name__ == "__main__":
    main()
