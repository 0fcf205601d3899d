"""Core code never imports Textual or mitmproxy; the agent never imports the console
(docs/architecture.md "Who imports whom"; pyproject's import-linter contracts check the layers).

Checked statically on the source, so a violation fails even if the import is lazy.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def python_files(*parts: str) -> list[Path]:
    return sorted((ROOT.joinpath(*parts)).rglob("*.py"))


def test_boundary_checker_sees_imports(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    import textual.app\n    from mitmproxy import http\n")
    assert imported_modules(sample) == {"textual", "mitmproxy"}


@pytest.mark.parametrize("path", python_files("agent"), ids=lambda p: str(p.relative_to(ROOT)))
def test_agent_imports(path: Path) -> None:
    modules = imported_modules(path)
    assert "console" not in modules, "agent/ must not import console/"
    assert "textual" not in modules, "only console/ imports Textual"
    in_proxy = path.is_relative_to(ROOT / "agent" / "proxy")
    if not in_proxy:
        assert "mitmproxy" not in modules, "only agent/proxy/ imports mitmproxy"


@pytest.mark.parametrize("path", python_files("console"), ids=lambda p: str(p.relative_to(ROOT)))
def test_console_imports(path: Path) -> None:
    assert "mitmproxy" not in imported_modules(path), "the console reads the store only"


def imported_module_paths(path: Path) -> set[str]:
    """Full dotted names of absolute imports (`agent.proxy.flows`, not just `agent`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", python_files("agent", "payload"), ids=lambda p: str(p.relative_to(ROOT)))
def test_payload_core_is_transport_free(path: Path) -> None:
    """agent/payload turns bytes into media leaves for the proxy and the shadow classifier
    alike: it may not depend on either of them, nor on mitmproxy or Textual."""
    modules = imported_module_paths(path)
    roots = {name.split(".")[0] for name in modules}
    assert not roots & {"mitmproxy", "textual", "console"}
    assert not [name for name in modules if name.startswith(("agent.proxy", "agent.shadow"))]


def test_payload_core_exists() -> None:
    assert python_files("agent", "payload"), "the payload core moved?"
