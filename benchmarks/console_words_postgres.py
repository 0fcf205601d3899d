"""The console's word search on a fleet store (PostgreSQL): with the pg_trgm index, and without.

A throw-away PostgreSQL server gets `--events` synthetic events (`console.data.synthetic`,
as `console_scale.py` makes for SQLite) and `ANALYZE`. Each word filter's first page and
capped count (`console.data.incidents`, best of three, the page including `text_plan`'s probe)
are timed with migration 0007's GIN index, then again after dropping it in the same process
(the baseline), with the scans of each page's plan.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/console_words_postgres.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console_common import NOW, best_ms
from sqlalchemy import Connection

from agent.store import open_store, text_index
from console.data import incidents as queries
from console.data.filters import Sort, parse_query
from console.data.synthetic import SyntheticSpec, generate

WORDS = {
    "dictation-00040 (a file name)": "dictation-00040",
    "api.openia.com (none)": "api.openia.com",
    "firefox (common)": "firefox",
    "user040 (rare, common trigrams)": "user040",
    "verdict:block since:24h firefox": "verdict:block since:24h firefox",
}


def measure(conn: Connection) -> dict[str, tuple[float, float, str, str]]:
    found = {}
    for label, text in WORDS.items():
        flt = parse_query(text, now=NOW)
        page_ms = best_ms(lambda f=flt: queries.fetch_page(conn, f, Sort()))
        count_ms = best_ms(lambda f=flt: queries.count_matching(conn, f))
        count = queries.count_matching(conn, flt).text()
        plan_used = queries.text_plan(conn, flt)
        query = queries.page_query(conn, flt, Sort(), plan_used, after=None, limit=queries.PAGE_SIZE + 1)
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        lines = [str(r[0]).strip() for r in conn.exec_driver_sql(f"EXPLAIN {sql}").all()]
        # The nodes that read `event` (index, bitmap or sequential scans), not the asset sub-plan.
        plan = " / ".join(line.split("  (cost")[0] for line in lines if " on event" in line or "Bitmap" in line)
        found[label] = (page_ms, count_ms, count, f"{plan_used}: {plan}")
    return found


def main() -> None:
    from benchmarks.fleet_common import postgres

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    with postgres() as server:
        url = server.create_database()
        store = open_store(url)
        started = time.perf_counter()
        generate(store, SyntheticSpec(count=args.events, end=NOW - timedelta(seconds=1), span=timedelta(days=30)))
        took = time.perf_counter() - started
        print(f"{args.events:,} events generated (the GIN index kept up as they went in) in {took:.0f} s")
        with store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE event")
            conn.commit()
            assert text_index.has_text_index(conn), "migration 0007 made no pg_trgm index here"
            indexed = measure(conn)
            conn.exec_driver_sql(f"DROP INDEX {text_index.PG_INDEX}")
            conn.exec_driver_sql("ANALYZE event")
            conn.commit()
            scanned = measure(conn)
        store.dispose()
    print(f"\nfirst page / capped count, best of 3, {args.events:,} events (PostgreSQL):")
    for label in WORDS:
        page, count, matches, plan = indexed[label]
        page0, count0, _, plan0 = scanned[label]
        print(
            f"  {label:<34} with the index {page:7.1f} / {count:7.1f} ms ({matches:>7}); without {page0:7.1f} / "
            f"{count0:7.1f} ms: page x{page0 / max(page, 0.01):.1f}, count x{count0 / max(count, 0.01):.1f}"
        )
        print(f"      plan: {plan}")
        print(f"      plan without: {plan0}")


if __name__ == "__main__":
    main()
