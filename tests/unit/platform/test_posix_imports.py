"""POSIX-only modules are imported where they are used, never at a module's top.

The Windows agent imports the same modules as the Linux one (the runner, attribution, the
watcher, the SIEM sender, the notification hub): an `import fcntl` at the top of any of them
stops the agent child from starting there. Found when the MSI's agent child was started
under Wine (docs/operations.md "Windows").
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
POSIX_ONLY = {"pwd", "grp", "fcntl", "termios", "resource", "posix", "tty", "pty"}


def _top_level_posix_imports(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for node in tree.body:  # statements at the module's top, not inside try/except or functions
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module.split(".")[0]]
        found += [(node.lineno, name) for name in names if name in POSIX_ONLY]
    return found


def test_no_module_imports_a_posix_only_module_at_its_top() -> None:
    offenders = []
    for package in ("agent", "console"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, name in _top_level_posix_imports(ast.parse(path.read_text(), str(path))):
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert offenders == []


def test_the_check_sees_a_top_level_import() -> None:
    assert _top_level_posix_imports(ast.parse("import os\nimport fcntl\n")) == [(2, "fcntl")]
    assert _top_level_posix_imports(ast.parse("try:\n    import fcntl\nexcept ImportError:\n    pass\n")) == []
