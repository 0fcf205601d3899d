"""The payload core as another git revision had it, importable next to this checkout's.

Before/after figures of the payload core are only comparable when both run on the same machine
at the same moment (this machine is shared: absolute times move 2x with the load). `load(ref)`
exports `agent/payload/` at `ref` (`git archive`) into a temporary directory under the package
name `payload_<ref>`, so both versions can be imported by one process (the payload core imports
nothing of the agent outside itself). Run from the checkout root.
"""

from __future__ import annotations

import importlib
import io
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType

from proxy_common import ROOT

_KEEP: list[tempfile.TemporaryDirectory[str]] = []


def export(ref: str) -> tuple[Path, str]:
    """(directory to put on sys.path, package name) of `agent/payload` at `ref`."""
    name = "payload_" + re.sub(r"\W", "_", ref)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "agent/payload"],
        check=True,
        capture_output=True,
    ).stdout
    holder = tempfile.TemporaryDirectory(prefix="phiwall-baseline-")
    _KEEP.append(holder)
    root = Path(holder.name)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    package = root / name
    (root / "agent" / "payload").rename(package)
    for source in package.glob("*.py"):
        source.write_text(source.read_text().replace("agent.payload", name))
    return root, name


def load(ref: str) -> ModuleType:
    """The payload package (`agent.payload` API) as it was at `ref`."""
    root, name = export(ref)
    sys.path.insert(0, str(root))
    return importlib.import_module(name)
