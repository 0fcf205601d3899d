"""A throw-away PostgreSQL server for the fleet benchmarks (initdb + pg_ctl, like the tests)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.postgres import PostgresServer, _free_port, _pg_bindir


@contextmanager
def postgres() -> Iterator[PostgresServer]:
    bindir = _pg_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL binaries not found (scripts/setup.sh --dev installs them)")
    run_as = None
    if os.geteuid() == 0:
        pwd.getpwnam("postgres")
        run_as = "postgres"
    base = Path(tempfile.mkdtemp(prefix="phiwall-pg-bench-"))
    if run_as:
        shutil.chown(base, run_as)
    datadir = base / "data"
    subprocess.run(
        (["runuser", "-u", run_as, "--"] if run_as else [])
        + [str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "-A", "trust", "-E", "UTF8"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    server = PostgresServer(bindir=bindir, datadir=datadir, port=_free_port(), run_as=run_as)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
