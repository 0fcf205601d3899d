"""Find base64 media anywhere in a JSON document, with depth and node bounds.

The walk is iterative (no recursion limit to hit) and generic: every long string is a
candidate, and the object around it supplies the declared type (`mimeType`, `media_type`,
`format`...). That covers OpenAI `input_audio`, Gemini `inline_data`/`inlineData`, Anthropic
`source.data`, `data:` URIs in `image_url`, and shapes no one has catalogued yet.

Most JSON bodies (chat prompts, API calls) hold no media at all, and walking every node costs
more than parsing. `may_hold_media` decides from the raw bytes, in one regular-expression pass,
whether the walk could find anything; the body is still parsed, so malformed JSON is still an
error.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Mapping

from agent.payload.sniff import has_media_signature
from agent.payload.textmedia import DATA_KEYS, TYPE_KEYS, MediaProbe, declared_type_in, media_in_string
from agent.payload.types import Extraction, ExtractLimits, PayloadError, PayloadPart

Trail = tuple[object, str | int] | None
"""(parent trail, key): a path built only when a part or an error needs it (most never do)."""


# What can make the walk find a part or an error, looked for at every double quote of the
# raw JSON text (one regular-expression pass with a literal first character: fast):
# - a key that declares a media type for its siblings (then any string there may be media,
#   headerless PCM included, or an error if it is not base64);
# - a string starting with a data: URI (any case);
# - an escape (`\uXXXX`, `\/`) within 64 characters of a quote, which could spell a key or
#   the head of a base64 string differently from its raw bytes;
# - a string starting with 64 base64 characters (what `media_in_string` requires before it
#   decodes anything), whose decoded head must then carry a media file signature.
_TYPE_KEYS = b"|".join(re.escape(key.encode()) for key in TYPE_KEYS)
_WALK_TRIGGERS = re.compile(rb'"(?:(?:' + _TYPE_KEYS + rb')"|[dD][aA][tT][aA]:|([A-Za-z0-9+/_-]{64}))')
_WALK_TRIGGERS_OR_ESCAPES = re.compile(
    rb'"(?:(?:' + _TYPE_KEYS + rb')"|[dD][aA][tT][aA]:|[^"\\]{0,64}\\[u/]|([A-Za-z0-9+/_-]{64}))'
)
_URLSAFE = bytes.maketrans(b"-_", b"+/")
_TS_SYNC = b"\x47"  # MPEG-TS: its signature check needs 189 bytes, more than a 64-character head gives


def may_hold_media(data: bytes) -> bool:
    """False only when walking this JSON cannot find media nor an error in a media field.

    Valid for probes that accept nothing `has_media_signature` rejects (`guarded` probes, as
    the proxy uses). A depth or size bound the walk would report cannot hide media from this
    scan, which reads every string start in the text.
    """
    head = data[:4]
    if (b"\x00" in head or head.startswith((b"\xfe", b"\xff"))) and json.detect_encoding(data) != "utf-8":
        return True  # UTF-16/32 JSON (NUL bytes or a BOM up front): the byte patterns below do not apply
    triggers = _WALK_TRIGGERS_OR_ESCAPES if b"\\" in data else _WALK_TRIGGERS
    for match in triggers.finditer(data):
        head64 = match.group(1)
        if head64 is None:
            return True
        head = binascii.a2b_base64(head64.translate(_URLSAFE), strict_mode=False)
        if has_media_signature(head) or head.startswith(_TS_SYNC):
            return True
    return False


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
    document = parse_json(data)  # malformed JSON is an error whether or not it could hold media
    if may_hold_media(data):
        walk_json(document, extraction, limits, probe, root)


def extract_ndjson(data: bytes, extraction: Extraction, limits: ExtractLimits, probe: MediaProbe, root: str) -> None:
    """JSON Lines (batch APIs upload .jsonl files of requests)."""
    walk = may_hold_media(data)
    for number, line in enumerate(data.splitlines()):
        if line.strip():
            try:
                document = parse_json(line)
                if walk:
                    walk_json(document, extraction, limits, probe, f"{root}[line {number + 1}]")
            except PayloadError as exc:
                extraction.errors.append(f"{root} line {number + 1}: {exc}")
