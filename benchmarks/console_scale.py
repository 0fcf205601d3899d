"""Console at scale: time to first paint and to apply a filter on 10k, 100k and 1M events; memory.

Two measurements per store size:

* in-process (headless Textual, `App.run_test`): first frame (the app's skeleton painted),
  first rows (first page of the feed shown), then filters applied through the search box (an
  indexed one, a narrow one and free-text words: a file name, a word no event holds, a word
  in a fifth of the events), each timed from "apply" to the
  rows put in the table and to the screen refreshed with them drawn, plus the capped count;
  RSS of this process after each size;
* real terminal (tmux, `phiwall console`, the whole process including Python start-up):
  first paint (the filter bar and column headers on screen), first rows (the first event
  row), the match count on the status line, and the console process's RSS;
* bulk triage: closing every event of a filter matching 7,500 and 75,000 events
  (`console.data.bulk`, one transaction) in stores of 30k and 300k events, with the exact
  count the confirmation shows, timed separately.

Ratios are against the 10k run of the same invocation. Stores are generated with
`console.data.synthetic` (a million rows in ~20 s) into a temporary directory, or reused
from --cache-dir.

    .venv/bin/python benchmarks/console_scale.py            # 10k, 100k, 1M
    .venv/bin/python benchmarks/console_scale.py --sizes 10000 100000 --no-tmux --no-bulk
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console_common import NOW, best_ms
from textual.widgets import Input

from agent.store import open_store
from console.app import ConsoleApp
from console.data import bulk
from console.data.filters import EventFilter
from console.data.synthetic import SyntheticSpec, generate
from console.data.triage import TriageRequest
from console.settings import ConsoleSettings
from console.widgets.filter_bar import FilterBar

ROOT = Path(__file__).resolve().parents[1]
# The last day as an absolute time: the real-terminal run's clock is not pinned to NOW.
_DAY = f"since:{NOW - timedelta(hours=24):%Y-%m-%dT%H:%M}"
FILTERS = {
    "verdict:block since:24h": f"verdict:block {_DAY}",
    "+ user:user040": f"verdict:block {_DAY} user:user040",
    "word dictation-00040": "dictation-00040",
    "word api.openia.com (none)": "api.openia.com",
    "word firefox (common)": "firefox",
}


@dataclass
class Result:
    size: int
    first_frame_ms: float = 0.0
    first_rows_ms: float = 0.0
    # label -> ms of each run from "apply" to the rows put in the table, and to the screen
    # refreshed with them drawn.
    filter_ms: dict[str, list[float]] = field(default_factory=dict)
    painted_ms: dict[str, list[float]] = field(default_factory=dict)
    count_text: dict[str, str] = field(default_factory=dict)
    # label -> (rows loaded, the filter as the status line describes it): what the real-terminal
    # run waits for on screen.
    shown: dict[str, tuple[int, str]] = field(default_factory=dict)
    # label -> ms of each real-terminal run from Enter in the search box to the new rows on screen.
    tmux_filter_ms: dict[str, list[float]] = field(default_factory=dict)
    rss_mb: float = 0.0
    tmux_first_paint_ms: float | None = None
    tmux_first_rows_ms: float | None = None
    tmux_count_ms: float | None = None
    tmux_rss_mb: float | None = None
    tmux_baseline_ms: float | None = None
    # label -> (first page ms, capped count ms, query plan of the first page): the database alone.
    database: dict[str, tuple[float, float, str]] = field(default_factory=dict)


def store_for(size: int, directory: Path) -> str:
    path = directory / f"console-{size}.db"
    url = f"sqlite:///{path}"
    if not path.exists():
        # In a child process, so the generator's memory never counts as the console's.
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--generate", str(size), url], check=True)
        print(f"  generated {size:,} events in {time.perf_counter() - started:.1f} s", flush=True)
    return url


def generate_store(size: int, url: str) -> None:
    store = open_store(url)
    generate(store, SyntheticSpec(count=size, end=NOW - timedelta(seconds=1), span=timedelta(days=30)))
    store.dispose()


async def wait(pilot: Any, condition: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await pilot.pause(0.005)


async def measure_in_process(url: str, size: int, repeat: int) -> Result:
    result = Result(size=size)
    # As `phiwall console` runs: the app owns this process's garbage collector.
    settings = ConsoleSettings(
        url=url, analyst="bench", tz=UTC, clock=lambda: NOW, live=False, tune_garbage_collector=True
    )
    app = ConsoleApp(settings)
    started = time.perf_counter()
    async with app.run_test(size=(160, 50)) as pilot:
        result.first_frame_ms = (time.perf_counter() - started) * 1000
        await wait(pilot, lambda: (s := app.incidents_screen()) is not None and "rows" in s.metrics)
        result.first_rows_ms = (time.perf_counter() - started) * 1000
        screen = app.incidents_screen()
        assert screen is not None
        bar = screen.query_one(FilterBar)
        await wait(pilot, lambda: bar.ready)  # the real controls replace the first frame's look-alikes
        for _ in range(repeat):
            for label, query in FILTERS.items():
                await wait(pilot, lambda: not any(w.is_running for w in app.workers))
                screen.metrics.pop("apply_ms", None)
                screen.metrics.pop("painted_ms", None)
                screen.query_one("#search", Input).value = query
                screen.apply_filter()
                await wait(pilot, lambda: "painted_ms" in screen.metrics and screen.count is not None)
                result.filter_ms.setdefault(label, []).append(screen.metrics["apply_ms"])
                result.painted_ms.setdefault(label, []).append(screen.metrics["painted_ms"])
                result.count_text[label] = screen.count.text() if screen.count else "?"
                result.shown[label] = (len(screen.feed), screen.feed.filter.describe())
    result.rss_mb = psutil.Process().memory_info().rss / 2**20
    return result


def measure_database(url: str) -> dict[str, tuple[float, float, str]]:
    """Each filter's first page and capped count in the database alone (best of three), and the
    first page's `EXPLAIN QUERY PLAN` (SQLite): the part of a filter's time the indexes decide.

    Filters with words are measured twice: as the console runs them (the trigram index for a
    rare word, `text_plan`) and forced to the scan, the baseline without the index."""
    from console.data import incidents as queries
    from console.data.filters import Sort, parse_query

    store = open_store(url, migrate=False)
    measured: dict[str, tuple[float, float, str]] = {}
    try:
        with store.engine.connect() as conn:
            for label, text in {"no filter": "", **FILTERS}.items():
                flt = parse_query(text, now=NOW)
                plans: list[tuple[str, queries.TextPlan]] = [("", queries.text_plan(conn, flt))]
                if flt.words:
                    plans.append((" [scan]", "scan"))
                for suffix, page_plan in plans:
                    if suffix:  # forced to the scan
                        page_ms = best_ms(
                            lambda f=flt: conn.execute(
                                queries.page_query(conn, f, Sort(), "scan", after=None, limit=queries.PAGE_SIZE + 1)
                            ).all()
                        )
                        count_ms = best_ms(lambda f=flt: queries.count_matching(conn, f, plan="scan"))
                    else:  # as the console runs it, `text_plan`'s probe included
                        page_ms = best_ms(lambda f=flt: queries.fetch_page(conn, f, Sort()))
                        count_ms = best_ms(lambda f=flt: queries.count_matching(conn, f))
                    query = queries.page_query(conn, flt, Sort(), page_plan, after=None, limit=queries.PAGE_SIZE + 1)
                    sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
                    steps = "; ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all())
                    measured[label + suffix] = (page_ms, count_ms, f"{page_plan}: {steps}")
    finally:
        store.dispose()
    return measured


BASELINE_APP = """
from textual.app import App
from textual.widgets import Static
class Baseline(App[None]):
    def compose(self):
        yield Static("baseline-ready")
Baseline().run()
"""


def measure_tmux_baseline() -> float:
    """ms until a bare Textual app (one Static) paints in tmux: the floor for any Textual console
    on this machine at this moment (Python start-up + importing Textual + the first frame)."""
    socket = f"phiwall-bench-{uuid.uuid4().hex[:8]}"
    script = Path(tempfile.mkdtemp(prefix="phiwall-baseline-")) / "baseline.py"
    script.write_text(BASELINE_APP)

    def tmux(*args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", socket, "-f", "/dev/null", *args], capture_output=True, text=True, check=False
        ).stdout

    started = time.perf_counter()
    tmux("new-session", "-d", "-s", "c", "-x", "160", "-y", "50", f"exec {sys.executable} {script}")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "baseline-ready" in tmux("capture-pane", "-p", "-t", "c"):
                return (time.perf_counter() - started) * 1000
            time.sleep(0.01)
        raise TimeoutError("the baseline app never painted")
    finally:
        socket_path = tmux("display", "-p", "#{socket_path}").strip()
        tmux("kill-server")
        if socket_path:
            Path(socket_path).unlink(missing_ok=True)
        shutil.rmtree(script.parent, ignore_errors=True)


ROW_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d")


def measure_tmux_filters(tmux: Any, shown: dict[str, tuple[int, str]], repeat: int) -> dict[str, list[float]]:
    """Type each filter into the search box of the console in tmux: ms from Enter to its rows on
    screen (the status line's "N loaded · <filter>", or the empty view's message). Under
    "echo": ms from a typed character to it on screen, the terminal round trip's floor."""
    timings: dict[str, list[float]] = {}

    def pane() -> str:
        return str(tmux("capture-pane", "-p", "-t", "c"))

    def until(condition: Any, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition(pane()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} never showed:\n{pane()}")

    for _ in range(repeat):
        for label, query in FILTERS.items():
            rows, describe = shown[label]
            marker = "No events match" if rows == 0 else f"{rows:,} loaded · {describe}"
            for attempt in range(3):  # a key sent while the screen was busy can be lost: type again
                tmux("send-keys", "-t", "c", "/")
                time.sleep(0.2)
                tmux("send-keys", "-t", "c", "End", "C-u")
                tmux("send-keys", "-t", "c", "-l", query[:-1])
                try:
                    until(lambda text, typed=query[:-1]: typed in text, f"{label}: the query typed", timeout=3.0)
                    break
                except TimeoutError:
                    if attempt == 2:
                        raise
                    tmux("send-keys", "-t", "c", "Escape")
                    time.sleep(0.5)
            time.sleep(0.2)
            started = time.perf_counter()
            tmux("send-keys", "-t", "c", "-l", query[-1])
            until(lambda text, typed=query: typed in text, f"{label}: the last character typed")
            timings.setdefault("echo", []).append((time.perf_counter() - started) * 1000)
            time.sleep(0.2)
            started = time.perf_counter()
            tmux("send-keys", "-t", "c", "Enter")
            until(lambda text, marker=marker: marker in text, f"{label}: {marker!r}")
            timings.setdefault(label, []).append((time.perf_counter() - started) * 1000)
            until(lambda text: " matching" in text, f"{label}: the count")  # before the next filter
            time.sleep(0.3)
    return timings


def measure_tmux(
    url: str, shown: dict[str, tuple[int, str]], filter_repeat: int
) -> tuple[float, float, float, float, dict[str, list[float]]]:
    """Spawn `phiwall console` in tmux: ms to first paint, first rows and the count; RSS (MB);
    then each filter typed into the search box (`measure_tmux_filters`)."""
    phiwall = Path(sys.executable).with_name("phiwall")
    socket = f"phiwall-bench-{uuid.uuid4().hex[:8]}"

    def tmux(*args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", socket, "-f", "/dev/null", *args], capture_output=True, text=True, check=False
        ).stdout

    started = time.perf_counter()
    tmux(
        "new-session",
        "-d",
        "-s",
        "c",
        "-x",
        "160",
        "-y",
        "50",
        # PYTHONPATH: this checkout's code, not whichever one the venv's `phiwall` was installed from.
        f"unset COLUMNS LINES; PYTHONPATH={ROOT} exec {phiwall} console --db {url}",
    )
    try:
        deadline = time.monotonic() + 120
        paint = rows = count = 0.0
        while time.monotonic() < deadline:
            pane = tmux("capture-pane", "-p", "-t", "c")
            elapsed = (time.perf_counter() - started) * 1000
            if not paint and "Verdict" in pane and "any verdict" in pane:
                paint = elapsed
            if not rows and ROW_TIME.search(pane):
                rows = elapsed
            if " matching" in pane:
                count = elapsed
                break
            time.sleep(0.01)
        time.sleep(1.0)
        pane_pid = int(tmux("display", "-p", "-t", "c", "#{pane_pid}").strip())
        rss = psutil.Process(pane_pid).memory_info().rss / 2**20
        filters = measure_tmux_filters(tmux, shown, filter_repeat) if filter_repeat else {}
        tmux("send-keys", "-t", "c", "Escape")
        tmux("send-keys", "-t", "c", "q")
        time.sleep(0.5)
        return paint or count, rows or count, count, rss, filters
    finally:
        socket_path = tmux("display", "-p", "#{socket_path}").strip()
        tmux("kill-server")
        if socket_path:
            Path(socket_path).unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--cache-dir", type=Path, default=None, help="reuse generated stores from here")
    parser.add_argument("--no-tmux", action="store_true", help="skip the real-terminal measurement")
    parser.add_argument("--no-bulk", action="store_true", help="skip the bulk-triage measurement")
    parser.add_argument(
        "--repeat", type=int, default=3, help="real-terminal runs per size (bare app, then console); medians shown"
    )
    parser.add_argument(
        "--pg-bulk", action="store_true", help="also time bulk triage on a throw-away PostgreSQL (30k and 300k)"
    )
    parser.add_argument(
        "--filter-repeat", type=int, default=7, help="times each filter is applied, in process and in tmux"
    )
    parser.add_argument("--generate", nargs=2, metavar=("SIZE", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate_store(int(args.generate[0]), args.generate[1])
        return
    temp = None
    directory = args.cache_dir
    if directory is None:
        temp = tempfile.mkdtemp(prefix="phiwall-console-bench-")
        directory = Path(temp)
    directory.mkdir(parents=True, exist_ok=True)
    use_tmux = not args.no_tmux and shutil.which("tmux") is not None
    results: list[Result] = []
    try:
        for size in args.sizes:
            print(f"{size:,} events", flush=True)
            url = store_for(size, directory)
            result = asyncio.run(measure_in_process(url, size, max(1, args.filter_repeat)))
            result.database = measure_database(url)
            if use_tmux:
                runs = []
                for run in range(max(1, args.repeat)):
                    baseline = measure_tmux_baseline()
                    # Filters typed in the last run only: the first paints stay comparable.
                    last = run == max(1, args.repeat) - 1
                    *firsts, filters = measure_tmux(url, result.shown, args.filter_repeat if last else 0)
                    result.tmux_filter_ms = filters or result.tmux_filter_ms
                    runs.append((baseline, *firsts))
                    print(
                        "  tmux: bare app {:.0f} ms; console paint {:.0f} ms, rows {:.0f} ms".format(*runs[-1][:4]),
                        flush=True,
                    )
                baseline, paint, rows, count, rss = (statistics.median(column) for column in zip(*runs, strict=True))
                result.tmux_baseline_ms = baseline
                result.tmux_first_paint_ms, result.tmux_first_rows_ms, result.tmux_count_ms = paint, rows, count
                result.tmux_rss_mb = rss
            results.append(result)
        bulk_results = [] if args.no_bulk else [measure_bulk(size, directory) for size in (30_000, 300_000)]
        if args.pg_bulk:
            bulk_results += measure_bulk_postgres()
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    report(results)
    report_bulk(bulk_results)


@dataclass
class BulkResult:
    size: int
    matching: int
    scope_ms: float
    close_ms: float
    applied: int
    database: str = "SQLite"


def _time_bulk(url: str, size: int, database: str) -> BulkResult:
    store = open_store(url)
    try:
        flt = EventFilter(verdicts=frozenset({"block", "audit"}))
        request = TriageRequest("close", "bench", classification="benign", note="bulk benchmark")
        started = time.perf_counter()
        with store.engine.connect() as conn:
            scope = bulk.scope(conn, flt, request)
        scope_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        done = bulk.apply_matching(store.engine, flt, request, clock=lambda: NOW)
        close_ms = (time.perf_counter() - started) * 1000
    finally:
        store.dispose()
    return BulkResult(size, scope.matching, scope_ms, close_ms, done.applied, database)


def measure_bulk_postgres() -> list[BulkResult]:
    """The same bulk close on PostgreSQL (a throw-away server, like the fleet benchmarks)."""
    from benchmarks.fleet_common import postgres

    results = []
    with postgres() as server:
        for size in (30_000, 300_000):
            url = server.create_database()
            generate_store(size, url)
            results.append(_time_bulk(url, size, "PostgreSQL"))
    return results


def measure_bulk(size: int, directory: Path) -> BulkResult:
    """Close every block and audit (a quarter of the store) in a copy of a `size`-event store."""
    source = Path(store_for(size, directory).removeprefix("sqlite:///"))
    copy = source.with_name(f"bulk-{source.name}")
    shutil.copyfile(source, copy)
    store = open_store(f"sqlite:///{copy}")
    try:
        flt = EventFilter(verdicts=frozenset({"block", "audit"}))
        request = TriageRequest("close", "bench", classification="benign", note="bulk benchmark")
        started = time.perf_counter()
        with store.engine.connect() as conn:
            scope = bulk.scope(conn, flt, request)
        scope_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        done = bulk.apply_matching(store.engine, flt, request, clock=lambda: NOW)
        close_ms = (time.perf_counter() - started) * 1000
    finally:
        store.dispose()
        copy.unlink(missing_ok=True)
    return BulkResult(size=size, matching=scope.matching, scope_ms=scope_ms, close_ms=close_ms, applied=done.applied)


def report_bulk(results: list[BulkResult]) -> None:
    if not results:
        return
    print()
    print("bulk close of every matching event (one transaction, a triage row per event):")
    base = results[0]
    for r in results:
        ratio = r.close_ms / max(base.close_ms, 0.1)
        print(
            f"  {r.database:<10} store {r.size:>9,}: {r.matching:>7,} matching (exact count {r.scope_ms:6.0f} ms), "
            f"{r.applied:>7,} closed in {r.close_ms:7.0f} ms  (x{ratio:.1f} of the {base.matching:,} run)"
        )


def report(results: list[Result]) -> None:
    base = results[0]
    print()
    print(f"{'events':>10} | {'first frame':>11} | {'first rows':>10} | {'RSS in-proc':>11} | {'tmux paint':>10}"
          + f" | {'tmux rows':>9} | {'tmux count':>10} | {'tmux RSS':>8}")  # fmt: skip
    for r in results:

        def ms(value: float | None, width: int) -> str:
            return f"{value:{width - 3}.0f} ms" if value is not None else "-".rjust(width)

        tmux_rss = f"{r.tmux_rss_mb:5.0f} MB" if r.tmux_rss_mb is not None else "    -   "
        print(f"{r.size:>10,} | {r.first_frame_ms:8.0f} ms | {r.first_rows_ms:7.0f} ms | {r.rss_mb:8.0f} MB"
              + f" | {ms(r.tmux_first_paint_ms, 10)} | {ms(r.tmux_first_rows_ms, 9)}"
              + f" | {ms(r.tmux_count_ms, 10)} | {tmux_rss}")  # fmt: skip
    print()
    print("filters, ms, median (max) of the runs: in process from apply to the rows in the table and to")
    print("the screen drawn with them; in tmux from Enter in the search box to the rows on screen")

    def spread(values: list[float] | None) -> str:
        return f"{statistics.median(values):5.0f} ({max(values):4.0f})" if values else "      -     "

    def under_100(values: list[float] | None) -> str:
        return f"{sum(v < 100 for v in values)}/{len(values)} under 100 ms" if values else ""

    for r in results:
        print(f"  {r.size:,} events" + (f" (tmux echo of a typed character: {spread(r.tmux_filter_ms.get('echo'))})"
                                        if r.tmux_filter_ms else ""))  # fmt: skip
        for k in FILTERS:
            print(f"    {k:<28} table {spread(r.filter_ms[k])}  drawn {spread(r.painted_ms[k])}"
                  + f"  tmux {spread(r.tmux_filter_ms.get(k))} {under_100(r.tmux_filter_ms.get(k)):>18}"
                  + f"  [{r.count_text[k]} matching]")  # fmt: skip
    print()
    if any(r.tmux_baseline_ms for r in results):
        print("real terminal against a bare Textual app painted in tmux just before (same machine, same moment):")
        for r in results:
            if r.tmux_baseline_ms and r.tmux_first_paint_ms and r.tmux_first_rows_ms:
                extra = r.tmux_first_paint_ms - r.tmux_baseline_ms
                print(
                    f"  {r.size:>10,}: bare Textual app {r.tmux_baseline_ms:5.0f} ms; console first paint "
                    f"x{r.tmux_first_paint_ms / r.tmux_baseline_ms:.2f} (+{extra:.0f} ms), "
                    f"first rows x{r.tmux_first_rows_ms / r.tmux_baseline_ms:.2f}"
                )
        print()
    print("the database alone (first page and capped count, best of 3), and the first page's plan:")
    for r in results:
        for label, (page_ms, count_ms, plan) in r.database.items():
            print(f"  {r.size:>10,} {label:<33} page {page_ms:6.1f} ms, count {count_ms:6.1f} ms  [{plan}]")
    print()
    print(f"ratios against {base.size:,} events (same run):")
    for r in results[1:]:
        ratios = [
            f"{k}: x{statistics.median(r.filter_ms[k]) / max(statistics.median(base.filter_ms[k]), 0.1):.1f}"
            for k in FILTERS
        ]
        line = f"  {r.size:>10,}: first rows x{r.first_rows_ms / base.first_rows_ms:.2f}, " + ", ".join(ratios)
        if r.tmux_first_rows_ms and base.tmux_first_rows_ms:
            line += f", tmux first rows x{r.tmux_first_rows_ms / base.tmux_first_rows_ms:.2f}"
        print(line)


if __name__ == "__main__":
    main()
