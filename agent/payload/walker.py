"""From a request body to candidate media parts: one entry point for every body shape.

`extract_payload` undoes Content-Encoding (bounded), then dispatches on Content-Type:
multipart (own parser, nested), JSON / JSON Lines (base64 walker), form-urlencoded (values as
text media), and anything else as a raw body (a file PUT/POSTed as is). Binary containers we
cannot parse (protobuf, gRPC) are scanned for embedded media file signatures.
"""

from __future__ import annotations

import contextlib
import json
import re
from urllib.parse import parse_qsl

from agent.payload.encoding import decode_content
from agent.payload.jsonmedia import extract_json, extract_ndjson, may_hold_media
from agent.payload.multipart import parse_multipart
from agent.payload.sniff import has_media_signature
from agent.payload.textmedia import MediaProbe, declared_media, media_in_string, pcm_format_for
from agent.payload.types import Extraction, ExtractLimits, PayloadError, PayloadPart

PROBE_BYTES = 4096
SIGNATURE_BYTES = 256
"""Enough of a body's start for `has_media_signature` (MPEG-TS needs 189 bytes)."""
JSON_TYPES = {"application/json", "text/json", "application/x-json"}
NDJSON_TYPES = {"application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines"}
FORM_TYPE = "application/x-www-form-urlencoded"
# Binary envelopes that may wrap a media file somewhere inside.
ENVELOPE_TYPES = ("application/octet-stream", "application/x-protobuf", "application/protobuf", "application/grpc")
# File signatures worth looking for inside envelopes: (regex on bytes, how far before the match the file starts).
EMBEDDED_SIGNATURES: tuple[tuple[re.Pattern[bytes], int], ...] = (
    (re.compile(rb"RIFF....WAVE", re.DOTALL), 0),
    (re.compile(rb"OggS\x00\x02"), 0),
    (re.compile(rb"fLaC\x00"), 0),
    (re.compile(rb"ID3[\x02-\x04]\x00"), 0),
    (re.compile(rb"\x1aE\xdf\xa3"), 0),
    (re.compile(rb"....ftyp(?:isom|iso[2-6]|mp4[12]|M4A |M4V |qt  |3gp[4-6]|avc1|dash)", re.DOTALL), 0),
)
MAX_EMBEDDED = 8


def main_type(content_type: str | None) -> str:
    """`type/subtype` of a Content-Type value, lower case, parameters dropped."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def _is_json_type(main: str) -> bool:
    return main in JSON_TYPES or main.endswith("+json")


def _scan_embedded(data: bytes | memoryview, where: str, extraction: Extraction, limits: ExtractLimits) -> None:
    starts: set[int] = set()
    for pattern, back in EMBEDDED_SIGNATURES:
        for match in pattern.finditer(data):
            starts.add(max(0, match.start() - back))
            if len(starts) >= MAX_EMBEDDED:
                break
    for start in sorted(starts)[:MAX_EMBEDDED]:
        if not extraction.add(PayloadPart(where=f"{where}@{start}", data=data[start:]), limits):
            return


def _extract_form(data: bytes, extraction: Extraction, limits: ExtractLimits, probe: MediaProbe, root: str) -> None:
    try:
        fields = parse_qsl(data.decode("latin-1"), keep_blank_values=True, max_num_fields=10_000)
    except ValueError as exc:
        raise PayloadError(f"malformed form body: {exc}") from None
    for name, value in fields:
        try:
            found = media_in_string(value, probe=probe, min_chars=limits.min_base64_chars)
        except PayloadError as exc:
            extraction.errors.append(f"{root}.{name}: {exc}")
            continue
        if found is not None:
            part = PayloadPart(f"{root}.{name}", found.data, found.declared_type, found.pcm)
            if not extraction.add(part, limits):
                return


def _extract_typed(
    data: bytes | memoryview,
    content_type: str | None,
    where: str,
    extraction: Extraction,
    limits: ExtractLimits,
    probe: MediaProbe,
    depth: int,
) -> None:
    """Dispatch one body or part on its declared type."""
    main = main_type(content_type)
    if main.startswith("multipart/"):
        if depth >= limits.max_multipart_depth:
            extraction.errors.append(f"{where}: multipart nested deeper than {limits.max_multipart_depth}")
            return
        assert content_type is not None
        result = parse_multipart(data, content_type, max_parts=limits.max_parts * 4)
        extraction.errors.extend(f"{where}: {error}" for error in result.errors)
        for index, part in enumerate(result.parts):
            label = part.name or str(index)
            part_where = f"{where}.{label}" if where.startswith("multipart") else f"multipart:{label}"
            _extract_typed(part.data, part.content_type, part_where, extraction, limits, probe, depth + 1)
            if extraction.truncated:
                return
        return
    if _is_json_type(main):
        extract_json(bytes(data), extraction, limits, probe, f"{where}:json$" if where != "body" else "json:$")
        return
    if main in NDJSON_TYPES:
        extract_ndjson(bytes(data), extraction, limits, probe, f"{where}:jsonl" if where != "body" else "jsonl")
        return
    if main == FORM_TYPE:
        _extract_form(bytes(data), extraction, limits, probe, f"{where}:form" if where != "body" else "form")
        return
    if not data:
        return
    head = bytes(data[:PROBE_BYTES])
    if probe(head) or declared_media(content_type):
        extraction.add(PayloadPart(where, data, content_type or None, pcm_format_for(content_type)), limits)
        return
    if main.startswith("text/") or (main == "" and len(data) < limits.min_base64_chars * 64):
        data = bytes(data)  # text: small, and parsed as such
        stripped = data.strip()
        if stripped[:1] in (b"{", b"["):
            with contextlib.suppress(PayloadError):  # text that merely starts with a brace
                extract_json(stripped, extraction, limits, probe, f"{where}:json$" if where != "body" else "json:$")
            return
        if main.startswith("text/") or not main:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                return
            try:
                found = media_in_string(text.strip(), probe=probe, min_chars=limits.min_base64_chars)
            except PayloadError:
                return
            if found is not None:
                extraction.add(PayloadPart(where, found.data, found.declared_type, found.pcm), limits)
        return
    if main.startswith(ENVELOPE_TYPES) or not main:
        _scan_embedded(data, where, extraction, limits)


def nothing_to_extract(body: bytes, content_type: str | None, *, parse: bool = True) -> bool:
    """True when `extract_payload(body, content_type, None, ...)` would find no part (and, with
    `parse`, no error) in this JSON body.

    A cheap answer for the commonest body crossing the proxy, a small JSON API call: one scan
    (`may_hold_media`) and a parse, none of the dispatch and walk. `parse=False` skips the parse
    too, so malformed JSON goes unnoticed; that is only for destinations where an inspection
    error would not change the verdict. False means "not sure": ask `extract_payload`.
    """
    if not _is_json_type(main_type(content_type)):
        return False
    if not body or body.isspace():
        return True
    if has_media_signature(body[:SIGNATURE_BYTES]) or may_hold_media(body):
        return False  # a media file labelled as JSON, or JSON that may carry media
    if parse:
        try:
            json.loads(body)
        except (ValueError, RecursionError):
            return False  # malformed: extract_payload reports it
    return True


def extract_payload(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None,
    limits: ExtractLimits,
    probe: MediaProbe,
) -> Extraction:
    """All candidate media parts in a request body. Never raises on bad input: problems go to `.errors`."""
    extraction = Extraction()
    try:
        data = decode_content(body, content_encoding, limits)
    except PayloadError as exc:
        extraction.errors.append(str(exc))
        extraction.decoded_size = len(body)
        return extraction
    extraction.decoded_size = len(data)
    if len(data) > limits.max_bytes:
        extraction.errors.append(f"body of {len(data)} bytes exceeds the {limits.max_bytes >> 20} MB inspection limit")
        return extraction
    try:
        _extract_typed(data, content_type, "body", extraction, limits, probe, 0)
    except PayloadError as exc:
        extraction.errors.append(str(exc))
    return extraction
