"""The environment is read in one place, typed: a bad value names its variable."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from agent.config import config_path, load_config
from agent.environment import environment
from agent.errors import ConfigError
from agent.paths import default_data_dir
from agent.updates.component import DEFAULT_POLL_SECONDS, poll_seconds

ROOT = Path(__file__).resolve().parents[2]


def test_variables_reach_the_code_that_uses_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PHIWALL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PHIWALL_DB", "sqlite:////srv/phiwall/store.db")
    monkeypatch.setenv("PHIWALL_SIGNATURES_POLL_SECONDS", "0.05")
    assert default_data_dir() == tmp_path / "data"
    assert load_config(None).store_url() == "sqlite:////srv/phiwall/store.db"
    assert load_config(None).store_url("sqlite:///x.db") == "sqlite:///x.db", "--db comes first"
    assert poll_seconds() == 0.2, "clamped to its floor"


def test_empty_values_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PHIWALL_DB", "PHIWALL_CONFIG", "PHIWALL_DEBUG", "PHIWALL_SIGNATURES_POLL_SECONDS"):
        monkeypatch.setenv(name, "")
    env = environment()
    assert (env.db, env.config, env.debug) == (None, None, False)
    assert poll_seconds() == DEFAULT_POLL_SECONDS
    assert config_path(None)[1] is False, "no explicit config file"


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("yes", True), ("true", True), ("0", False)])
def test_debug_is_a_boolean(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("PHIWALL_DEBUG", value)
    assert environment().debug is expected


def test_a_malformed_value_is_an_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHIWALL_SIGNATURES_POLL_SECONDS", "fifteen minutes")
    with pytest.raises(ConfigError, match="PHIWALL_SIGNATURES_POLL_SECONDS") as caught:
        poll_seconds()
    assert caught.value.exit_code == 2


def _reads_environment(tree: ast.AST) -> list[int]:
    """Lines that read variables: os.environ.get/[...]/getenv (copying it whole for a child is fine)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            if func.attr == "getenv" and isinstance(func.value, ast.Name) and func.value.id == "os":
                lines.append(node.lineno)
            if func.attr == "get" and ast.unparse(func.value) == "os.environ":
                lines.append(node.lineno)
        if (
            isinstance(node, ast.Subscript)
            and ast.unparse(node.value) == "os.environ"
            and isinstance(node.ctx, ast.Load)
        ):
            lines.append(node.lineno)
    return lines


def test_no_other_module_reads_the_environment() -> None:
    offenders = []
    for package in ("agent", "console"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "agent" / "environment.py":
                continue
            for line in _reads_environment(ast.parse(path.read_text(), str(path))):
                offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert offenders == [], "read it through agent.environment"


def test_the_scan_sees_each_way_of_reading() -> None:
    source = 'import os\na = os.environ.get("X")\nb = os.getenv("Y")\nc = os.environ["Z"]\nd = {**os.environ}\n'
    assert _reads_environment(ast.parse(source)) == [2, 3, 4]


def test_every_field_has_a_parser_and_all_can_be_set_at_once(tmp_path: Path) -> None:
    from dataclasses import fields

    from agent.environment import _PARSERS, PREFIX, Environment

    samples = {"Path | None": str(tmp_path), "str | None": "x", "str": "DEBUG", "bool": "yes", "float | None": "2.5"}
    assert {str(f.type) for f in fields(Environment)} <= set(_PARSERS)
    variables = {PREFIX + f.name.upper(): samples[str(f.type)] for f in fields(Environment)}
    env = Environment.from_mapping(variables)
    assert env.data_dir == tmp_path
    assert env.debug is True
    assert env.signatures_poll_seconds == 2.5
