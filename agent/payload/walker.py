"""From a request body to media leaves: the one recursive walker of the payload core.

`extract_payload` undoes Content-Encoding (bounded), then `Walker.visit` dispatches each body,
part, entry or decoded run on its declared structure first (multipart, JSON, JSON Lines, form)
and then on what its bytes are: media (the probe), a container (`containers.py`: archives,
compressed files, email, PDF), text (JSON, a form, or plain text scanned for base64, hex and
`data:` URIs), media behind a prefix (the marker table), an envelope to scan for embedded
media, or an unknown leaf. Each leaf carries its path through the wrappers
(`multipart:file > gzip > tar#0(.zip) > zip#0(.mp3)`); one `ExpansionBudget` bounds the whole
walk. Nothing here knows about HTTP libraries or the console: bytes in, leaves out.
"""

from __future__ import annotations

import binascii
import json
import re
from urllib.parse import parse_qsl

from agent.payload.budget import BoundExceeded, EncryptedContainer, ExpansionBudget
from agent.payload.containers import container_kind, open_container
from agent.payload.encoding import decode_content
from agent.payload.joining import file_header, fit_order
from agent.payload.jsonmedia import may_hold_media, parse_json, walk_json
from agent.payload.layers import DEEPER, MEDIA, peel
from agent.payload.leaves import probe_head
from agent.payload.multipart import boundary_of, parse_multipart
from agent.payload.sniff import MARKER_SCAN_BYTES, has_media_signature, marker_media
from agent.payload.streams import clear, piece_streams, split_records
from agent.payload.textmedia import (
    HEAD_CHARS,
    EncodedRun,
    MediaProbe,
    b64decode,
    base64_pieces,
    declared_media,
    encoded_runs,
    media_in_string,
    pcm_format_for,
)
from agent.payload.types import Extraction, ExtractLimits, PayloadError, PayloadPart

PROBE_BYTES = 4096
MAX_FIT_PIECES = 256
"""Pieces of one base64 string whose heads are looked at for the header piece (`joining.fit_order`)."""
SIGNATURE_BYTES = 256
"""Enough of a body's start for `has_media_signature` (MPEG-TS needs 189 bytes, M2TS 197)."""
JSON_TYPES = {"application/json", "text/json", "application/x-json"}
NDJSON_TYPES = {"application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines"}
SSE_TYPE = "text/event-stream"
_RECORDS_START = (b"{", b"[", b"data:", b"event:", b"id:", b":")
"""How a text body made of records (JSON Lines, SSE-style `data:` lines) starts."""
FORM_TYPE = "application/x-www-form-urlencoded"
# Binary envelopes that may wrap a media file somewhere inside.
ENVELOPE_TYPES = ("application/octet-stream", "application/x-protobuf", "application/protobuf", "application/grpc")
# File signatures worth looking for inside envelopes: (regex on bytes, how far before the match the file starts).
# Every pattern starts with a literal, so the regex engine skips between candidates at `find`
# speed: a pattern led by `....` is tried at every offset, ten times slower on a 5 MB entry.
EMBEDDED_SIGNATURES: tuple[tuple[re.Pattern[bytes], int], ...] = (
    (re.compile(rb"RIFF....WAVE", re.DOTALL), 0),
    (re.compile(rb"OggS\x00\x02"), 0),
    (re.compile(rb"fLaC\x00"), 0),
    (re.compile(rb"ID3[\x02-\x04]\x00"), 0),
    (re.compile(rb"\x1aE\xdf\xa3"), 0),
    (re.compile(rb"ftyp(?:isom|iso[2-6]|mp4[12]|M4A |M4V |qt  |3gp[4-6]|avc1|dash)"), 4),  # after the box size
)
MAX_EMBEDDED = 8
_URLSAFE_TEXT = str.maketrans("-_", "+/")


def main_type(content_type: str | None) -> str:
    """`type/subtype` of a Content-Type value, lower case, parameters dropped."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def _is_json_type(main: str) -> bool:
    return main in JSON_TYPES or main.endswith("+json")


def _scan_embedded(data: bytes | memoryview, where: str, extraction: Extraction, limits: ExtractLimits) -> int:
    starts: set[int] = set()
    for pattern, back in EMBEDDED_SIGNATURES:
        for match in pattern.finditer(data):
            starts.add(max(0, match.start() - back))
            if len(starts) >= MAX_EMBEDDED:
                break
    for start in sorted(starts)[:MAX_EMBEDDED]:
        if not extraction.add(PayloadPart(where=f"{where}@{start}", data=data[start:]), limits):
            break
    return len(starts)


def _join(where: str, label: str) -> str:
    return label if where == "body" else f"{where} > {label}"


def looks_textual(head: bytes) -> bool:
    """Text (UTF-8, no NUL bytes) rather than binary, judged on the first bytes."""
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a character cut by the end of the head
    return True


class Walker:
    """One request body's walk: every wrapper opened, every leaf sniffed, one budget for all."""

    def __init__(self, extraction: Extraction, limits: ExtractLimits, probe: MediaProbe) -> None:
        self.extraction = extraction
        self.limits = limits
        self.probe = probe
        self.budget = ExpansionBudget(limits)
        self.body: bytes | memoryview = b""
        self.unknown_held = 0
        self.unknown_overflow = False
        """Bytes of unknown leaves held outside the body (expanded entries, decoded runs)."""
        """The request body being walked (set by `extract_payload`)."""
        self.text_layers = 0
        """Encoded runs decoded to reach the text being walked (bounded by `max_text_layers`)."""

    # --- dispatch ---------------------------------------------------------------------------

    def visit(self, data: bytes | memoryview, content_type: str | None, where: str, depth: int) -> None:
        """Dispatch one body, part or entry: declared structure first, then what the bytes are."""
        extraction, limits = self.extraction, self.limits
        if extraction.truncated:
            return
        main = main_type(content_type)
        if main.startswith("multipart/"):
            if depth >= limits.max_multipart_depth:
                extraction.errors.append(f"{where}: multipart nested deeper than {limits.max_multipart_depth}")
                return
            assert content_type is not None
            try:
                boundary_of(content_type)
            except PayloadError as exc:
                # Declared multipart without a usable boundary (an MHTML file sent as
                # multipart/related): read the bytes for what they are; an error if they hold nothing.
                found = len(extraction.parts) + len(extraction.containers)
                self.bytes_of_unknown_type(data, "", where, depth)
                if len(extraction.parts) + len(extraction.containers) == found:
                    extraction.errors.append(f"{where}: {exc}")
                return
            result = parse_multipart(data, content_type, max_parts=limits.max_parts * 4)
            extraction.errors.extend(f"{where}: {error}" for error in result.errors)
            for index, part in enumerate(result.parts):
                label = part.name or str(index)
                part_where = f"{where}.{label}" if where.startswith("multipart") else _join(where, f"multipart:{label}")
                self.visit(part.data, part.content_type, part_where, depth + 1)
                if extraction.truncated:
                    return
            return
        if _is_json_type(main):
            self.json(bytes(data), f"{where}:json$" if where != "body" else "json:$", depth, strict=True)
            return
        if main in NDJSON_TYPES:
            raw = bytes(data)
            lines = [(f"line {n}", line) for n, line in enumerate(raw.splitlines(), 1) if line.strip()]
            self.records(lines, raw, _join(where, "jsonl"), depth, strict=True)
            return
        if main == SSE_TYPE:
            raw = bytes(data)
            self.records(split_records(raw) or [], raw, _join(where, "sse"), depth, strict=False)
            return
        if main == FORM_TYPE:
            if _FORM_HEAD.match(bytes(data[:PROBE_BYTES])) or not data:
                self.form(bytes(data), f"{where}:form" if where != "body" else "form", depth)
                return
            main = ""  # `curl --data-binary @file` labels any file a form: read it for what it is
        if not data:
            return
        head = bytes(data[:PROBE_BYTES])
        if self.probe(head) or declared_media(content_type):
            extraction.add(PayloadPart(where, data, content_type or None, pcm_format_for(content_type)), limits)
            return
        self.bytes_of_unknown_type(data, main, where, depth)

    def bytes_of_unknown_type(self, data: bytes | memoryview, main: str, where: str, depth: int) -> None:
        """Bytes not sniffed as media: a container, text (JSON, form, plain), media behind a
        prefix (the marker table), or an envelope to scan; otherwise an unknown leaf."""
        extraction, limits = self.extraction, self.limits
        head = bytes(data[:MARKER_SCAN_BYTES])
        kind = container_kind(head)
        failed: str | None = None
        if kind is not None:
            failed = self.container(kind, data, where, depth)
            if failed is None:
                return
            # A PDF or email that did not parse may still be media behind a prefix: looked for
            # below; if nothing is found there, the failure is an error (fails closed to AI).
        elif looks_textual(head[:PROBE_BYTES]):
            self.text(data, where, depth)
            return
        hit = marker_media(head)
        if hit is not None:
            label = where if hit.offset == 0 else f"{where}@{hit.offset}"
            extraction.add(PayloadPart(label, data[hit.offset :], hit.mime), limits)
            return
        if (main.startswith(ENVELOPE_TYPES) or not main) and _scan_embedded(data, where, extraction, limits):
            return
        if failed is not None:
            extraction.errors.append(f"{_join(where, str(kind))}: {failed}")
        if len(data) >= limits.min_unknown_bytes and len(extraction.unknown) >= limits.max_parts:
            if not self.unknown_overflow:
                self.unknown_overflow = True
                extraction.errors.append(
                    f"{where}: more than {limits.max_parts} unread leaves: the rest cannot be probed (bound max_parts)"
                )
            return
        if len(data) >= limits.min_unknown_bytes:
            if (
                not self._in_body(data)
                and self.unknown_held + len(data) > limits.max_unknown_held
                and (keep := probe_head(data)) is not None
            ):
                # Bytes the decoding probe cannot read past their head (leaves.py): hold the
                # head only, and let the expanded entry go.
                where, data = f"{where} [first {keep >> 10} of {len(data) >> 10} KB]", bytes(data[:keep])
            if not self._in_body(data):
                self.unknown_held += len(data)
            extraction.unknown.append(PayloadPart(where, data, main or None, kind="unknown"))

    def _in_body(self, data: bytes | memoryview) -> bool:
        """`data` is the request body or a view into it (held by the caller anyway: free to keep)."""
        return data is self.body or (isinstance(data, memoryview) and data.obj is self.body)

    # --- containers -------------------------------------------------------------------------

    def _wanted(self, head: bytes, size: int) -> bool:
        """An entry worth expanding: media, another container, media behind a prefix, text, or an
        unnamed blob large enough to hold a recording (headerless PCM: an unknown leaf to probe)."""
        return (
            size >= self.limits.min_unknown_bytes
            or self.probe(head[:PROBE_BYTES])
            or container_kind(head) is not None
            or marker_media(head) is not None
            or looks_textual(head[:PROBE_BYTES])
        )

    def container(self, kind: str, data: bytes | memoryview, where: str, depth: int) -> str | None:
        """Open a container and visit its entries. Every failure is recorded (an error, or an
        encrypted container) except a PDF's or an email's that did not parse: their reason is
        returned, for the caller to look for media behind the prefix first."""
        extraction = self.extraction
        label = _join(where, kind)
        try:
            self.budget.check_depth(depth + 1)
            entries = open_container(kind, data, self.budget, self._wanted)
            extraction.containers.append(label)
            for entry in entries:
                self.visit(entry.data, entry.declared_type, _join(where, entry.label), depth + 1)
                if extraction.truncated:
                    break
        except EncryptedContainer as exc:
            extraction.encrypted.append(f"{label}: {exc}")
        except BoundExceeded as exc:
            extraction.errors.append(f"{label}: {exc}")
            extraction.truncated = True
        except PayloadError as exc:
            if kind in ("pdf", "email"):
                return str(exc)
            extraction.errors.append(f"{label}: {exc}")
        return None

    # --- text -------------------------------------------------------------------------------

    def _media_probe(self, head: bytes) -> bool:
        """What decoded base64 must look like to be kept: media, or a wrapper to open."""
        return bool(self.probe(head)) or container_kind(head) is not None or marker_media(head) is not None

    def _refine(self, depth: int) -> None:
        """Parts a JSON walk decoded that are wrappers (base64 of a gzip, a ZIP, media behind
        junk) rather than media: replaced by what they contain."""
        extraction = self.extraction
        for index in range(len(extraction.parts) - 1, -1, -1):
            part = extraction.parts[index]
            if part.pcm is not None or part.kind != "media":
                continue
            head = bytes(part.data[:PROBE_BYTES])
            if self.probe(head) or declared_media(part.declared_type):
                continue
            del extraction.parts[index]
            self.bytes_of_unknown_type(part.data, "", part.where, depth + 1)

    def json(self, data: bytes, root: str, depth: int, *, strict: bool) -> bool:
        """Walk a JSON text; False when it is not JSON (an error only if it was declared JSON)."""
        if not data.strip():
            return True
        try:
            document = parse_json(data)
        except PayloadError as exc:
            if strict:
                self.extraction.errors.append(str(exc))
            return False
        if may_hold_media(data):
            self.document(document, root, depth)
        return True

    def document(self, document: object, root: str, depth: int) -> None:
        """Walk one parsed JSON document (which this walk owns: joined pieces are blanked in it)."""
        before = len(self.extraction.parts)
        walk_json(
            document,
            self.extraction,
            self.limits,
            self._media_probe,
            root,
            self._scan_string,
            lambda spelled, where: self.visit(spelled, None, where, depth + 1),
            lambda pieces, where: self.pieces(pieces, where, depth),
        )
        if len(self.extraction.parts) > before:
            self._refine(depth)

    def records(self, records: list[tuple[str, bytes]], text: bytes, root: str, depth: int, *, strict: bool) -> None:
        """JSON Lines or SSE-style `data:` records of one body (streams.py): pieces of one base64
        string cut over the records are joined and read first, then each record on its own.

        Records are parsed whatever they hold (malformed declared JSON Lines is an error), but
        joined and walked only when the body may hold media (`may_hold_media`: one scan, which
        sees the first piece's media head as it sees any base64 run of 64 characters or more).
        """
        walk = may_hold_media(text)  # `text`: the records' body, scanned once
        documents: list[object] = []
        for label, payload in records:
            if payload[:1] in (b"{", b"["):
                try:
                    documents.append(parse_json(payload))
                except PayloadError as exc:
                    if strict:
                        self.extraction.errors.append(f"{root} {label}: {exc}")
                    documents.append(None)
            else:  # an SSE payload that is not JSON: a bare string
                documents.append(payload.decode("utf-8", "replace"))
        if not walk:
            return
        for stream in piece_streams(documents):
            labels = f"{records[stream.first][0]}..{records[stream.stop - 1][0]}"
            if self.pieces(stream.pieces, f"{root}[{labels}]{stream.label()}", depth):
                clear(documents, stream)
            if self.extraction.truncated:
                return
        for (label, payload), document in zip(records, documents, strict=True):
            where = f"{root}[{label}]"
            if isinstance(document, str):
                self.string(document, where, depth)
            elif document is not None and (len(records) == 1 or may_hold_media(payload)):
                self.document(document, where, depth)
            if self.extraction.truncated:
                return

    def pieces(self, pieces: list[str], where: str, depth: int) -> bool:
        """Pieces of one base64 string (records, array items) read as one string, when the first
        piece's decoded head is media, a wrapper, or encoded media; True when they were read."""
        extraction = self.extraction
        order = fit_order(pieces[:MAX_FIT_PIECES], lambda piece: self._piece_rank(piece, where))
        if order is None:
            return False
        if order != list(range(len(order))):
            # The header piece was not sent first: joined in the order the pieces fit.
            pieces = [pieces[index] for index in order] + list(pieces[MAX_FIT_PIECES:])
            where = f"{where} [reordered]"
        try:
            data = b"".join(b64decode(piece.strip()) for piece in pieces)  # each piece may carry its own padding
            self.budget.spend(len(data))
        except BoundExceeded as exc:
            extraction.errors.append(f"{where}: {exc}")
            extraction.truncated = True
            return True
        except PayloadError as exc:
            extraction.errors.append(f"{where}: {exc}")
            return True
        if self.probe(data[:PROBE_BYTES]):
            extraction.add(PayloadPart(where, data), self.limits)
            return True
        self.text_layers += 1
        try:
            self.bytes_of_unknown_type(data, "", where, depth + 1)
        finally:
            self.text_layers -= 1
        return True

    def _piece_rank(self, piece: str, where: str) -> int:
        """How the decoded head of one base64 piece starts (`joining.fit_order`): 2 a file
        header, 1 media, a wrapper or encoded media otherwise, 0 nothing of the kind."""
        first = piece.strip()[:HEAD_CHARS].translate(_URLSAFE_TEXT)
        try:
            head = binascii.a2b_base64(first[: len(first) - len(first) % 4], strict_mode=False)
        except (binascii.Error, ValueError):
            return 0
        if file_header(head):
            return 2
        media = self._media_probe(head[:PROBE_BYTES]) or marker_media(head) is not None
        return 1 if media or self._encoded_media(head, where) else 0

    def form(self, data: bytes, root: str, depth: int) -> None:
        try:
            # latin-1 both ways: a percent-encoded file (`requests.post(data={"f": raw})`) keeps its bytes.
            fields = parse_qsl(
                data.decode("latin-1"), keep_blank_values=True, max_num_fields=10_000, encoding="latin-1"
            )
        except ValueError as exc:
            raise PayloadError(f"malformed form body: {exc}") from None
        values = [value for _, value in fields]
        for name, value in fields:
            if value.isascii():
                self.string(value, f"{root}.{name}", depth)
            else:  # raw bytes (or UTF-8 text): read them for what they are
                self.visit(value.encode("latin-1"), None, f"{root}.{name}", depth + 1)
            if self.extraction.truncated:
                return
        pieces = base64_pieces(values)
        if pieces is not None:
            first, stop = pieces
            where = f"{root}.{fields[first][0]}..{fields[stop - 1][0]}"
            if not self.pieces(values[first:stop], where, depth):
                self.string("".join(value.strip() for value in values[first:stop]), where, depth)

    def text(self, data: bytes | memoryview, where: str, depth: int) -> None:
        """A body or part that is text whatever its declared type: JSON, a form, or plain text."""
        raw = bytes(data)
        stripped = raw.strip()
        root = _join(where, "json:$") if where != "body" else "json:$"
        if stripped[:1] in (b"{", b"[") and self.json(stripped, root, depth, strict=False):
            return
        if stripped.startswith(_RECORDS_START) and (records := split_records(stripped)) is not None:
            kind = "jsonl" if stripped[:1] in (b"{", b"[") else "sse"
            self.records(records, stripped, _join(where, kind), depth, strict=False)
            return
        if _FORM_HEAD.match(stripped[:PROBE_BYTES]) and b"\n" not in stripped[:PROBE_BYTES]:
            self.form(stripped, _join(where, "form") if where != "body" else "form", depth)
            return
        self.string(raw.decode("utf-8", "replace"), where, depth)

    def _scan_string(self, text: str, where: str) -> None:
        """A JSON string that is not base64 from its first character: scan it as text."""
        self.string(text, where, 1)

    def string(self, text: str, where: str, depth: int) -> None:
        """A text value (form field, text part, JSON string): nested JSON, then encoded runs."""
        extraction, limits = self.extraction, self.limits
        if len(text) < limits.min_base64_chars:
            return
        stripped = text.strip()
        nested = stripped[:1] in ("{", "[") and depth < limits.max_json_depth
        if nested and self.json(stripped.encode("utf-8", "surrogatepass"), f"{where}:json$", depth + 1, strict=False):
            return
        try:
            found = media_in_string(stripped, probe=self._media_probe, min_chars=limits.min_base64_chars)
        except PayloadError:
            found = None
        if found is not None:
            extraction.add(PayloadPart(where, found.data, found.declared_type, found.pcm), limits)
            self._refine(depth)
            return
        for run in encoded_runs(text, limits.min_base64_chars):
            self.run(run, where, depth)
            if extraction.truncated:
                return

    def run(self, run: EncodedRun, where: str, depth: int) -> None:
        """Decode an encoded run only if its head is media or a wrapper."""
        extraction, limits = self.extraction, self.limits
        label = f"{where}:{run.encoding}@{run.start}" if run.start else f"{where}:{run.encoding}"
        try:
            heads = run.head()
        except (binascii.Error, ValueError):
            return
        declared = declared_media(run.declared_type)
        for skip, head in enumerate(heads):
            if not (
                declared
                or self._media_probe(head[:PROBE_BYTES])
                or marker_media(head) is not None
                or self._encoded_media(head, label)
            ):
                continue
            try:
                data = run.decode(skip)
                self.budget.spend(len(data))
            except BoundExceeded as exc:
                extraction.errors.append(f"{label}: {exc}")
                extraction.truncated = True
                return
            except (PayloadError, binascii.Error, ValueError) as exc:
                extraction.errors.append(f"{label}: {exc}")
                return
            if self.probe(data[:PROBE_BYTES]) or declared:
                part = PayloadPart(label, data, run.declared_type, pcm_format_for(run.declared_type))
                extraction.add(part, limits)
            else:
                self.text_layers += 1  # the decoded bytes may be encoded text again: one layer down
                try:
                    self.bytes_of_unknown_type(data, "", label, depth + 1)
                finally:
                    self.text_layers -= 1
            return

    def _encoded_media(self, head: bytes, label: str) -> bool:
        """A decoded head that is encoded text again, with media under it, within the layer bound.

        Text still encoded once the bound is spent is an error naming the bound (the request
        fails closed to unapproved AI services): it is not read, so it cannot be passed as clean.
        Only heads whose first layer already decodes to encoded text get that far (rare in chat).
        """
        left = self.limits.max_text_layers - self.text_layers
        found = peel(head, self._media_probe, max(left, 0))
        if found == DEEPER:
            self.extraction.errors.append(
                f"{label}: text encoded more than {self.limits.max_text_layers + 1} times (bound max_text_layers)"
            )
        return found == MEDIA


_FORM_HEAD = re.compile(rb"[A-Za-z0-9_.\-\[\]%*]{1,256}=[^&\s]*(?:&|\Z)")


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
        walker = Walker(extraction, limits, probe)
        walker.body = data
        walker.visit(data, content_type, "body", 0)
    except PayloadError as exc:
        extraction.errors.append(str(exc))
    return extraction
