"""The shape of an HTTP request: what the shadow-AI classifier may look at.

A shape keeps only structure: normalised path words, header *names*, JSON key names, form
field names, the content type, a size, whether a media payload is present (sniffed type
only) and whether the answer streams as server-sent events. Values never enter a shape:
payloads to unknown hosts can hold PHI, and a shape must be safe to keep in memory, to log
in a debugging session and to reason about in a test.

Everything here is bounded: the body is read only as a prefix by the payload core's
`agent.payload.structure` (a JSON tokenizer that stops after a fixed number of tokens, the
one multipart parser), and every collection has a cap, so an enormous or adversarial
request costs the same as an ordinary one. Truncated or malformed
input yields a shape with less evidence, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from agent.payload.sniff import MediaKind
from agent.payload.structure import (
    MAX_FORM_FIELDS,
    MAX_JSON_DEPTH,
    MAX_JSON_TOKENS,
    MAX_KEYS,
    MAX_MULTIPART_PARTS,
    MAX_NAME_CHARS,
    MAX_RESPONSE_PREFIX,
    MAX_SSE_EVENTS,
    BodyStructure,
    form_names,
    media_type,
    read_body,
    read_response,
)

# Bounds: a shape never holds more than this, whatever the request.
MAX_BODY_PREFIX = 64 * 1024
MAX_PATH_CHARS = 2048
MAX_PATH_TOKENS = 32
MAX_HEADER_NAMES = 64

# Placeholders for the parts of a name that identify a thing rather than describe an API.
NUM = "<num>"
ID = "<id>"
VERSION = "<ver>"
EMAIL = "<email>"
LONG = "<long>"

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "transfer-encoding"}
)
_MEDIA_EXTENSIONS: dict[str, MediaKind] = {
    **dict.fromkeys(("wav", "mp3", "m4a", "aac", "ogg", "oga", "opus", "flac", "amr", "weba", "caf", "aiff"), "audio"),
    **dict.fromkeys(("mp4", "m4v", "mov", "webm", "mkv", "avi", "3gp", "mpeg", "mpg"), "video"),
    **dict.fromkeys(("jpg", "jpeg", "png", "gif", "webp", "heic", "heif", "tif", "tiff", "bmp", "dcm"), "image"),
}

_SEGMENT_SPLIT = re.compile(r"[-_.:~+,;=!$&'()*\s@]+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_VERSION_TOKEN = re.compile(r"v\d+(?:alpha|beta|preview)?\d*|\d{4}-\d{2}-\d{2}", re.IGNORECASE)
_HEX_OR_UUID = re.compile(r"[0-9a-f]{8}(?:-?[0-9a-f]{4}){3}-?[0-9a-f]{12}|[0-9a-f]{16,}", re.IGNORECASE)
_DIGITS = re.compile(r"\d")
_UPPER = re.compile(r"[A-Z]")
_EMAIL = re.compile(r"[^@/]+@[^@/]+\.[A-Za-z]{2,}")
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class RequestShape:
    """The structure of one request (and optionally its response headers), never its values.

    The first eight fields are the contract the proxy relies on; the rest refine the shape
    and default to "not observed".
    """

    method: str
    path_tokens: tuple[str, ...]
    header_names: tuple[str, ...]
    json_keys: tuple[str, ...]
    content_type: str
    body_size: int
    has_media: bool
    response_is_sse: bool = False
    media_kinds: tuple[MediaKind, ...] = ()
    top_level_keys: tuple[str, ...] = ()
    key_pairs: tuple[str, ...] = ()
    form_fields: tuple[str, ...] = ()
    query_names: tuple[str, ...] = ()
    file_kinds: tuple[MediaKind, ...] = ()
    accepts_sse: bool = False
    response_seen: bool = False
    response_content_type: str = ""
    response_header_names: tuple[str, ...] = ()
    response_keys: tuple[str, ...] = ()
    response_top_keys: tuple[str, ...] = ()
    response_media_kinds: tuple[MediaKind, ...] = ()
    response_events_json: bool = False
    truncated: bool = False
    notes: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_http(
        cls,
        method: str,
        path: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body_prefix: bytes = b"",
        response_headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        *,
        body_size: int | None = None,
        response_prefix: bytes = b"",
    ) -> RequestShape:
        """Build a shape from plain request values.

        `path` may carry a query string (only parameter names are kept). `body_prefix` is the
        start of the (decoded) body; only the first `MAX_BODY_PREFIX` bytes are read.
        `body_size` is the full body size when known (else Content-Length, else the prefix).
        `response_headers` is given once the response has started, None before;
        `response_prefix` is the start of the decoded response body (only its first
        `MAX_RESPONSE_PREFIX` bytes are read: key names of JSON, of server-sent events' JSON
        data, or the sniffed media kind, never values).
        """
        header_pairs = _header_pairs(headers)
        names = _header_names(name for name, _ in header_pairs)
        lowered = {name.lower(): value for name, value in header_pairs}
        content_type = media_type(lowered.get("content-type", ""))
        prefix = body_prefix[:MAX_BODY_PREFIX]
        size = _declared_size(body_size, lowered.get("content-length"), len(body_prefix))
        raw_path, _, query = path[:MAX_PATH_CHARS].partition("?")
        path_tokens, file_kinds = path_words(raw_path)
        body = read_body(content_type, lowered.get("content-type", ""), prefix, normalised_key)
        truncated = body.truncated or len(body_prefix) > MAX_BODY_PREFIX or len(path) > MAX_PATH_CHARS
        response_pairs = _header_pairs(response_headers) if response_headers is not None else []
        response_lowered = {name.lower(): value for name, value in response_pairs}
        response_type = media_type(response_lowered.get("content-type", ""))
        answer = (
            read_response(response_type, response_prefix, normalised_key)
            if response_headers is not None
            else BodyStructure()
        )
        return cls(
            method=method.upper()[:16],
            path_tokens=path_tokens,
            header_names=names,
            json_keys=body.keys,
            content_type=content_type,
            body_size=size,
            has_media=bool(body.media_kinds),
            response_is_sse=response_type == "text/event-stream",
            media_kinds=body.media_kinds,
            top_level_keys=body.top_level_keys,
            key_pairs=body.key_pairs,
            form_fields=body.form_fields,
            query_names=form_names(query.encode("latin-1", "replace"), normalised_key, query=True) if query else (),
            file_kinds=file_kinds,
            accepts_sse="text/event-stream" in lowered.get("accept", "").lower(),
            response_seen=response_headers is not None,
            response_content_type=response_type,
            response_header_names=_header_names(name for name, _ in response_pairs),
            response_keys=answer.keys,
            response_top_keys=answer.top_level_keys,
            response_media_kinds=answer.media_kinds,
            response_events_json=answer.events_json,
            truncated=truncated,
            notes=body.notes,
        )


# --- names -------------------------------------------------------------------------------


def singular(word: str) -> str:
    """A crude English singular, so `completions` and `completion` are one feature."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _looks_like_id(token: str) -> bool:
    if _HEX_OR_UUID.fullmatch(token):
        return True
    digits = len(_DIGITS.findall(token))
    if digits and len(token) >= 6 and digits != len(token):
        return True  # cus_NffrFeUfNV2Hib, a1b2c3, 5f3e...: generated identifiers
    if len(token) >= 12:
        uppers = len(_UPPER.findall(token))
        if uppers >= 3 and not token.isupper():
            pieces = _CAMEL.findall(token)
            return any(len(piece) < 2 for piece in pieces) or uppers * 3 > len(token)
    return False


def name_words(name: str) -> list[str]:
    """Split one name (path segment part, key, field) into normalised words.

    camelCase and snake_case both become lower-case words; numbers, versions and generated
    identifiers become placeholders so ids and dates never become features.
    """
    if not name:
        return []
    if len(name) > MAX_NAME_CHARS:
        return [LONG]
    if name.isdigit():
        return [NUM]
    if _VERSION_TOKEN.fullmatch(name):
        return [VERSION]
    if _looks_like_id(name):
        return [ID]
    words: list[str] = []
    for piece in _CAMEL.findall(name):
        if piece.isdigit():
            words.append(NUM)
        else:
            words.append(singular(piece.lower()))
    return words or [ID]


def normalised_key(name: str) -> str:
    """A JSON key or form field as one snake_case word list (`maxOutputTokens` -> `max_output_tokens`)."""
    words = name_words(name)
    return "_".join(words)


def path_words(path: str) -> tuple[tuple[str, ...], tuple[MediaKind, ...]]:
    """Normalised words of a URL path, and the media kinds of file names in it."""
    words: list[str] = []
    file_kinds: list[MediaKind] = []
    for raw_segment in path.split("/"):
        if not raw_segment:
            continue
        segment = unquote(raw_segment)
        if _EMAIL.search(segment):
            words.append(EMAIL)
            continue
        if _VERSION_TOKEN.fullmatch(segment):
            words.append(VERSION)
            continue
        if _PLAIN_SEGMENT.fullmatch(segment) and _looks_like_id(segment):
            words.append(ID)
            continue
        stem, dot, extension = segment.rpartition(".")
        kind = _MEDIA_EXTENSIONS.get(extension.lower()) if dot and stem else None
        if kind is not None:
            file_kinds.append(kind)
            words.append("<file>")
            continue
        for part in _SEGMENT_SPLIT.split(segment):
            words.extend(word for word in name_words(part) if len(word) > 1)
        if len(words) >= MAX_PATH_TOKENS:
            break
    return tuple(words[:MAX_PATH_TOKENS]), tuple(dict.fromkeys(file_kinds))


def _header_pairs(headers: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> list[tuple[str, str]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    pairs: list[tuple[str, str]] = []
    for item in items:
        if len(pairs) >= MAX_HEADER_NAMES * 2:
            break
        name, value = item
        pairs.append((str(name), str(value)))
    return pairs


def _header_names(names: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for name in names:
        lowered = name.strip().lower()
        if not lowered or lowered.startswith(":") or lowered in _HOP_BY_HOP or len(lowered) > MAX_NAME_CHARS:
            continue
        seen[lowered] = None
        if len(seen) >= MAX_HEADER_NAMES:
            break
    return tuple(sorted(seen))


def _declared_size(explicit: int | None, content_length: str | None, prefix_len: int) -> int:
    if explicit is not None and explicit >= 0:
        return explicit
    if content_length and content_length.strip().isdigit() and len(content_length.strip()) < 16:
        return int(content_length.strip())
    return prefix_len


__all__ = [
    "MAX_BODY_PREFIX",
    "MAX_FORM_FIELDS",
    "MAX_JSON_DEPTH",
    "MAX_JSON_TOKENS",
    "MAX_KEYS",
    "MAX_MULTIPART_PARTS",
    "MAX_NAME_CHARS",
    "MAX_RESPONSE_PREFIX",
    "MAX_SSE_EVENTS",
    "MediaKind",
    "RequestShape",
    "media_type",
    "name_words",
    "normalised_key",
    "path_words",
    "singular",
]
