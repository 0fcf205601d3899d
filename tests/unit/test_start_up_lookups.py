"""The console's quick look-ups (no pydantic, no SQLAlchemy) agree with the full readers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from agent.commands.options import resolve
from agent.config_location import peek_store
from agent.errors import StoreError
from agent.store_location import plain_sqlite_file, require_existing_store_quickly


@pytest.mark.parametrize(
    "url",
    ["sqlite:///x.db", "sqlite:////abs/x%20y.db", "sqlite:///:memory:", "sqlite:///~/a.db", "sqlite+pysqlite:////a/b.db",
     "sqlite:////a b/c.db", "sqlite:///"],
)  # fmt: skip
def test_plain_sqlite_file_reads_urls_like_sqlalchemy(url: str) -> None:
    database = make_url(url).database
    expected = Path(database).expanduser() if database and database != ":memory:" else None
    assert plain_sqlite_file(url) == expected


@pytest.mark.parametrize("url", ["sqlite:///x.db?mode=ro", "sqlite://host/x.db", "postgresql://u@h/db", "nonsense"])
def test_other_urls_are_left_to_the_full_parser(url: str) -> None:
    with pytest.raises(ValueError, match=re.escape(url)):
        plain_sqlite_file(url)


def test_quick_check_refuses_what_the_full_check_refuses(tmp_path: Path) -> None:
    (tmp_path / "there.db").touch()
    require_existing_store_quickly(f"sqlite:///{tmp_path / 'there.db'}")
    require_existing_store_quickly("postgresql+psycopg://phiwall@db.example/phiwall")  # checked when opened
    for url in (f"sqlite:///{tmp_path / 'missing.db'}", f"sqlite:///{tmp_path / 'missing.db'}?mode=ro"):
        with pytest.raises(StoreError, match="does not exist"):
            require_existing_store_quickly(url)
    with pytest.raises(StoreError, match="unsupported database"):
        require_existing_store_quickly("mysql://u@h/db")


@pytest.mark.parametrize(
    "text",
    ["", '[agent]\ndata_dir = "DIR/data"\n', '[store]\nurl = "sqlite:///DIR/other.db"\n',
     '[agent]\ndata_dir = "~/pw"\n[proxy]\nlisten = "127.0.0.1:9000"\n'],
)  # fmt: skip
@pytest.mark.parametrize("db_url", [None, "sqlite:////explicit.db"])
def test_peek_gives_what_the_validated_config_gives(
    text: str, db_url: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PHIWALL_DB", raising=False)
    monkeypatch.setenv("PHIWALL_DATA_DIR", str(tmp_path / "default"))
    config_file = tmp_path / "config.toml"
    config_file.write_text(text.replace("DIR", str(tmp_path)))
    config, url = resolve(config_file, db_url)
    assert peek_store(config_file, db_url) == (url, config.data_dir)


def test_peek_defers_to_the_full_reader_when_unsure(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    for text in ("not = [toml", "[agent]\ndata_dir = 5\n", "agent = 1\n", '[agent]\ndata_dir = ""\n'):
        bad.write_text(text)
        assert peek_store(bad, None) is None
    assert peek_store(tmp_path / "missing.toml", None) is None  # named explicitly: the full reader says why
