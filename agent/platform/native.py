"""The native libraries the agent loads with ctypes (libchromaprint, libmagic, libarchive).

On Linux they come from Debian packages and are required: a missing one is an ImportError at
start, as before. On Windows no PyPI wheel ships them. The MSI carries a libchromaprint built
from Debian's source package with mingw-w64 (installer/windows/build-chromaprint.sh) in the
runtime's `DLLs` folder, put on PATH here because pyacoustid finds it through
`ctypes.util.find_library`, which on Windows searches PATH only. libmagic and libarchive are
optional on Windows (docs/operations.md, "Windows"): `optional_binding` gives None there and
the callers fall back to the payload core's byte signatures (agent.media.signatures) and to
`tarfile`; the archive formats only libarchive reads fail closed with a reason.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from agent.environment import prepend_to_search_path
from agent.platform import current

BINDING_ERRORS = (ImportError, OSError, TypeError, AttributeError)
"""What importing a ctypes binding raises when its library is absent (libarchive-c passes
`find_library`'s None to `LoadLibrary`, a TypeError on Windows)."""


def bundled_dll_dir() -> Path:
    """Where the MSI puts the DLLs it builds (`PhiWall\\python\\DLLs`)."""
    return Path(sys.prefix) / "DLLs"


def expose_bundled_dlls() -> None:
    """On Windows, make the bundled DLLs findable by `find_library` and the loader."""
    if current() != "windows":
        return
    folder = bundled_dll_dir()
    if folder.is_dir():
        prepend_to_search_path(folder)


def chromaprint_module() -> ModuleType:
    """pyacoustid's ctypes binding to libchromaprint (ImportError when the library is missing)."""
    expose_bundled_dlls()
    return importlib.import_module("chromaprint")


def optional_binding(name: str) -> ModuleType | None:
    """The binding `name` (magic, libarchive), or None on Windows when its library is absent.

    Elsewhere the import error propagates: Linux installs have these libraries (install.sh)."""
    expose_bundled_dlls()
    try:
        return importlib.import_module(name)
    except BINDING_ERRORS:
        if current() == "windows":
            return None
        raise
