"""The shadow-AI training set: request shapes written by hand from public API documentation.

Each YAML file under `dataset/` lists services; each service has a label (`ai` or
`ordinary`), the documentation it was written from, the header names its clients send, and
a few requests. A request is described the way the docs show it (method and path, JSON body
skeleton, form or multipart field names, raw media body type, response type) and is turned
here into real HTTP pieces (headers, body bytes with placeholder values and synthetic media
headers) that go through the same `RequestShape.from_http` the proxy uses. So the training
data exercises the production feature code, not a parallel description of it.

Placeholder strings in JSON bodies:
- `<b64:MIME>`: base64 of a synthetic file of that type (e.g. `<b64:image/png>`)
- `<datauri:MIME>`: the same as a `data:` URI

A request's `response_json` is the key skeleton of the documented answer (values are
placeholders). For an event stream it is one event's JSON, sent as `data:` lines; for NDJSON
one line's. Responses of a media type (`audio/mpeg`, `image/png`) get a synthetic body of that
type; everything else gets no response body.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.shadow.shape import RequestShape

DATASET_DIR = Path(__file__).parent / "dataset"
Label = Literal["ai", "ordinary"]

_MEDIA_MAGIC: dict[str, bytes] = {
    "audio/wav": b"RIFF\x24\x80\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00",
    "audio/x-wav": b"RIFF\x24\x80\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00",
    "audio/mpeg": b"ID3\x04\x00\x00\x00\x00\x00\x23TSSE",
    "audio/mp3": b"\xff\xfb\x90\x64\x00\x00\x00\x00",
    "audio/ogg": b"OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00",
    "audio/opus": b"OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00",
    "audio/flac": b"fLaC\x00\x00\x00\x22\x10\x00",
    "audio/mp4": b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00",
    "audio/m4a": b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00",
    "audio/webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01",
    "audio/amr": b"#!AMR\n",
    "video/mp4": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00",
    "video/quicktime": b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00",
    "video/webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01",
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "image/png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "image/gif": b"GIF89a\x01\x00\x01\x00",
    "image/webp": b"RIFF\x24\x80\x00\x00WEBPVP8 ",
    "image/heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00",
    "image/tiff": b"II*\x00\x08\x00\x00\x00",
    "application/dicom": b"\x00" * 128 + b"DICM\x02\x00\x00\x00",
    "application/pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
    "application/zip": b"PK\x03\x04\x14\x00\x00\x00",
    "application/gzip": b"\x1f\x8b\x08\x00\x00\x00\x00\x00",
    "application/octet-stream": bytes(range(7, 71)),
    "application/x-protobuf": b"\x0a\x1b\x0a\x19\x0a\x0cservice.name\x12\x09\x0a\x07checkout",
    "text/plain": b"MSH|^~\\&|SENDING|FACILITY|RECEIVING|FACILITY|202401011200||ADT^A01|1|P|2.5\r",
    "text/csv": b"id,name,amount\n1,x,2\n",
    "application/xml": b'<?xml version="1.0" encoding="UTF-8"?><Root><Item>x</Item></Root>',
    "application/ssml+xml": b'<speak version="1.0" xml:lang="en-US"><voice name="x">x</voice></speak>',
    "application/jsonl": b'{"custom_id": "x", "method": "POST", "url": "/v1/chat/completions"}\n',
    "application/javascript": b"export default { async fetch(request) { return new Response('x') } }",
}
_DEFAULT_MEDIA_SIZE = 180_000
_PREFIX_LIMIT = 64 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RequestSpec(_Strict):
    call: str = Field(description="METHOD /path?query")
    json_body: Any = Field(default=None, alias="json")
    form: tuple[str, ...] | None = None
    multipart: dict[str, str] | None = Field(default=None, description="field -> 'text' or a MIME type (file part)")
    related: tuple[str, ...] | None = Field(default=None, description="multipart/related part types")
    body: str | None = Field(default=None, description="MIME type of a raw body")
    content_type: str | None = None
    size: int | None = Field(default=None, ge=0)
    headers: tuple[str, ...] = ()
    accept: str | None = None
    response: str | None = None
    response_headers: tuple[str, ...] = ()
    response_json: Any = None
    note: str = ""

    @field_validator("call")
    @classmethod
    def _call(cls, value: str) -> str:
        method, _, path = value.partition(" ")
        if method not in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD") or not path.startswith("/"):
            raise ValueError(f"call must be 'METHOD /path', got {value!r}")
        return value


class ServiceSpec(_Strict):
    id: str
    label: Label
    docs: str = Field(description="public documentation the requests were written from")
    headers: tuple[str, ...] = ()
    response: str | None = "application/json"
    response_headers: tuple[str, ...] = ()
    requests: tuple[RequestSpec, ...] = Field(min_length=1)


class DatasetFile(_Strict):
    services: tuple[ServiceSpec, ...]


@dataclass(frozen=True)
class DatasetRequest:
    """One request of the dataset as the proxy would see it."""

    service: str
    label: int  # 1: AI API, 0: ordinary API
    group: str  # the dataset file (category) it came from
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes  # at most the prefix the proxy would pass
    body_size: int
    response_headers: tuple[tuple[str, str], ...] | None
    response_body: bytes = b""  # the start of the decoded response body, as the proxy copies it

    def shape(self, *, with_response: bool) -> RequestShape:
        return RequestShape.from_http(
            self.method,
            self.path,
            self.headers,
            self.body,
            self.response_headers if with_response else None,
            body_size=self.body_size,
            response_prefix=self.response_body if with_response else b"",
        )


def synthetic_media(mime: str, size: int = 4096) -> bytes:
    """A file-like byte string of `mime`: the real magic header, then filler bytes."""
    magic = _MEDIA_MAGIC.get(mime)
    if magic is None:
        raise ValueError(f"no synthetic content for {mime!r}; add it to _MEDIA_MAGIC")
    filler = bytes((i * 37 + 11) % 251 for i in range(max(0, size - len(magic))))
    return magic + filler


def _fill_placeholders(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _fill_placeholders(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill_placeholders(item) for item in value]
    if isinstance(value, str) and value.startswith(("<b64:", "<datauri:")) and value.endswith(">"):
        kind, _, mime = value[1:-1].partition(":")
        encoded = base64.b64encode(synthetic_media(mime, 3000)).decode("ascii")
        return f"data:{mime};base64,{encoded}" if kind == "datauri" else encoded
    return value


def _body(spec: RequestSpec) -> tuple[bytes, str | None, int | None]:
    """(body prefix, content type, full size when larger than the prefix)."""
    if spec.json_body is not None:
        data = json.dumps(_fill_placeholders(spec.json_body)).encode()
        return data, spec.content_type or "application/json", None
    if spec.form is not None:
        data = "&".join(f"{name}=x" for name in spec.form).encode()
        return data, spec.content_type or "application/x-www-form-urlencoded", None
    if spec.multipart is not None:
        boundary = "----phiwallDatasetBoundary7MA4YWxkTrZu0gW"
        chunks: list[bytes] = []
        for name, kind in spec.multipart.items():
            if kind == "text":
                chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\nx\r\n'.encode())
            elif kind == "json":
                chunks.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
                    f'Content-Type: application/json\r\n\r\n{{"x": 1}}\r\n'.encode()
                )
            else:
                head = (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="upload"\r\n'
                    f"Content-Type: {kind}\r\n\r\n"
                ).encode()
                chunks.append(head + synthetic_media(kind, 6000) + b"\r\n")
        chunks.append(f"--{boundary}--\r\n".encode())
        data = b"".join(chunks)
        return data, f"multipart/form-data; boundary={boundary}", spec.size
    if spec.related is not None:
        boundary = "phiwall_related_boundary"
        chunks = []
        for kind in spec.related:
            content = b'{"name": "x"}' if kind == "application/json" else synthetic_media(kind, 6000)
            chunks.append(f"--{boundary}\r\nContent-Type: {kind}\r\n\r\n".encode() + content + b"\r\n")
        chunks.append(f"--{boundary}--\r\n".encode())
        related_type = spec.content_type or f"multipart/related; boundary={boundary}"
        if "boundary=" not in related_type:
            related_type += f"; boundary={boundary}"
        return b"".join(chunks), related_type, spec.size
    if spec.body is not None:
        size = spec.size if spec.size is not None else _DEFAULT_MEDIA_SIZE
        data = synthetic_media(spec.body, min(size, _PREFIX_LIMIT))
        return data, spec.content_type or spec.body, size
    return b"", spec.content_type, None


def _response_body(spec: RequestSpec, response_type: str | None) -> bytes:
    """The start of the response body as the proxy would copy it (see MAX_RESPONSE_PREFIX)."""
    base_type = (response_type or "").split(";")[0].strip().lower()
    if spec.response_json is not None:
        event = json.dumps(spec.response_json).encode()
        if base_type == "text/event-stream":
            return b"".join(b"data: " + event + b"\n\n" for _ in range(3))
        if base_type in ("application/x-ndjson", "application/jsonl"):
            return b"".join(event + b"\n" for _ in range(3))
        return event
    if base_type in _MEDIA_MAGIC and base_type.split("/")[0] in ("audio", "image", "video"):
        return synthetic_media(base_type, 8192)
    return b""


def _requests_of(service: ServiceSpec, group: str) -> Iterator[DatasetRequest]:
    for spec in service.requests:
        method, _, path = spec.call.partition(" ")
        body, content_type, size = _body(spec)
        headers = [(name, "x") for name in service.headers + spec.headers]
        if content_type:
            headers.append(("content-type", content_type))
        if spec.accept == "sse":
            headers.append(("accept", "text/event-stream"))
        elif spec.accept:
            headers.append(("accept", spec.accept))
        full_size = size if size is not None else len(body)
        if body:
            headers.append(("content-length", str(full_size)))
        response_type = spec.response or service.response
        response_headers: list[tuple[str, str]] = [(name, "x") for name in service.response_headers]
        response_headers += [(name, "x") for name in spec.response_headers]
        if response_type:
            response_headers.append(("content-type", response_type))
        yield DatasetRequest(
            service=service.id,
            label=1 if service.label == "ai" else 0,
            group=group,
            method=method,
            path=path,
            headers=tuple(headers),
            body=body[:_PREFIX_LIMIT],
            body_size=full_size,
            response_headers=tuple(response_headers) if response_headers else None,
            response_body=_response_body(spec, response_type) if response_headers else b"",
        )


def load_services(directory: Path = DATASET_DIR) -> list[tuple[str, ServiceSpec]]:
    """(file stem, service) for every service; raises ValueError naming the bad file."""
    services: list[tuple[str, ServiceSpec]] = []
    seen: set[str] = set()
    for path in sorted(directory.glob("*.yaml")):
        try:
            document = DatasetFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (ValidationError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: {exc}") from None
        for service in document.services:
            if service.id in seen:
                raise ValueError(f"{path}: service {service.id!r} appears twice in the dataset")
            seen.add(service.id)
            services.append((path.stem, service))
    return services


def load_requests(directory: Path = DATASET_DIR) -> list[DatasetRequest]:
    return [request for group, service in load_services(directory) for request in _requests_of(service, group)]
