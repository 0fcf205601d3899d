"""Operating-system seams: everything PhiWall does differently on Linux, Windows and macOS.

One small module per concern (data dir and its access control, service supervision, CA trust
store, system proxy settings, local AI app locations). Each picks its implementation from
`current()` and takes the OS facilities it calls (registry, crypt32, `security`, ACL API) as
arguments, so the Windows and macOS code paths are unit-tested here with fakes.
"""

from __future__ import annotations

import sys
from typing import Literal

OsName = Literal["linux", "windows", "macos"]


def current() -> OsName:
    """The platform this process runs on (Wine reports itself as Windows)."""
    if sys.platform == "win32":
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"
