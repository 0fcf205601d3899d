"""A multipart/form-data (and multipart/mixed) parser that keeps binary parts intact.

mitmproxy's `multipart_form` decodes parts as text and loses their Content-Type, which
corrupts exactly the parts we need (audio files). This parser works on bytes, tolerates bare
LF line ends, reports a missing closing boundary as truncation instead of dropping the last
part, and descends into nested multipart bodies up to a depth bound.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value

from agent.payload.types import PayloadError

MAX_HEADER_BYTES = 16 << 10


@dataclass(frozen=True)
class MultipartPart:
    headers: dict[str, str]
    """Lower-cased header names; values as sent (latin-1 decoded)."""
    data: bytes | memoryview
    """A view into the body (no copy: a 100 MB upload stays 100 MB), or bytes when decoded."""

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def name(self) -> str | None:
        return disposition_params(self.headers.get("content-disposition", "")).get("name")

    @property
    def filename(self) -> str | None:
        params = disposition_params(self.headers.get("content-disposition", ""))
        return params.get("filename") or params.get("filename*")


@dataclass
class MultipartResult:
    parts: list[MultipartPart]
    errors: list[str]


def header_params(value: str) -> tuple[str, dict[str, str]]:
    """Split `type/subtype; a=b; c="d"` into the main value (lower-cased) and its parameters."""
    message = Message()
    message["content-type"] = value
    main = value.split(";", 1)[0].strip().lower()
    params: dict[str, str] = {}
    for key, val in (message.get_params(header="content-type") or [])[1:]:
        params[key.lower()] = collapse_rfc2231_value(val) if isinstance(val, tuple) else str(val)
    return main, params


def disposition_params(value: str) -> dict[str, str]:
    if not value:
        return {}
    return header_params(value)[1]


def boundary_of(content_type: str) -> str:
    main, params = header_params(content_type)
    if not main.startswith("multipart/"):
        raise PayloadError(f"{main!r} is not a multipart type")
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise PayloadError("multipart body without a usable boundary parameter")
    return boundary


def _parse_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    last: str | None = None
    for raw_line in block.split(b"\n"):
        line = raw_line.rstrip(b"\r").decode("latin-1")
        if not line:
            continue
        if line[0] in " \t" and last is not None:  # obsolete folding
            headers[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise PayloadError("multipart part header line without a colon")
        last = name.strip().lower()
        headers[last] = value.strip()
    return headers


def _split_headers(body: bytes, view: memoryview, start: int, stop: int) -> tuple[dict[str, str], memoryview]:
    """Headers and data of the part in body[start:stop]; the data is a view, never a copy."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = body.find(separator, start, min(stop, start + MAX_HEADER_BYTES + len(separator)))
        if end >= 0:
            return _parse_headers(body[start:end]), view[end + len(separator) : stop]
    if stop - start <= MAX_HEADER_BYTES and not body[start:stop].strip():
        return {}, view[stop:stop]
    if body.startswith((b"\r\n", b"\n"), start, stop):  # a part with no headers at all
        return {}, view[start + (2 if body.startswith(b"\r\n", start, stop) else 1) : stop]
    raise PayloadError("multipart part headers are not terminated by a blank line")


def _transfer_decode(part: MultipartPart) -> MultipartPart:
    encoding = part.headers.get("content-transfer-encoding", "").strip().lower()
    if encoding == "quoted-printable":  # valid MIME for any bytes, if wasteful
        return MultipartPart(part.headers, binascii.a2b_qp(bytes(part.data)))
    if encoding != "base64":
        return part
    try:
        data = base64.b64decode(b"".join(bytes(part.data).split()), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise PayloadError(f"multipart part declares base64 but is not: {exc}") from None
    return MultipartPart(part.headers, data)


def parse_multipart(body: bytes | memoryview, content_type: str, *, max_parts: int = 256) -> MultipartResult:
    """Split `body` into parts. Structural problems go to `errors`; parts found so far are kept.

    Part data are views into `body` (which they keep alive): no copies of large uploads.
    """
    delimiter = b"--" + boundary_of(content_type).encode("latin-1")
    if isinstance(body, memoryview):
        body = bytes(body)  # a nested multipart part: searching needs bytes (one copy of that part)
    view = memoryview(body)
    errors: list[str] = []
    parts: list[MultipartPart] = []
    start = body.find(delimiter)
    if start < 0:
        raise PayloadError("multipart body does not contain its boundary")
    position = start + len(delimiter)
    while True:
        if body.startswith(b"--", position):
            return MultipartResult(parts, errors)  # closing delimiter
        line_end = body.find(b"\n", position)
        if line_end < 0:
            errors.append("multipart body ends inside a boundary line (truncated)")
            return MultipartResult(parts, errors)
        content_start = line_end + 1
        next_delimiter = body.find(b"\n" + delimiter, content_start - 1)
        if next_delimiter < 0:
            end = len(body)
            errors.append("multipart body has no closing boundary (truncated); last part inspected as sent")
            closed = False
        else:
            end = next_delimiter
            if next_delimiter > 0 and body[next_delimiter - 1 : next_delimiter] == b"\r":
                end -= 1
            end = max(end, content_start)
            closed = True
        if len(parts) >= max_parts:
            errors.append(f"more than {max_parts} multipart parts: the rest were not inspected")
            return MultipartResult(parts, errors)
        try:
            headers, data = _split_headers(body, view, content_start, end)
            parts.append(_transfer_decode(MultipartPart(headers, data)))
        except PayloadError as exc:
            errors.append(str(exc))
        if not closed:
            return MultipartResult(parts, errors)
        position = next_delimiter + 1 + len(delimiter)
