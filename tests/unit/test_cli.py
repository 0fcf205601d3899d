"""The `phiwall` command: help everywhere, one-line errors, db/config/doctor subcommands.

These run the installed console script in a subprocess, as users and the eval harness do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import SUBCOMMANDS, cli

PHIWALL = str(Path(sys.executable).with_name("phiwall"))


def phiwall(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PHIWALL, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def _all_command_paths() -> list[list[str]]:
    import click

    paths: list[list[str]] = [[]]
    ctx = click.Context(cli)
    for name in SUBCOMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None
        paths.append([name])
        if isinstance(command, click.Group):
            paths.extend([name, sub] for sub in command.list_commands(ctx))
    return paths


@pytest.mark.parametrize("path", _all_command_paths(), ids=lambda p: " ".join(p) or "phiwall")
def test_every_command_has_help(path: list[str]) -> None:
    result = phiwall(*path, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def test_version() -> None:
    result = phiwall("--version")
    assert result.returncode == 0
    assert "phiwall" in result.stdout


def test_bad_config_is_one_line_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text('[proxy]\nlisten = "bogus"\n')
    result = phiwall("db", "upgrade", "--config", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "proxy.listen" in lines[0]


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result = phiwall("db", "upgrade", "--db", "postgresql+psycopg://x@127.0.0.1:9/none")
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot open store" in result.stderr


def test_unwritable_data_dir_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = phiwall("db", "upgrade", env={"PHIWALL_DATA_DIR": str(blocker / "sub")})
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert "cannot create store directory" in result.stderr


def test_phiwall_db_env_var_is_used(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    result = phiwall("db", "upgrade", env={"PHIWALL_DB": url})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "env.db").exists()
    status = phiwall("db", "status", env={"PHIWALL_DB": url})
    assert "up to date" in status.stdout


def test_db_reindex_restores_a_word_index_that_fell_behind(tmp_path: Path) -> None:
    """An event written while the index's triggers were gone (as after a restore from an old
    copy) is not found through the index until `phiwall db reindex` rebuilds it."""
    from agent.store import open_store, text_index
    from agent.store.events import make_event, write_events

    url = f"sqlite:///{tmp_path / 'words.db'}"
    assert phiwall("db", "upgrade", "--db", url).returncode == 0
    assert "trigram index" in phiwall("db", "status", "--db", url).stdout
    store = open_store(url, migrate=False)
    try:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER event_text_insert")
        event = make_event(agent_id="ws-1", kind="upload", verdict="block", reason="kingfisher", details={})
        write_events(store, [event])
        with store.engine.connect() as conn:
            assert text_index.candidates(conn, "kingfisher", 10) == 0
        result = phiwall("db", "reindex", "--db", url)
        assert result.returncode == 0, result.stderr
        assert "rebuilt and checked" in result.stdout
        with store.engine.connect() as conn:
            assert text_index.candidates(conn, "kingfisher", 10) == 1
    finally:
        store.dispose()
    missing = phiwall("db", "reindex", "--db", f"sqlite:///{tmp_path / 'nope.db'}")
    assert missing.returncode != 0
    assert not (tmp_path / "nope.db").exists()


def test_db_flag_beats_env_var(tmp_path: Path) -> None:
    flag_db = tmp_path / "flag.db"
    result = phiwall("db", "upgrade", "--db", f"sqlite:///{flag_db}", env={"PHIWALL_DB": f"sqlite:///{tmp_path}/e.db"})
    assert result.returncode == 0, result.stderr
    assert flag_db.exists()
    assert not (tmp_path / "e.db").exists()


def test_newer_store_is_refused_with_advice(tmp_path: Path) -> None:
    import sqlite3

    url = f"sqlite:///{tmp_path / 's.db'}"
    assert phiwall("db", "upgrade", "--db", url).returncode == 0
    with sqlite3.connect(tmp_path / "s.db") as conn:
        conn.execute("update alembic_version set version_num = 'ffff_from_the_future'")
    result = phiwall("db", "upgrade", "--db", url)
    assert result.returncode == 3
    assert "newer PhiWall" in result.stderr
    assert "upgrade PhiWall" in result.stderr


def test_config_init_show_path(tmp_path: Path) -> None:
    target = tmp_path / "conf" / "config.toml"
    assert phiwall("config", "init", "--config", str(target)).returncode == 0
    assert target.exists()
    again = phiwall("config", "init", "--config", str(target))
    assert again.returncode == 2
    assert "already exists" in again.stderr
    shown = json.loads(phiwall("config", "show", "--config", str(target)).stdout)
    assert shown["proxy"]["listen"] == "127.0.0.1:8080"
    assert shown["_source"] == str(target)
    assert phiwall("config", "path", "--config", str(target)).stdout.strip() == str(target)


def test_doctor_reports_libraries_and_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    assert phiwall("db", "upgrade", "--db", url).returncode == 0
    result = phiwall("doctor", "--json", "--db", url)
    findings = {f["name"]: f for f in json.loads(result.stdout)}
    assert findings["libmagic"]["level"] == "ok"
    assert findings["libchromaprint"]["level"] == "ok"
    assert findings["store"]["level"] == "ok"
    assert result.returncode == 0


def test_doctor_fails_on_a_world_readable_ca_key(tmp_path: Path, isolated_env: Path) -> None:
    ca = isolated_env / "ca"
    ca.mkdir(parents=True)
    key = ca / "mitmproxy-ca.pem"
    key.write_text("not really a key")
    key.chmod(0o644)
    result = phiwall("doctor")
    assert result.returncode == 1
    assert "chmod 600" in result.stdout


def test_unknown_subcommand_is_a_usage_error() -> None:
    result = phiwall("frobnicate")
    assert result.returncode == 2
    assert "No such command" in result.stderr
