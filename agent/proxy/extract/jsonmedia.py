"""Find base64 media anywhere in a JSON document, with depth and node bounds.

The walk is iterative (no recursion limit to hit) and generic: every long string is a
candidate, and the object around it supplies the declared type (`mimeType`, `media_type`,
`format`...). That covers OpenAI `input_audio`, Gemini `inline_data`/`inlineData`, Anthropic
`source.data`, `data:` URIs in `image_url`, and shapes no one has catalogued yet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from agent.proxy.extract.textmedia import DATA_KEYS, MediaProbe, declared_type_in, media_in_string
from agent.proxy.extract.types import Extraction, ExtractLimits, PayloadError, PayloadPart

Trail = tuple[object, str | int] | None
"""(parent trail, key): a path built only when a part or an error needs it (most never do)."""


def _format_path(root: str, trail: Trail) -> str:
    keys: list[str | int] = []
    while trail is not None:
        parent, key = trail
        keys.append(key)
        trail = parent  # type: ignore[assignment]
    path = root
    for key in reversed(keys):
        if isinstance(key, int):
            path += f"[{key}]"
        elif key.isidentifier():
            path += f".{key}"
        else:
            path += f"[{json.dumps(key)}]"
    return path


def parse_json(data: bytes) -> object:
    try:
        return json.loads(data)
    except RecursionError:
        raise PayloadError("JSON nested too deeply to parse") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"malformed JSON: {str(exc)[:120]}") from None


def walk_json(
    document: object, extraction: Extraction, limits: ExtractLimits, probe: MediaProbe, root: str = "json:$"
) -> None:
    """Append every media string in `document` to `extraction` (errors there too)."""
    stack: list[tuple[object, Trail, int, Mapping[str, object] | None, str | None]] = [(document, None, 0, None, None)]
    nodes = 0
    min_chars = limits.min_base64_chars
    while stack:
        node, trail, depth, parent, key = stack.pop()
        nodes += 1
        if nodes > limits.max_json_nodes:
            extraction.errors.append(f"JSON has more than {limits.max_json_nodes} values: not fully inspected")
            extraction.truncated = True
            return
        if depth > limits.max_json_depth:
            where = _format_path(root, trail)
            extraction.errors.append(f"JSON nested deeper than {limits.max_json_depth} at {where}: not fully inspected")
            extraction.truncated = True
            continue
        if isinstance(node, str):
            if len(node) < min_chars:
                continue  # too short to hold fingerprintable media (the common case: plain values)
            declared = declared_type_in(parent) if parent is not None else None
            try:
                found = media_in_string(
                    node,
                    probe=probe,
                    min_chars=min_chars,
                    declared=declared,
                    declared_data=key in DATA_KEYS,
                )
            except PayloadError as exc:
                extraction.errors.append(f"{_format_path(root, trail)}: {exc}")
                continue
            if found is not None:
                where = _format_path(root, trail)
                part = PayloadPart(where=where, data=found.data, declared_type=found.declared_type, pcm=found.pcm)
                if not extraction.add(part, limits):
                    return
        elif isinstance(node, Mapping):
            # Reversed so that parts come out in document order.
            for child_key, child in reversed(list(node.items())):
                if isinstance(child, str | Mapping | list):
                    stack.append((child, (trail, child_key), depth + 1, node, child_key))
        elif isinstance(node, list):
            for index in range(len(node) - 1, -1, -1):
                child = node[index]
                if isinstance(child, str | Mapping | list):
                    stack.append((child, (trail, index), depth + 1, parent, None))


def extract_json(data: bytes, extraction: Extraction, limits: ExtractLimits, probe: MediaProbe, root: str) -> None:
    if not data.strip():
        return
    walk_json(parse_json(data), extraction, limits, probe, root)


def extract_ndjson(data: bytes, extraction: Extraction, limits: ExtractLimits, probe: MediaProbe, root: str) -> None:
    """JSON Lines (batch APIs upload .jsonl files of requests)."""
    for number, line in enumerate(data.splitlines()):
        if line.strip():
            try:
                walk_json(parse_json(line), extraction, limits, probe, f"{root}[line {number + 1}]")
            except PayloadError as exc:
                extraction.errors.append(f"{root} line {number + 1}: {exc}")
