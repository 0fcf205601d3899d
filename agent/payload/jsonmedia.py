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
from collections.abc import Callable, Iterator, Mapping

from agent.payload.bytearrays import bytes_of_indexed, bytes_of_list, hints_at_byte_arrays
from agent.payload.containers import ZLIB_HEADS, container_kind
from agent.payload.layers import MAX_TEXT_LAYERS, peel
from agent.payload.sniff import has_media_signature
from agent.payload.streams import clear, piece_streams
from agent.payload.textmedia import (
    DATA_KEYS,
    GROUPED_NEEDLE,
    MIN_OTHER_ENCODING_CHARS,
    TYPE_KEYS,
    MediaProbe,
    b32decode,
    base64_pieces,
    declared_type_in,
    media_in_string,
)
from agent.payload.types import Extraction, ExtractLimits, PayloadError, PayloadPart

TextScanner = Callable[[str, str], None]
"""(string, its path): looks for encoded media anywhere in a long string."""
BytesVisitor = Callable[[bytes, str], None]
"""(bytes a JSON byte array spells, its path): read for what they are (media, a container...)."""
PieceJoiner = Callable[[list[str], str], bool]
"""(pieces of one base64 string, their path): decode them as one; True when they were media."""
Trail = tuple[object, str | int] | None
"""(parent trail, key): a path built only when a part or an error needs it (most never do)."""


# What can make the walk find a part or an error, looked for in the raw JSON text with a few
# regular-expression passes (literal first characters or one character class: fast):
# - a key that declares a media type for its siblings (then any string there may be media,
#   headerless PCM included, or an error if it is not base64);
# - a `data:` URI at the start of a string, or a `;base64,` anywhere (a data: URI inside text);
# - an escape (`\uXXXX`, `\/`) within 64 characters of a quote, which could spell a key or
#   the head of a base64 string differently from its raw bytes;
# - a run of 64 base64 characters anywhere (at a string's start, after a prefix, inside JSON
#   nested in a string, hex being a subset of the alphabet), whose decoded head must carry a
#   media or container signature.
_TYPE_KEYS = b"|".join(re.escape(key.encode()) for key in TYPE_KEYS)
# The lookahead on the first letters makes most of the many quotes of an ordinary JSON body
# fail at one character-class test instead of one try per alternative (FHIR bundle: 7 us, not 12).
_KEY_FIRST = bytes(sorted({key.encode()[0] for key in TYPE_KEYS} | set(b"dD")))
_KEY_OR_DATA_URI = re.compile(rb'"(?=[' + _KEY_FIRST + rb"])(?:(?:" + _TYPE_KEYS + rb')"|[dD][aA][tT][aA]:)')
_BASE64_URI = re.compile(rb";[bB][aA][sS][eE]64,")
_ESCAPE_NEAR_QUOTE = re.compile(rb'"[^"\\]{0,64}\\[u/]')
_HEX_HEAD = re.compile(rb"[0-9a-fA-F]{130}")
_URLSAFE = bytes.maketrans(b"-_", b"+/")
_BASE32_RUN = re.compile(rb"[A-Z2-7]{64}|[a-z2-7]{64}")
"""A run's first 64 characters that can only be base32 (one case, digits 2-7): 40 bytes decoded."""
_TS_SYNC = b"\x47"  # MPEG-TS (byte 0; M2TS byte 4): their checks need 189-197 bytes, more than a head gives
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
_RUN_MAP = bytes(0x41 if byte in _ALPHABET else 0x20 for byte in range(256))
RUN_MAP = _RUN_MAP
"""Every base64 character to "A", everything else to a space: runs become one `find` away."""
_RUN_NEEDLE = b"A" * 64
_ENCODED_TEXT = _ALPHABET + b"=\r\n"
"""What base64 or hex text (possibly wrapped and padded) is made of."""
_WRAPPED_HEX = re.compile(rb"(?:[0-9a-fA-F]|\\[nr])+")
_HEX_LINE_BREAKS = re.compile(rb"\\[nr](?:\\[nr])?[0-9a-fA-F]{32,}\\[nr]")
"""A whole hex line between two escaped line breaks (`\\n` led: the scan jumps between backslashes)."""
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
MIN_WRAPPED_HEX_BODY = 16 << 10
"""Below this a body cannot hold a recording worth a fingerprint in hex: chat turns skip the scan."""


# Containers recognisable from the 48 bytes a 64-character run decodes to (tar and ISO 9660
# need more; a tar is usually compressed, which is recognised): ZIP, gzip, bzip2, xz, zstd, 7z,
# RAR, cpio, PDF; an email is text starting with a header name and a colon.
_CONTAINER_PREFIXES = (
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ",
    b"\x28\xb5\x2f\xfd",
    b"7z\xbc\xaf",
    b"Rar!",
    b"0707",
    b"\xc7\x71",
    b"\x71\xc7",
    b"%PDF-",
)


def _signature(head: bytes) -> bool:
    """Media or a container, from a decoded 48-byte head: C-level prefix tests first."""
    if head.startswith(_CONTAINER_PREFIXES) or _TS_SYNC in (head[:1], head[4:5]) or has_media_signature(head):
        return True
    if head.startswith(ZLIB_HEADS):  # two bytes: the container test inflates a few to be sure
        return container_kind(head) == "zlib"
    return head[:1].isalpha() and b":" in head and container_kind(head) == "email"


def _run_may_be_media(run: bytes, *, base32: bool = True) -> bool:
    """The decoded head of a base64 (or hex) run looks like media or a wrapper.

    Decoded from the run's first character: a run starts after a quote, a space, a colon, a
    comma (anything outside the alphabet), which is where base64 after a prefix starts. Text
    glued to the base64 (`audioUklGR...`) is only found by the walk once something else made
    the body worth walking.
    """
    head = binascii.a2b_base64(run[:64].translate(_URLSAFE), strict_mode=False)
    if _signature(head):
        return True
    if base32 and _BASE32_RUN.fullmatch(run[:64]) is not None and _signature(b32decode(run[:64].decode("ascii"))):
        return True
    hexed = _HEX_HEAD.match(run) is not None
    if hexed and _hex_head_is_media(run):
        return True
    # Encoded text under the encoding (base64 of base64, of hex; hex of base64), media or text
    # encoded past the bound (an error the walk reports): layers.py. Only when the first
    # decoding is itself all encoding alphabet (one C-level translate; chat text never is).
    first = binascii.unhexlify(run[:128]) if hexed else head
    if first.translate(None, _ENCODED_TEXT):
        return False
    return peel(run, _signature, MAX_TEXT_LAYERS + 1) is not None


def _hex_head_is_media(digits: bytes) -> bool:
    """The first 64 decoded bytes of a hex run, read from its first or second digit (a prefix
    may end mid-byte), carry a media or container signature."""
    return any(len(chunk) == 128 and _signature(binascii.unhexlify(chunk)) for chunk in (digits[:128], digits[1:129]))


def _wrapped_hex_may_be_media(data: bytes) -> bool:
    """Hex broken into lines by `\\n` escapes (`xxd -p` in a chat message): its lines are shorter
    than the 64-character runs `base64_runs` needs. Found from the escapes (a literal-led
    pattern); each block's decoded head is checked once."""
    for boundary in _HEX_LINE_BREAKS.finditer(data):
        start = boundary.start()
        while start > 0 and data[start - 1] in _HEX_DIGITS and boundary.start() - start < 256:
            start -= 1
        run = _WRAPPED_HEX.match(data, start)
        if run is None:
            continue
        if _hex_head_is_media(run.group()[:400].replace(b"\\n", b"").replace(b"\\r", b"")):
            return True
    return False


def base64_runs(data: bytes, mapped: bytes | None = None) -> Iterator[bytes]:
    """Runs of 64 or more base64-alphabet bytes anywhere in `data` (one translate, then `find`s)."""
    if mapped is None:
        mapped = data.translate(_RUN_MAP)
    start = mapped.find(_RUN_NEEDLE)
    while start >= 0:
        end = mapped.find(b" ", start + 64)
        end = len(data) if end < 0 else end
        yield data[start : min(end, start + 192)]
        start = mapped.find(_RUN_NEEDLE, end)


def may_hold_media(data: bytes) -> bool:
    """False only when walking this JSON cannot find media nor an error in a media field.

    Valid for probes that accept nothing `has_media_signature` rejects (`guarded` probes, as
    the proxy uses). A depth or size bound the walk would report cannot hide media from this
    scan, which reads every string in the text. Every pass is a literal-led regular expression
    or a `bytes.find`: a chat-sized body costs a few microseconds.
    """
    head = data[:4]
    if (b"\x00" in head or head.startswith((b"\xfe", b"\xff"))) and json.detect_encoding(data) != "utf-8":
        return True  # UTF-16/32 JSON (NUL bytes or a BOM up front): the byte patterns below do not apply
    if _KEY_OR_DATA_URI.search(data) is not None or (b";" in data and _BASE64_URI.search(data) is not None):
        return True
    if b"\\" in data and _ESCAPE_NEAR_QUOTE.search(data) is not None:
        return True
    if hints_at_byte_arrays(data):
        return True
    mapped = data.translate(_RUN_MAP)
    long_enough = len(data) >= MIN_OTHER_ENCODING_CHARS
    if any(_run_may_be_media(run, base32=long_enough) for run in base64_runs(data, mapped)):
        return True
    if long_enough and GROUPED_NEEDLE in mapped and _grouped_may_be_media(data, mapped):
        return True
    return len(data) >= MIN_WRAPPED_HEX_BODY and b"\\n" in data and _wrapped_hex_may_be_media(data)


_GROUPED_HEAD = re.compile(rb"[A-Za-z0-9+/]{4}(?: [A-Za-z0-9+/]{4}){15}")


def _grouped_may_be_media(data: bytes, mapped: bytes) -> bool:
    """Base64 cut into space-separated groups (`textmedia._GROUPED_B64`): the decoded head of
    each place 16 groups follow one another (at most 8 places: chat text rarely gets there)."""
    start = mapped.find(GROUPED_NEEDLE)
    for _ in range(8):
        if start < 0:
            return False
        run = _GROUPED_HEAD.match(data, start)
        if run is not None and _signature(binascii.a2b_base64(run.group().replace(b" ", b"")[:64])):
            return True
        start = mapped.find(GROUPED_NEEDLE, mapped.find(b" ", start + len(GROUPED_NEEDLE)))
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
    document: object,
    extraction: Extraction,
    limits: ExtractLimits,
    probe: MediaProbe,
    root: str = "json:$",
    scan_text: TextScanner | None = None,
    visit_bytes: BytesVisitor | None = None,
    join: PieceJoiner | None = None,
) -> None:
    """Append every media string in `document` to `extraction` (errors there too).

    `scan_text(text, where)` is called for long strings that do not hold base64 media from
    their first character (media after a prefix, a `data:` URI inside chat text, JSON inside a
    string); consecutive array items that are pieces of one base64 string are joined. Arrays of
    byte values go to `visit_bytes` (without one, they are kept when they start like media).
    With `join` (instead of joining for `scan_text`), pieces of one base64 string in consecutive
    array items, strings or the same key of objects (`[{"seq": 0, "data": "<part>"}, ...]`),
    go to it; the pieces it reads as media are blanked in `document` (which the walk must own)
    so they are not read one by one as well.
    """
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
            elif visit_bytes is not None and "\x00" in node[:256] and (spelled := _latin1(node)) is not None:
                # Raw bytes in a string (`json.dumps({"audio": data.decode("latin-1")})`): text has no NUL.
                visit_bytes(spelled, f"{_format_path(root, trail)}:latin1")
                if extraction.truncated:
                    return
            elif scan_text is not None:
                scan_text(node, _format_path(root, trail))
                if extraction.truncated:
                    return
        elif isinstance(node, Mapping):
            spelled = bytes_of_indexed(node)
            if spelled is not None:
                if not _byte_array(spelled, _format_path(root, trail), extraction, limits, probe, visit_bytes):
                    return
                continue
            # Reversed so that parts come out in document order.
            for child_key, child in reversed(list(node.items())):
                if isinstance(child, str | Mapping | list):
                    stack.append((child, (trail, child_key), depth + 1, node, child_key))
        elif isinstance(node, list):
            spelled = bytes_of_list(node)
            if spelled is not None:
                if not _byte_array(spelled, _format_path(root, trail), extraction, limits, probe, visit_bytes):
                    return
                continue
            if join is not None and len(node) > 1:
                # Strings or objects: the joined pieces are blanked, so a file cut in hundreds of
                # pieces is one part, not hundreds of fragments past the part bound.
                for stream in piece_streams(node):
                    if join(
                        stream.pieces, f"{_format_path(root, trail)}[{stream.first}:{stream.stop}]{stream.label()}"
                    ):
                        clear(node, stream)
                if extraction.truncated:
                    return
            elif scan_text is not None and len(node) > 1:
                _join_pieces(node, trail, root, scan_text)
            for index in range(len(node) - 1, -1, -1):
                child = node[index]
                if isinstance(child, str | Mapping | list):
                    stack.append((child, (trail, index), depth + 1, parent, None))


def _latin1(text: str) -> bytes | None:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return None


def _byte_array(
    data: bytes,
    where: str,
    extraction: Extraction,
    limits: ExtractLimits,
    probe: MediaProbe,
    visit_bytes: BytesVisitor | None,
) -> bool:
    """One byte array found; False when the part budget is spent and the walk must stop."""
    where = f"{where}:bytes"
    if visit_bytes is not None:
        visit_bytes(data, where)
        return not extraction.truncated
    if probe(data[:4096]):
        return extraction.add(PayloadPart(where=where, data=data), limits)
    return True


def _join_pieces(items: list[object], trail: Trail, root: str, scan_text: TextScanner) -> None:
    """Base64 cut over consecutive array items (`["UklGR...", "...AAA="]`): scanned joined."""
    strings = [item if isinstance(item, str) else "" for item in items]
    pieces = base64_pieces(strings)
    if pieces is not None:
        first, stop = pieces
        joined = "".join(piece.strip() for piece in strings[first:stop])
        scan_text(joined, f"{_format_path(root, trail)}[{first}:{stop}]")


def extract_json(data: bytes, extraction: Extraction, limits: ExtractLimits, probe: MediaProbe, root: str) -> None:
    if not data.strip():
        return
    document = parse_json(data)  # malformed JSON is an error whether or not it could hold media
    if may_hold_media(data):
        walk_json(document, extraction, limits, probe, root)
