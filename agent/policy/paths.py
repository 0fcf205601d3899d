"""The two small pattern languages of catalog endpoints: URL paths and JSON paths.

URL path patterns (matched against the request path without its query string):
- literal text, case-sensitive, starting with ``/``;
- ``{name}`` one non-empty piece of a segment (``/v1/uploads/{id}/parts``,
  ``/v1beta/models/{model}:generateContent``);
- ``*`` any text within a segment; ``**`` as a whole segment: zero or more segments.

JSON paths (where base64 media sits in a JSON body):
- dotted keys ``source.data``; ``[*]`` every element of an array, ``[N]`` one element;
- ``*`` every value of an object; ``**`` any depth (zero or more levels), e.g. ``**.inline_data.data``.
A path that meets a list where it expects an object applies to every element, because vendors
accept both a single part and a list of parts in many places.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MAX_JSON_DEPTH = 64


class PatternError(ValueError):
    """A URL-path or JSON-path pattern is malformed; the message names it."""


_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


def compile_path_pattern(pattern: str) -> re.Pattern[str]:
    if not pattern.startswith("/"):
        raise PatternError(f"invalid path pattern {pattern!r}: must start with '/'")
    if any(ch in pattern for ch in "?# \t\n"):
        raise PatternError(f"invalid path pattern {pattern!r}: no query, fragment or spaces")
    segments = pattern[1:].split("/")
    parts: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            parts.append("(?:/.*)?" if last else "(?:/[^/]*)*?")
            continue
        if "**" in segment:
            raise PatternError(f"invalid path pattern {pattern!r}: '**' must be a whole segment")
        if "{" in _PLACEHOLDER.sub("", segment) or "}" in _PLACEHOLDER.sub("", segment):
            raise PatternError(f"invalid path pattern {pattern!r}: unbalanced braces in {segment!r}")
        regex = ""
        position = 0
        for match in _PLACEHOLDER.finditer(segment):
            regex += _literal(segment[position : match.start()]) + "[^/]+?"
            position = match.end()
        regex += _literal(segment[position:])
        parts.append("/" + regex)
    try:
        return re.compile("".join(parts) + r"\Z")
    except re.error as exc:  # pragma: no cover - the construction above only emits valid regexes
        raise PatternError(f"invalid path pattern {pattern!r}: {exc}") from None


def _literal(text: str) -> str:
    return "[^/]*".join(re.escape(piece) for piece in text.split("*"))


def strip_query(path: str) -> str:
    return path.split("?", 1)[0].split("#", 1)[0] or "/"


# --- JSON paths ---------------------------------------------------------------------------

_ANY_INDEX = object()
_ANY_KEY = object()
_ANY_DEPTH = object()
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\*|\d+)\]|(\.)")


@dataclass(frozen=True)
class JsonPath:
    """A compiled JSON path; `find(document)` yields every value it reaches."""

    text: str
    steps: tuple[object, ...]

    @classmethod
    def compile(cls, text: str) -> JsonPath:
        if not text or text.startswith(".") or text.endswith(".") or ".." in text:
            raise PatternError(f"invalid JSON path {text!r}")
        steps: list[object] = []
        position = 0
        for match in _TOKEN.finditer(text):
            if match.start() != position:
                raise PatternError(f"invalid JSON path {text!r} at offset {position}")
            position = match.end()
            key, index, _dot = match.groups()
            if key is not None:
                if key == "**":
                    steps.append(_ANY_DEPTH)
                elif key == "*":
                    steps.append(_ANY_KEY)
                elif "*" in key:
                    raise PatternError(f"invalid JSON path {text!r}: '*' must be a whole key")
                else:
                    steps.append(key)
            elif index is not None:
                steps.append(_ANY_INDEX if index == "*" else int(index))
        if position != len(text) or not steps:
            raise PatternError(f"invalid JSON path {text!r}")
        if steps[-1] is _ANY_DEPTH:
            raise PatternError(f"invalid JSON path {text!r}: cannot end with '**'")
        return cls(text, tuple(steps))

    def find(self, document: Any) -> Iterator[Any]:
        yield from _walk(document, self.steps, 0)


def _walk(node: Any, steps: tuple[object, ...], depth: int) -> Iterator[Any]:
    if depth > MAX_JSON_DEPTH:
        return
    if not steps:
        yield node
        return
    step, rest = steps[0], steps[1:]
    if step is _ANY_DEPTH:
        if not isinstance(node, list):  # a list's elements are visited below: no double match
            yield from _walk(node, rest, depth + 1)
        children: list[Any] = []
        if isinstance(node, dict):
            children = list(node.values())
        elif isinstance(node, list):
            children = node
        for child in children:
            yield from _walk(child, steps, depth + 1)
        return
    if isinstance(node, list) and step is not _ANY_INDEX and not isinstance(step, int):
        for item in node:  # a list where an object was expected: apply to each element
            yield from _walk(item, steps, depth + 1)
        return
    if step is _ANY_INDEX:
        if isinstance(node, list):
            for item in node:
                yield from _walk(item, rest, depth + 1)
    elif isinstance(step, int):
        if isinstance(node, list) and -len(node) <= step < len(node):
            yield from _walk(node[step], rest, depth + 1)
    elif step is _ANY_KEY:
        if isinstance(node, dict):
            for value in node.values():
                yield from _walk(value, rest, depth + 1)
    elif isinstance(node, dict) and isinstance(step, str) and step in node:
        yield from _walk(node[step], rest, depth + 1)
