"""The shape of an HTTP request: what the shadow-AI classifier may look at.

A shape keeps only structure: normalised path words, header *names*, JSON key names, form
field names, the content type, a size, whether a media payload is present (sniffed type
only) and whether the answer streams as server-sent events. Values never enter a shape:
payloads to unknown hosts can hold PHI, and a shape must be safe to keep in memory, to log
in a debugging session and to reason about in a test.

Everything here is bounded: the body is read only as a prefix, JSON is scanned with a
tokenizer that stops after a fixed number of tokens, and every collection has a cap, so an
enormous or adversarial request costs the same as an ordinary one. Truncated or malformed
input yields a shape with less evidence, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, unquote_plus

# Bounds: a shape never holds more than this, whatever the request.
MAX_BODY_PREFIX = 64 * 1024
# Of the response only the start is read: its key skeleton (`choices`, `usage`, `candidates`)
# is in the first few hundred bytes, and the proxy copies no more than this per sampled flow.
MAX_RESPONSE_PREFIX = 8 * 1024
MAX_SSE_EVENTS = 4
MAX_PATH_CHARS = 2048
MAX_PATH_TOKENS = 32
MAX_HEADER_NAMES = 64
MAX_KEYS = 128
MAX_JSON_TOKENS = 4096
MAX_JSON_DEPTH = 8
MAX_FORM_FIELDS = 64
MAX_MULTIPART_PARTS = 32
MAX_NAME_CHARS = 48

MediaKind = str  # "audio" | "image" | "video"

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
# JSON tokenizer over bytes: whole strings (unrolled loop, linear), structural characters,
# runs of anything else, and a lone quote that marks an unterminated (truncated) string.
_DIGITS = re.compile(r"\d")
_UPPER = re.compile(r"[A-Z]")
_EMAIL = re.compile(r"[^@/]+@[^@/]+\.[A-Za-z]{2,}")
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]:,]|[^"{}\[\]:,]+|"', re.DOTALL)
_MEDIA_TYPE = re.compile(r"^\s*([A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,96})")
_BOUNDARY = re.compile(r'boundary\s*=\s*"?([^";,]{1,200})"?', re.IGNORECASE)
_DISPOSITION_NAME = re.compile(rb'[; ]name\s*=\s*"([^"]{0,200})"', re.IGNORECASE)
_DATA_URI = re.compile(rb"^data:(audio|image|video)/", re.IGNORECASE)


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
        body = _read_body(content_type, lowered.get("content-type", ""), prefix)
        truncated = body.truncated or len(body_prefix) > MAX_BODY_PREFIX or len(path) > MAX_PATH_CHARS
        response_pairs = _header_pairs(response_headers) if response_headers is not None else []
        response_lowered = {name.lower(): value for name, value in response_pairs}
        response_type = media_type(response_lowered.get("content-type", ""))
        answer = _read_response(response_type, response_prefix) if response_headers is not None else _Body()
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
            query_names=_form_names(query.encode("latin-1", "replace"), query=True) if query else (),
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


def media_type(value: str) -> str:
    """`type/subtype` of a Content-Type value in lower case, without parameters; "" if none."""
    match = _MEDIA_TYPE.match(value)
    return match.group(1).lower() if match else ""


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


# --- media sniffing (type only) ------------------------------------------------------------


def sniff_media(prefix: bytes) -> MediaKind | None:
    """The media kind of a payload from its first bytes, or None when it is not media.

    A fixed magic-number table rather than libmagic: the classifier's features must be the
    same on every machine and cost microseconds, and only the broad kind is needed here.
    """
    head = prefix[:16]
    if len(head) < 4:
        return None
    if head.startswith(b"RIFF") and len(head) >= 12:
        form = head[8:12]
        if form == b"WAVE":
            return "audio"
        if form == b"WEBP":
            return "image"
        if form == b"AVI ":
            return "video"
        return None
    if head.startswith((b"ID3", b"OggS", b"fLaC", b"#!AMR", b"caff", b"FORM")):
        return "audio"
    if head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return "audio"  # ADTS AAC
    if head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and head[1] != 0xFF and head[2] != 0xFF:
        return "audio"  # MPEG audio frame sync
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")):
        return "image"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video"  # Matroska / WebM
    if head[4:8] == b"ftyp" and len(head) >= 12:
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B ", b"M4P "):
            return "audio"
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"avif"):
            return "image"
        return "video"
    if len(prefix) >= 132 and prefix[128:132] == b"DICM":
        return "image"
    return None


def _sniff_base64(text: bytes) -> MediaKind | None:
    """The media kind of a long JSON string holding base64 media (data URI or bare)."""
    data_uri = _DATA_URI.match(text[:32])
    if data_uri:
        return data_uri.group(1).decode("ascii").lower()
    chunk = text[:176]
    chunk = chunk[: len(chunk) - len(chunk) % 4]
    try:
        decoded = base64.b64decode(chunk, validate=True)
    except (binascii.Error, ValueError):
        return None
    return sniff_media(decoded)


# --- bodies ------------------------------------------------------------------------------


@dataclass
class _Body:
    keys: tuple[str, ...] = ()
    top_level_keys: tuple[str, ...] = ()
    key_pairs: tuple[str, ...] = ()
    form_fields: tuple[str, ...] = ()
    media_kinds: tuple[MediaKind, ...] = ()
    truncated: bool = False
    notes: tuple[str, ...] = ()
    events_json: bool = False


def _read_response(content_type: str, prefix: bytes) -> _Body:
    """Key names of a response body's start: JSON (also NDJSON) or the JSON `data:` of the
    first server-sent events; otherwise the sniffed media kind (a TTS answer is audio)."""
    prefix = prefix[:MAX_RESPONSE_PREFIX]
    if not prefix:
        return _Body()
    if content_type == "text/event-stream":
        payloads = _sse_data(prefix)
        if not payloads:
            return _Body()
        body = _read_json(b"\n".join(payloads))
        body.events_json = True
        return body
    stripped = prefix.lstrip()[:1]
    if stripped in (b"{", b"[") and (not content_type or "json" in content_type or content_type.startswith("text/")):
        return _read_json(prefix)
    kind = sniff_media(prefix)
    return _Body(media_kinds=(kind,) if kind else ())


def _sse_data(prefix: bytes) -> list[bytes]:
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


def _read_body(content_type: str, raw_content_type: str, prefix: bytes) -> _Body:
    if not prefix:
        return _Body()
    if content_type == "application/x-www-form-urlencoded":
        return _Body(form_fields=_form_names(prefix, query=False))
    if content_type.startswith("multipart/"):
        return _read_multipart(raw_content_type, prefix)
    stripped = prefix.lstrip()[:1]
    if stripped in (b"{", b"[") and (not content_type or "json" in content_type or content_type.startswith("text/")):
        return _read_json(prefix)
    kind = sniff_media(prefix)
    return _Body(media_kinds=(kind,) if kind else ())


def _read_json(prefix: bytes) -> _Body:
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
                name = normalised_key(pending.decode("utf-8", "replace").replace("\\", ""))
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
                    kind = _sniff_base64(token[1:-1])
                    if kind:
                        media[kind] = None
        elif token.strip():
            value_of = ""  # a number or literal value; whitespace changes nothing
    if stack:
        truncated = True
    return _Body(
        keys=tuple(keys),
        top_level_keys=tuple(top),
        key_pairs=tuple(pairs),
        media_kinds=tuple(media),
        truncated=truncated,
    )


def _form_names(text: bytes, *, query: bool) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for pair in text.split(b"&", MAX_FORM_FIELDS)[:MAX_FORM_FIELDS]:
        raw_name = pair.partition(b"=")[0][: MAX_NAME_CHARS * 2]
        if not raw_name:
            continue
        decoded = unquote_plus(raw_name.decode("latin-1"))
        # Stripe/Rails style `metadata[order][id]`: keep the structure words, not indexes.
        for part in re.split(r"[\[\]]+", decoded):
            name = normalised_key(part)
            if name:
                names[name] = None
    if query:
        return tuple(sorted(names))
    return tuple(names)


def _read_multipart(raw_content_type: str, prefix: bytes) -> _Body:
    """Field names and sniffed media kinds of multipart parts (never file names or values)."""
    boundary_match = _BOUNDARY.search(raw_content_type)
    if not boundary_match:
        kind = sniff_media(prefix)
        return _Body(media_kinds=(kind,) if kind else (), notes=("multipart without boundary",))
    delimiter = b"--" + boundary_match.group(1).strip().encode("latin-1", "replace")
    fields: dict[str, None] = {}
    media: dict[MediaKind, None] = {}
    parts = prefix.split(delimiter, MAX_MULTIPART_PARTS + 1)
    truncated = len(parts) > MAX_MULTIPART_PARTS + 1
    for part in parts[1 : MAX_MULTIPART_PARTS + 1]:
        if part.startswith(b"--"):
            break  # closing delimiter
        head, separator, content = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            truncated = True
            break
        part_type = ""
        for line in head.split(b"\r\n")[:16]:
            lowered = line.lower()
            if lowered.startswith(b"content-disposition"):
                name_match = _DISPOSITION_NAME.search(line)
                if name_match:
                    name = normalised_key(name_match.group(1).decode("utf-8", "replace"))
                    if name:
                        fields[name] = None
            elif lowered.startswith(b"content-type:"):
                part_type = media_type(line.split(b":", 1)[1].decode("latin-1"))
        kind = sniff_media(content[:256])
        if kind is None and part_type.split("/")[0] in ("audio", "image", "video") and len(content) > 16:
            kind = part_type.split("/")[0]
        if kind is None and part_type == "application/dicom":
            kind = "image"
        if kind:
            media[kind] = None
    return _Body(form_fields=tuple(fields), media_kinds=tuple(media), truncated=truncated)
