"""No import circles in agent/, console/, signatures/ or publisher/ (scripts/import_cycles.py).

A circle hides an order dependency (the doctor's bottom-of-file imports, screens importing
the app that builds them): each was broken by a registry or a narrow protocol, and this keeps
it that way. Lazy imports inside functions count; `if TYPE_CHECKING:` imports do not.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "scripts" / "import_cycles.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_finds_a_circle_through_a_lazy_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "circled"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from circled import b\n")
    (package / "b.py").write_text("def f():\n    from circled import c\n")
    (package / "c.py").write_text("import circled.a\n")
    (package / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import circled.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    script = load_script()
    assert script.circles(script.import_graph(("circled",))) == [["circled.a", "circled.b", "circled.c"]]


def test_no_circles_in_the_project() -> None:
    script = load_script()
    found = script.circles(script.import_graph())
    assert found == [], "import circles: " + "; ".join(" <-> ".join(c) for c in found)
