"""JSON arrays of byte values: binary the way JavaScript and some AI APIs serialise it.

`JSON.stringify(Array.from(bytes))` gives `[82, 73, 70, 70, ...]`, and some APIs take audio in
exactly that shape (`{"audio": [82, 73, ...]}`). `JSON.stringify(new Uint8Array(...))` gives an
object keyed by index (`{"0": 82, "1": 73, ...}`). Either is the file's bytes, one number each.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MIN_BYTE_VALUES = 1024
"""Shorter arrays hold nothing fingerprintable (and are common: ids, coordinates, tokens)."""

# What `may_hold_media` looks for in the raw text: an array that opens with 64 small integers,
# or an object that opens with keys "0" and "1". Both patterns begin with a literal, which the
# regular-expression engine finds by itself in C, so a body full of numbers costs no attempt
# at every digit, and an ordinary JSON body with dozens of objects and arrays costs no Python
# call per "[" or "{" (a FHIR bundle: 4 us instead of 24).
_BYTE_RUN = re.compile(rb"\[\s*(?:\d{1,3}\s*,\s*){63}\d{1,3}")
_INDEXED = re.compile(rb'\{\s*"0"\s*:\s*\d{1,3}\s*,\s*"1"\s*:\s*\d{1,3}')


def hints_at_byte_arrays(data: bytes) -> bool:
    """Whether `data` (JSON text) may hold a byte array: a necessary condition, cheap to test."""
    start = data.find(b"[")  # memchr: most bodies have none, or their first one late
    if start >= 0 and _BYTE_RUN.search(data, start) is not None:
        return True
    start = data.find(b'"0"')
    return start >= 0 and _INDEXED.search(data) is not None


def bytes_of_list(values: list[object]) -> bytes | None:
    """The bytes a list of 0-255 integers spells; None for any other list."""
    if len(values) < MIN_BYTE_VALUES or type(values[0]) is not int:
        return None
    try:
        return bytes(values)  # type: ignore[arg-type]  # checked by bytes() itself, in C
    except (TypeError, ValueError):
        return None


def bytes_of_indexed(node: Mapping[str, object]) -> bytes | None:
    """The bytes an index-keyed object (`{"0": 82, "1": 73, ...}`) spells; None otherwise."""
    if len(node) < MIN_BYTE_VALUES or "0" not in node:
        return None
    try:
        values = [node[str(index)] for index in range(len(node))]
    except KeyError:
        return None
    return bytes_of_list(values)
