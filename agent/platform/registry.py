"""A minimal registry interface (winreg on Windows, a dict in tests).

Only the operations PhiWall's machine settings need: set a string, a DWORD or a binary value,
read one back, delete one. Keys are created on demand.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

HKLM = "HKLM"


def _winreg() -> Any:
    """`winreg`, typed loosely: it exists on Windows only."""
    return importlib.import_module("winreg")


class Registry(Protocol):
    def set_string(self, hive: str, key: str, name: str, value: str) -> None: ...
    def set_dword(self, hive: str, key: str, name: str, value: int) -> None: ...
    def set_binary(self, hive: str, key: str, name: str, value: bytes) -> None: ...
    def get(self, hive: str, key: str, name: str) -> str | int | bytes | None: ...
    def delete_value(self, hive: str, key: str, name: str) -> None: ...


class WinRegistry:
    """The real registry through `winreg` (64-bit view, so a 32-bit host writes the same keys)."""

    def _open(self, hive: str, key: str, write: bool) -> Any:
        winreg = _winreg()
        root = {HKLM: winreg.HKEY_LOCAL_MACHINE}[hive]
        access = winreg.KEY_WOW64_64KEY | (winreg.KEY_SET_VALUE if write else winreg.KEY_READ)
        if write:
            return winreg.CreateKeyEx(root, key, 0, access)
        return winreg.OpenKey(root, key, 0, access)

    def _set(self, hive: str, key: str, name: str, kind: int, value: object) -> None:
        winreg = _winreg()
        with self._open(hive, key, write=True) as handle:
            winreg.SetValueEx(handle, name, 0, kind, value)

    def set_string(self, hive: str, key: str, name: str, value: str) -> None:
        winreg = _winreg()
        self._set(hive, key, name, winreg.REG_SZ, value)

    def set_dword(self, hive: str, key: str, name: str, value: int) -> None:
        winreg = _winreg()
        self._set(hive, key, name, winreg.REG_DWORD, value)

    def set_binary(self, hive: str, key: str, name: str, value: bytes) -> None:
        winreg = _winreg()
        self._set(hive, key, name, winreg.REG_BINARY, value)

    def get(self, hive: str, key: str, name: str) -> str | int | bytes | None:
        winreg = _winreg()
        try:
            with self._open(hive, key, write=False) as handle:
                value, _kind = winreg.QueryValueEx(handle, name)
        except FileNotFoundError:
            return None
        return value  # type: ignore[no-any-return]

    def delete_value(self, hive: str, key: str, name: str) -> None:
        winreg = _winreg()
        try:
            with self._open(hive, key, write=True) as handle:
                winreg.DeleteValue(handle, name)
        except FileNotFoundError:
            pass


class FakeRegistry:
    """An in-memory registry for tests of the Windows code paths on Linux."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str, str], str | int | bytes] = {}

    def set_string(self, hive: str, key: str, name: str, value: str) -> None:
        self.values[(hive, key.lower(), name.lower())] = value

    def set_dword(self, hive: str, key: str, name: str, value: int) -> None:
        self.values[(hive, key.lower(), name.lower())] = value

    def set_binary(self, hive: str, key: str, name: str, value: bytes) -> None:
        self.values[(hive, key.lower(), name.lower())] = value

    def get(self, hive: str, key: str, name: str) -> str | int | bytes | None:
        return self.values.get((hive, key.lower(), name.lower()))

    def delete_value(self, hive: str, key: str, name: str) -> None:
        self.values.pop((hive, key.lower(), name.lower()), None)
