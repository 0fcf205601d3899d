"""Where local AI apps live on each platform, for the shadow-AI inventory.

The catalog's `local_apps` signatures already carry Windows and macOS process names and
executable globs (`ollama.exe`, `*\\LM Studio\\*`); this module adds the install folders
to look in for apps that are installed but not running, and normalises Windows executable
paths the way the signatures are written (lower case, backslashes).
"""

from __future__ import annotations

import os
from pathlib import PureWindowsPath

from agent.platform import OsName, current

# Per-user installs (Squirrel/Electron, Inno Setup default for Ollama) and machine-wide ones.
_WINDOWS_DIRS = (
    r"%LOCALAPPDATA%\Programs\Ollama",
    r"%LOCALAPPDATA%\Programs\LM Studio",
    r"%LOCALAPPDATA%\Programs\jan",
    r"%LOCALAPPDATA%\AnythingLLM",
    r"%LOCALAPPDATA%\Programs\GPT4All",
    r"%PROGRAMFILES%\Ollama",
    r"%PROGRAMFILES%\LM Studio",
)
_MACOS_DIRS = (
    "/Applications/Ollama.app",
    "/Applications/LM Studio.app",
    "/Applications/Jan.app",
    "/Applications/AnythingLLM.app",
    "~/.lmstudio",
    "~/.ollama",
)
_LINUX_DIRS = ("/usr/local/bin/ollama", "/usr/share/ollama", "~/.lmstudio", "~/.ollama", "~/.cache/lm-studio")


def install_locations(os_name: OsName | None = None, environ: dict[str, str] | None = None) -> list[str]:
    """Folders and files whose presence means a local AI app is installed (variables expanded)."""
    os_name = os_name or current()
    env = os.environ if environ is None else environ
    if os_name == "windows":
        out = []
        for template in _WINDOWS_DIRS:
            path = template
            for var in ("LOCALAPPDATA", "PROGRAMFILES"):
                path = path.replace(f"%{var}%", env.get(var, f"%{var}%"))
            out.append(path)
        return out
    home = env.get("HOME", "~")
    dirs = _MACOS_DIRS if os_name == "macos" else _LINUX_DIRS
    return [d.replace("~", home, 1) if d.startswith("~") else d for d in dirs]


def normalise_exe(path: str, os_name: OsName | None = None) -> str:
    """An executable path as signatures match it: Windows paths lower-cased with backslashes."""
    if (os_name or current()) == "windows":
        return str(PureWindowsPath(path)).lower()
    return path.lower()
