"""The structure of a body's start, as the shadow-AI classifier reads it: names, never values.

Bounded readers over a prefix of a request or response body: JSON key names (a tokenizer that
stops after a fixed number of tokens and copes with truncation), form field names, multipart
field names (through the payload core's multipart parser) and the sniffed media kinds. Names go
through the caller's `namer`, so the classifier decides how names become features; values never
leave this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote_plus

from agent.payload.multipart import parse_multipart
from agent.payload.sniff import MediaKind, base64_media_kind, media_kind
from agent.payload.types import PayloadError

Namer = Callable[[str], str]
"""A raw name (JSON key, form field) to its normalised form; "" drops it."""

MAX_RESPONSE_PREFIX = 8 * 1024
MAX_SSE_EVENTS = 4
MAX_KEYS = 128
MAX_JSON_TOKENS = 4096
MAX_JSON_DEPTH = 8
MAX_FORM_FIELDS = 64
MAX_MULTIPART_PARTS = 32
MAX_NAME_CHARS = 48

# JSON tokenizer over bytes: whole strings (unrolled loop, linear), structural characters,
# runs of anything else, and a lone quote that marks an unterminated (truncated) string.
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]:,]|[^"{}\[\]:,]+|"', re.DOTALL)
_MEDIA_TYPE = re.compile(r"^\s*([A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,96})")


def media_type(value: str) -> str:
    """`type/subtype` of a Content-Type value in lower case, without parameters; "" if none."""
    match = _MEDIA_TYPE.match(value)
    return match.group(1).lower() if match else ""


@dataclass
class BodyStructure:
    keys: tuple[str, ...] = ()
    top_level_keys: tuple[str, ...] = ()
    key_pairs: tuple[str, ...] = ()
    form_fields: tuple[str, ...] = ()
    media_kinds: tuple[MediaKind, ...] = ()
    truncated: bool = False
    notes: tuple[str, ...] = ()
    events_json: bool = False


def read_response(content_type: str, prefix: bytes, namer: Namer) -> BodyStructure:
    """Key names of a response body's start: JSON (also NDJSON) or the JSON `data:` of the
    first server-sent events; otherwise the sniffed media kind (a TTS answer is audio)."""
    prefix = prefix[:MAX_RESPONSE_PREFIX]
    if not prefix:
        return BodyStructure()
    if content_type == "text/event-stream":
        payloads = sse_data(prefix)
        if not payloads:
            return BodyStructure()
        body = read_json(b"\n".join(payloads), namer)
        body.events_json = True
        return body
    stripped = prefix.lstrip()[:1]
    if stripped in (b"{", b"[") and (not content_type or "json" in content_type or content_type.startswith("text/")):
        return read_json(prefix, namer)
    kind = media_kind(prefix)
    return BodyStructure(media_kinds=(kind,) if kind else ())


def sse_data(prefix: bytes) -> list[bytes]:
    """The JSON `data:` payloads of the first few events of an event stream (others skipped)."""
    payloads: list[bytes] = []
    for line in prefix.splitlines()[: MAX_SSE_EVENTS * 8]:
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data[:1] in (b"{", b"["):
            payloads.append(data)
            if len(payloads) >= MAX_SSE_EVENTS:
                break
    return payloads


def read_body(content_type: str, raw_content_type: str, prefix: bytes, namer: Namer) -> BodyStructure:
    if not prefix:
        return BodyStructure()
    if content_type == "application/x-www-form-urlencoded":
        return BodyStructure(form_fields=form_names(prefix, namer, query=False))
    if content_type.startswith("multipart/"):
        return read_multipart(raw_content_type, prefix, namer)
    stripped = prefix.lstrip()[:1]
    if stripped in (b"{", b"[") and (not content_type or "json" in content_type or content_type.startswith("text/")):
        return read_json(prefix, namer)
    kind = media_kind(prefix)
    return BodyStructure(media_kinds=(kind,) if kind else ())


def read_json(prefix: bytes, namer: Namer) -> BodyStructure:
    """Key names (bounded count and depth), parent>child key pairs and base64 media kinds of a
    possibly truncated JSON text.

    A pair names a key together with the key that holds its object (through arrays):
    `{"messages": [{"role": ...}]}` gives `message>role`. Structure like that says more about
    an API than either word alone (`role` under `messages` is a chat transcript; `role` under
    `user` is access control).
    """
    keys: dict[str, None] = {}
    top: dict[str, None] = {}
    pairs: dict[str, None] = {}
    media: dict[MediaKind, None] = {}
    stack: list[int] = []  # 0 object, 1 array
    owners: list[str] = []  # per open container: the key that holds it ("" at the root)
    expect_key = False
    pending: bytes | None = None
    value_of = ""  # the key whose value comes next ("" when none)
    truncated = False
    for count, match in enumerate(_JSON_TOKEN.finditer(prefix)):
        if count >= MAX_JSON_TOKENS:
            truncated = True
            break
        token = match.group()
        first = token[:1]
        if first == b"{" or first == b"[":
            if len(stack) >= 64:
                truncated = True
                break
            owners.append(value_of or (owners[-1] if stack and stack[-1] == 1 else ""))
            stack.append(0 if first == b"{" else 1)
            expect_key = first == b"{"
            value_of = ""
        elif first in (b"}", b"]"):
            if stack:
                stack.pop()
                owners.pop()
            expect_key = False
            value_of = ""
        elif first == b",":
            expect_key = bool(stack) and stack[-1] == 0
            value_of = ""
        elif first == b":":
            value_of = ""
            if pending is not None and len(stack) <= MAX_JSON_DEPTH and len(keys) < MAX_KEYS:
                name = namer(pending.decode("utf-8", "replace").replace("\\", ""))
                if name:
                    keys[name] = None
                    value_of = name
                    if len(stack) == 1:
                        top[name] = None
                    elif owners and owners[-1] and len(pairs) < MAX_KEYS:
                        pairs[f"{owners[-1]}>{name}"] = None
            pending = None
            expect_key = False
        elif first == b'"':
            if len(token) == 1:
                truncated = True  # the prefix ends inside a string
                break
            if expect_key:
                pending = token[1:-1][: MAX_NAME_CHARS * 2]
                expect_key = False
            else:
                value_of = ""
                if len(token) > 66:
                    kind = base64_media_kind(token[1:-1])
                    if kind:
                        media[kind] = None
        elif token.strip():
            value_of = ""  # a number or literal value; whitespace changes nothing
    if stack:
        truncated = True
    return BodyStructure(
        keys=tuple(keys),
        top_level_keys=tuple(top),
        key_pairs=tuple(pairs),
        media_kinds=tuple(media),
        truncated=truncated,
    )


def form_names(text: bytes, namer: Namer, *, query: bool) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for pair in text.split(b"&", MAX_FORM_FIELDS)[:MAX_FORM_FIELDS]:
        raw_name = pair.partition(b"=")[0][: MAX_NAME_CHARS * 2]
        if not raw_name:
            continue
        decoded = unquote_plus(raw_name.decode("latin-1"))
        # Stripe/Rails style `metadata[order][id]`: keep the structure words, not indexes.
        for part in re.split(r"[\[\]]+", decoded):
            name = namer(part)
            if name:
                names[name] = None
    if query:
        return tuple(sorted(names))
    return tuple(names)


def read_multipart(raw_content_type: str, prefix: bytes, namer: Namer) -> BodyStructure:
    """Field names and sniffed media kinds of multipart parts (never file names or values)."""
    try:
        result = parse_multipart(prefix, raw_content_type, max_parts=MAX_MULTIPART_PARTS)
    except PayloadError:
        kind = media_kind(prefix)
        return BodyStructure(media_kinds=(kind,) if kind else (), notes=("multipart without boundary",))
    fields: dict[str, None] = {}
    media: dict[MediaKind, None] = {}
    for part in result.parts:
        name = namer(part.name or "")
        if name:
            fields[name] = None
        content = bytes(part.data[:256])
        part_type = media_type(part.content_type or "")
        kind = media_kind(content)
        if kind is None and part_type.split("/")[0] in ("audio", "image", "video") and len(part.data) > 16:
            kind = part_type.split("/")[0]
        if kind is None and part_type == "application/dicom":
            kind = "image"
        if kind:
            media[kind] = None
    return BodyStructure(form_fields=tuple(fields), media_kinds=tuple(media), truncated=bool(result.errors))
