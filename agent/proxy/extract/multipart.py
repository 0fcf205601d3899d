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

from agent.proxy.extract.types import PayloadError

MAX_HEADER_BYTES = 16 << 10


@dataclass(frozen=True)
class MultipartPart:
    headers: dict[str, str]
    """Lower-cased header names; values as sent (latin-1 decoded)."""
    data: bytes

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


def _split_headers(chunk: bytes) -> tuple[dict[str, str], bytes]:
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = chunk.find(separator, 0, MAX_HEADER_BYTES + len(separator))
        if end >= 0:
            return _parse_headers(chunk[:end]), chunk[end + len(separator) :]
    if chunk.strip() == b"":
        return {}, b""
    if chunk.startswith((b"\r\n", b"\n")):  # a part with no headers at all
        return {}, chunk[2:] if chunk.startswith(b"\r\n") else chunk[1:]
    raise PayloadError("multipart part headers are not terminated by a blank line")


def _transfer_decode(part: MultipartPart) -> MultipartPart:
    encoding = part.headers.get("content-transfer-encoding", "").strip().lower()
    if encoding != "base64":
        return part
    try:
        data = base64.b64decode(b"".join(part.data.split()), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise PayloadError(f"multipart part declares base64 but is not: {exc}") from None
    return MultipartPart(part.headers, data)


def parse_multipart(body: bytes, content_type: str, *, max_parts: int = 256) -> MultipartResult:
    """Split `body` into parts. Structural problems go to `errors`; parts found so far are kept."""
    delimiter = b"--" + boundary_of(content_type).encode("latin-1")
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
            chunk = body[content_start:]
            errors.append("multipart body has no closing boundary (truncated); last part inspected as sent")
            closed = False
        else:
            end = next_delimiter
            if next_delimiter > 0 and body[next_delimiter - 1 : next_delimiter] == b"\r":
                end -= 1
            chunk = body[content_start:end] if end >= content_start else b""
            closed = True
        if len(parts) >= max_parts:
            errors.append(f"more than {max_parts} multipart parts: the rest were not inspected")
            return MultipartResult(parts, errors)
        try:
            headers, data = _split_headers(chunk)
            parts.append(_transfer_decode(MultipartPart(headers, data)))
        except PayloadError as exc:
            errors.append(str(exc))
        if not closed:
            return MultipartResult(parts, errors)
        position = next_delimiter + 1 + len(delimiter)
