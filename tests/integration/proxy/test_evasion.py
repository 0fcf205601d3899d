"""Everything a clinician might do to a recording before uploading it, through the real proxy.

Each wrapper and encoding is built at test time around the enrolled dictation (re-encoded as
an MP3, what a clinician would upload) and around speech that is not enrolled, and sent with
real clients (httpx, curl, the openai SDK). For each case: the clinical version is blocked
at the unapproved AI service with an event naming the wrapper path (never a file name from
inside an archive); the other speech passes there; the clinical version passes to the
approved service.
"""

from __future__ import annotations

import base64
import gzip
import json
import ssl
import subprocess
import textwrap
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import openai
import pytest

from tests.integration.proxy.conftest import Recordings
from tests.integration.proxy.harness import UNAPPROVED_ID, ProxyProcess
from tests.integration.proxy.upstream import Upstream
from tests.support.media import MediaFactory
from tests.unit.payload import wrappers

pytestmark = pytest.mark.timeout(300)

Body = tuple[bytes, dict[str, str]]


def _chat(content: object) -> bytes:
    return json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": content}]}).encode()


def _json(body: bytes, content_type: str | None = "application/json") -> Body:
    return body, ({"content-type": content_type} if content_type else {})


def _b64(media: bytes) -> str:
    return base64.b64encode(media).decode()


def _multipart(name: str, data: bytes, *, content_type: str | None, filename: str | None = None) -> Body:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = f"Content-Disposition: {disposition}\r\n" + (f"Content-Type: {content_type}\r\n" if content_type else "")
    body = b"--XB\r\n" + head.encode() + b"\r\n" + data + b'\r\n--XB\r\nContent-Disposition: form-data; name="model"'
    body += b"\r\n\r\nwhisper-1\r\n--XB--\r\n"
    return body, {"content-type": "multipart/form-data; boundary=XB"}


def _cut(text: str, size: int = 2048) -> list[str]:
    """A streaming client's pieces of one base64 string (about 0.2 s of audio each: too short to match alone)."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def _header_last(pieces: list[str]) -> list[str]:
    """The pieces with the first one (the media header) sent last."""
    return pieces[1:] + pieces[:1]


def _file(data: bytes, content_type: str = "application/octet-stream") -> Body:
    return _multipart("file", data, content_type=content_type, filename="upload.bin")


CASES: dict[str, Callable[[bytes], Body]] = {
    # containers (as a multipart file upload, the way a web app takes them)
    "zip-stored": lambda m: _file(wrappers.zip_of({"Doe_Jane.mp3": m}, stored=True), "application/zip"),
    "zip-deflated": lambda m: _file(wrappers.zip_of({"notes.txt": b"hello", "Doe_Jane.mp3": m})),
    "docx": lambda m: _file(wrappers.docx_with(m), "application/vnd.openxmlformats-officedocument"),
    "tar.gz": lambda m: _file(wrappers.tar_of({"rec.mp3": m}, "w:gz"), "application/gzip"),
    "tar.bz2": lambda m: _file(wrappers.tar_of({"rec.mp3": m}, "w:bz2")),
    "tar.xz": lambda m: _file(wrappers.tar_of({"rec.mp3": m}, "w:xz")),
    "tar.zst": lambda m: _file(wrappers.compressed(wrappers.tar_of({"rec.mp3": m}, "w"), "zstd")),
    "7z": lambda m: _file(wrappers.libarchive_of({"rec.mp3": m}, "7zip"), "application/x-7z-compressed"),
    "cpio": lambda m: _file(wrappers.libarchive_of({"rec.mp3": m}, "cpio")),
    "iso": lambda m: _file(wrappers.libarchive_of({"rec.mp3": m}, "iso9660")),
    "mp3.gz": lambda m: _file(wrappers.compressed(m, "gzip"), "application/gzip"),
    "mp3.bz2": lambda m: _file(wrappers.compressed(m, "bzip2")),
    "mp3.xz": lambda m: _file(wrappers.compressed(m, "xz")),
    "mp3.zst": lambda m: _file(wrappers.compressed(m, "zstd")),
    "mp3.zlib": lambda m: _file(wrappers.compressed(m, "zlib")),
    "mp3.zlib-level3": lambda m: _file(zlib.compress(m, 3)),  # header 78 5E ("x^")
    "eml": lambda m: _file(wrappers.eml_with(m, "Doe_Jane.mp3"), "message/rfc822"),
    "mhtml": lambda m: _file(wrappers.mhtml_with(m), "multipart/related"),
    "pdf-attachment": lambda m: _file(wrappers.pdf_with(m), "application/pdf"),
    "zip-in-tar.gz": lambda m: _file(wrappers.tar_of({"b.zip": wrappers.zip_of({"r.mp3": m})})),
    "raw-zip-put": lambda m: (wrappers.zip_of({"r.mp3": m}), {"content-type": "application/zip"}),
    # encodings
    "wrapped-base64": lambda m: _json(_chat(wrappers.wrapped_base64(m))),
    "base64-after-prefix": lambda m: _json(_chat("Please transcribe: " + _b64(m))),
    "urlsafe-base64": lambda m: _json(_chat(base64.urlsafe_b64encode(m).decode().rstrip("="))),
    "hex": lambda m: _json(_chat(m.hex())),
    "base64-of-gzip": lambda m: _json(_chat(_b64(gzip.compress(m)))),
    "base64-of-zlib": lambda m: _json(_chat(_b64(wrappers.compressed(m, "zlib")))),  # pako.deflate + btoa
    "base32": lambda m: _json(_chat(base64.b32encode(m).decode())),
    "base64-in-groups-of-four": lambda m: _json(_chat(" ".join(textwrap.wrap(_b64(m), 4)))),
    "split-array": lambda m: _json(
        json.dumps({"parts": [_b64(m[i : i + 60000]) for i in range(0, len(m), 60000)]}).encode()
    ),
    "data-uri-in-text": lambda m: _json(_chat(f"what is said in data:audio/mpeg;base64,{_b64(m)} ?")),
    "untyped-blob": lambda m: _json(_chat([{"type": "input_audio", "input_audio": {"data": _b64(m)}}]), None),
    "octet-stream-json": lambda m: _json(_chat(_b64(m)), "application/octet-stream"),
    "text-plain-json": lambda m: _json(_chat(_b64(m)), "text/plain;charset=UTF-8"),
    "json+protobuf": lambda m: _json(
        json.dumps([["models/x"], [[[None, [None, "audio/mpeg", _b64(m)]]]]]).encode(), "application/json+protobuf"
    ),
    "batchexecute-f.req": lambda m: (
        urlencode(
            {"f.req": json.dumps([[["rpc", json.dumps([[None, _b64(m)]]), None, "generic"]]]), "at": "x"}
        ).encode(),
        {"content-type": "application/x-www-form-urlencoded;charset=UTF-8"},
    ),
    "multipart-field-no-type": lambda m: _multipart("audio", _b64(m).encode(), content_type=None),
    # binary as JSON numbers (Array.from(bytes); some APIs take audio so), a stringified Uint8Array,
    # a percent-encoded file in a form (requests' data=), raw bytes in a JSON string
    "json-byte-array": lambda m: _json(json.dumps({"model": "whisper", "audio": list(m)}).encode()),
    "uint8array-object": lambda m: _json(_chat({"audio": {str(i): b for i, b in enumerate(m)}}), "text/plain"),
    "form-raw-bytes": lambda m: (urlencode({"file": m, "model": "whisper-1"}).encode(), {}),
    "latin1-json-string": lambda m: _json(json.dumps({"audio": m.decode("latin-1")}).encode()),
    # hex as tools print it: `xxd -p` (60 a line) pasted into a chat turn, `xxd -i` (a C array)
    "xxd-p-in-chat": lambda m: _json(_chat("\n".join(m.hex()[i : i + 60] for i in range(0, 2 * len(m), 60)))),
    "xxd-i-c-array": lambda m: _json(", ".join(f"0x{b:02x}" for b in m).encode(), "text/plain"),
    "text-plain-wrapped": lambda m: _json(wrappers.wrapped_base64(m).encode(), "text/plain"),
    "vendor-type": lambda m: _json(_chat(_b64(m)), "application/vnd.example.v2+protobuf"),
    # encodings of encodings: base64 of base64, base64 of `xxd -p` output, hex of base64
    "base64-of-base64": lambda m: _json(_chat(_b64(_b64(m).encode()))),
    "base64-of-hex": lambda m: _json(_chat(_b64(m.hex().encode()))),
    "hex-of-base64": lambda m: _json(_chat(_b64(m).encode().hex())),
    # one base64 string cut over the records of a streaming upload body
    "ndjson-stream-chunks": lambda m: _json(
        b"\n".join(json.dumps({"seq": i, "chunk": c}).encode() for i, c in enumerate(_cut(_b64(m)))),
        "application/x-ndjson",
    ),
    "sse-data-chunks": lambda m: _json(
        b"".join(b"data: " + json.dumps({"audio": c}).encode() + b"\n\n" for c in _cut(_b64(m))), None
    ),
    "array-of-small-pieces": lambda m: _json(json.dumps({"parts": _cut(_b64(m), 1024)}).encode()),
    "array-of-chunk-objects": lambda m: _json(
        json.dumps({"upload": [{"index": i, "data": c} for i, c in enumerate(_cut(_b64(m)))]}).encode()
    ),
    # the same pieces sent out of order, the header piece last: joined in the order they fit
    "split-array-header-last": lambda m: _json(json.dumps({"parts": _header_last(_cut(_b64(m), 60000))}).encode()),
    "chunk-objects-header-last": lambda m: _json(
        json.dumps({"upload": [{"data": c} for c in _header_last(_cut(_b64(m)))]}).encode()
    ),
    "form-fields-header-last": lambda m: (
        urlencode([(f"part{i}", c) for i, c in enumerate(_header_last(_cut(_b64(m), 60000)))]).encode(),
        {"content-type": "application/x-www-form-urlencoded"},
    ),
    # media whose first bytes are not a known header
    "mp3-behind-zeros": lambda m: _file(b"\x00" * 4096 + bytes(range(256)) * 8 + m),
    "wav-behind-pdf-prefix": lambda m: _file(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + m),
}
"""name -> (media -> request body and headers)."""
WAV_CASES = {"wav-behind-pdf-prefix"}
"""Cases wrapping the WAV (the others wrap the MP3)."""


@pytest.fixture
def http(proxy: ProxyProcess) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=str(proxy.ca_cert))
    with httpx.Client(proxy=proxy.url, verify=context, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def other_wav(recordings: Recordings, media_factory: MediaFactory) -> bytes:
    return media_factory.encode(recordings.other_mp3, ".wav").read_bytes()


def _media(recordings: Recordings, name: str, clinical: bool, other_wav: bytes) -> bytes:
    if name in WAV_CASES:
        return recordings.clinical_wav.read_bytes() if clinical else other_wav
    return (recordings.clinical_mp3 if clinical else recordings.other_mp3).read_bytes()


def _assert_blocked(proxy: ProxyProcess, response: httpx.Response, recordings: Recordings) -> dict[str, object]:
    assert response.status_code == 403, response.text[:300]
    assert response.headers["x-phiwall-verdict"] == "block"
    event = proxy.event(response.headers["x-phiwall-incident"])
    assert event.asset_id == recordings.asset_id
    assert event.service_id == UNAPPROVED_ID
    details: dict[str, object] = json.loads(event.details)
    assert "Doe_Jane" not in event.details
    assert "Doe_Jane" not in event.reason
    return details


@pytest.mark.parametrize("name", list(CASES))
def test_wrapper_blocked_to_ai_passed_elsewhere(
    name: str,
    proxy: ProxyProcess,
    http: httpx.Client,
    unapproved: Upstream,
    approved: Upstream,
    recordings: Recordings,
    other_wav: bytes,
) -> None:
    build = CASES[name]
    body, headers = build(_media(recordings, name, True, other_wav))
    url = "/v1/chat/completions"
    blocked = http.post(f"{unapproved.https}{url}", content=body, headers=headers)
    details = _assert_blocked(proxy, blocked, recordings)
    assert details.get("matched_part"), details
    other_body, other_headers = build(_media(recordings, name, False, other_wav))
    passed = http.post(f"{unapproved.https}{url}", content=other_body, headers=other_headers)
    assert passed.status_code == 200, passed.text[:300]
    assert http.post(f"{approved.https}{url}", content=body, headers=headers).status_code == 200


def test_event_names_the_wrapper_path(
    proxy: ProxyProcess, http: httpx.Client, unapproved: Upstream, recordings: Recordings
) -> None:
    inner = wrappers.zip_of({"Doe_Jane.mp3": recordings.clinical_mp3.read_bytes()})
    body, headers = _file(wrappers.tar_of({"Doe_Jane.zip": inner}))
    details = _assert_blocked(proxy, http.post(f"{unapproved.https}/upload", content=body, headers=headers), recordings)
    assert details["matched_part"] == "multipart:file > gzip > tar#0(.zip) > zip#0(.mp3)"
    assert "multipart:file > gzip" in details["containers"]  # type: ignore[operator]


def test_encrypted_zip_blocked_to_ai_passed_elsewhere(
    proxy: ProxyProcess,
    http: httpx.Client,
    unapproved: Upstream,
    unknown: Upstream,
    recordings: Recordings,
    tmp_path: Path,
) -> None:
    body, headers = _file(wrappers.encrypted_zip(recordings.clinical_mp3.read_bytes(), tmp_path))
    blocked = http.post(f"{unapproved.https}/upload", content=body, headers=headers)
    assert blocked.status_code == 403
    assert "encrypted container" in proxy.event(blocked.headers["x-phiwall-incident"]).reason
    assert http.post(f"{unknown.https}/upload", content=body, headers=headers).status_code == 200


def test_encrypted_rar_blocked_to_ai_passed_elsewhere(
    proxy: ProxyProcess, http: httpx.Client, unapproved: Upstream, approved: Upstream
) -> None:
    """A password-protected RAR (a fixed file: nothing free writes RAR, tests/unit/payload/data)."""
    rar = (Path(wrappers.__file__).parent / "data" / "rar5-hpsw.rar").read_bytes()
    body, headers = _file(rar, "application/vnd.rar")
    blocked = http.post(f"{unapproved.https}/upload", content=body, headers=headers)
    assert blocked.status_code == 403
    assert "encrypted container" in proxy.event(blocked.headers["x-phiwall-incident"]).reason
    assert http.post(f"{approved.https}/upload", content=body, headers=headers).status_code == 200


def test_encrypted_pdf_blocked_to_ai(
    proxy: ProxyProcess, http: httpx.Client, unapproved: Upstream, recordings: Recordings
) -> None:
    body, headers = _file(wrappers.pdf_with(recordings.clinical_mp3.read_bytes(), password="x"), "application/pdf")
    blocked = http.post(f"{unapproved.https}/upload", content=body, headers=headers)
    assert blocked.status_code == 403
    assert "encrypted container" in proxy.event(blocked.headers["x-phiwall-incident"]).reason


def test_zip_bomb_fails_closed_naming_the_bound(
    proxy: ProxyProcess, http: httpx.Client, unapproved: Upstream, unknown: Upstream
) -> None:
    body, headers = _file(wrappers.zip_of({f"{i}.txt": b"A" * (200 << 20) for i in range(4)}))
    blocked = http.post(f"{unapproved.https}/upload", content=body, headers=headers)
    assert blocked.status_code == 403
    assert "(bound max_" in proxy.event(blocked.headers["x-phiwall-incident"]).reason
    assert http.post(f"{unknown.https}/upload", content=body, headers=headers).status_code == 200
    assert proxy.alive()


# --- other real clients -----------------------------------------------------------------------


def test_curl_uploads_a_zip(proxy: ProxyProcess, unapproved: Upstream, recordings: Recordings, tmp_path: Path) -> None:
    archive = tmp_path / "notes.zip"
    archive.write_bytes(wrappers.zip_of({"Doe_Jane.mp3": recordings.clinical_mp3.read_bytes()}))
    result = subprocess.run(
        ["curl", "-sS", "--proxy", proxy.url, "--cacert", str(proxy.ca_cert), "-F", f"file=@{archive}",
         "-o", "/dev/null", "-w", "%{http_code}", f"{unapproved.https}/v1/files"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert result.stdout == "403"


def test_curl_data_binary_base64_text(
    proxy: ProxyProcess, unapproved: Upstream, recordings: Recordings, tmp_path: Path
) -> None:
    text = tmp_path / "note.b64"
    text.write_text(wrappers.wrapped_base64(recordings.clinical_mp3.read_bytes()))
    result = subprocess.run(
        ["curl", "-sS", "--proxy", proxy.url, "--cacert", str(proxy.ca_cert), "--data-binary", f"@{text}",
         "-o", "/dev/null", "-w", "%{http_code}", f"{unapproved.https}/v1/chat/completions"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert result.stdout == "403"  # curl sends application/x-www-form-urlencoded: read for what it is


def test_openai_sdk_data_uri_in_chat_text(proxy: ProxyProcess, unapproved: Upstream, recordings: Recordings) -> None:
    context = ssl.create_default_context(cafile=str(proxy.ca_cert))
    client = openai.OpenAI(
        api_key="sk-test",
        base_url=f"{unapproved.https}/v1",
        http_client=httpx.Client(proxy=proxy.url, verify=context, timeout=60),
        max_retries=0,
    )
    uri = "data:audio/mpeg;base64," + _b64(recordings.clinical_mp3.read_bytes())
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": f"Summarise this recording: {uri}"}]
        )


# --- formats libmagic does not see (the marker table) ----------------------------------------------

MARKER_FORMATS = {
    "w64": (".w64", ["-f", "w64"]),
    "wavpack": (".wv", []),
    "tta": (".tta", []),
    "ac3": (".ac3", ["-b:a", "128k"]),
    "voc": (".voc", ["-f", "voc", "-c:a", "pcm_u8"]),
    "mxf": (".mxf", ["-f", "mxf_opatom", "-ar", "48000", "-c:a", "pcm_s16le"]),
}


@pytest.mark.parametrize("fmt", list(MARKER_FORMATS))
def test_marker_formats_blocked_to_ai_passed_elsewhere(
    fmt: str,
    proxy: ProxyProcess,
    http: httpx.Client,
    unapproved: Upstream,
    approved: Upstream,
    recordings: Recordings,
    media_factory: MediaFactory,
) -> None:
    suffix, args = MARKER_FORMATS[fmt]
    clinical = media_factory.encode(recordings.clinical_wav, suffix, *args).read_bytes()
    other = media_factory.encode(recordings.other_excerpt_wav, suffix, *args).read_bytes()
    body, headers = _file(b"\x00" * 512 + clinical if fmt != "ac3" else clinical)
    _assert_blocked(proxy, http.post(f"{unapproved.https}/upload", content=body, headers=headers), recordings)
    other_body, other_headers = _file(b"\x00" * 512 + other if fmt != "ac3" else other)
    assert http.post(f"{unapproved.https}/upload", content=other_body, headers=other_headers).status_code == 200
    assert http.post(f"{approved.https}/upload", content=body, headers=headers).status_code == 200


# --- archives sent as resumable uploads ---------------------------------------------------------


@pytest.mark.parametrize("protocol", ["tus", "google"])
def test_archive_sent_in_resumable_chunks_is_opened_once_complete(
    proxy: ProxyProcess,
    http: httpx.Client,
    unapproved: Upstream,
    unknown: Upstream,
    recordings: Recordings,
    protocol: str,
) -> None:
    """A ZIP in resumable chunks: its first chunk is walked like any body (every destination
    class uses the same walker), cannot be opened without the directory at the ZIP's end, and so
    fails closed to the unapproved AI service with that reason; the session goes on, and the
    chunk that completes the ZIP has the session's bytes walked as the whole archive: the
    recording inside is matched and named. To a host that is not an AI service the chunks
    pass until the ZIP is whole, which is then judged like the whole ZIP sent at once (this
    module's policy blocks clinical media to uncatalogued hosts)."""

    def send(base: str, session: str, data: bytes) -> list[httpx.Response]:
        third = len(data) // 3
        responses = []
        for index, piece in enumerate([data[:third], data[third : 2 * third], data[2 * third :]]):
            offset = index * third
            if protocol == "tus":
                headers = {"tus-resumable": "1.0.0", "upload-offset": str(offset)}
                headers["content-type"] = "application/offset+octet-stream"
                responses.append(http.patch(f"{base}/files/{session}", content=piece, headers=headers))
            else:
                command = "upload, finalize" if index == 2 else "upload"
                headers = {"x-goog-upload-command": command, "x-goog-upload-offset": str(offset)}
                url = f"{base}/upload/v1beta/files?upload_id={session}"
                responses.append(http.post(url, content=piece, headers=headers))
        return responses

    archive = wrappers.zip_of({"Doe_Jane.mp3": recordings.clinical_mp3.read_bytes()})
    responses = send(unapproved.https, f"zip{protocol}", archive)
    assert [r.status_code for r in responses] == [403, 403, 403]
    assert "ZIP is cut short" in proxy.event(responses[0].headers["x-phiwall-incident"]).reason
    details = _assert_blocked(proxy, responses[2], recordings)
    assert details["matched_part"] == f"session:{protocol} > zip#0(.mp3)"
    to_other = send(unknown.https, f"zipok{protocol}", archive)
    assert [r.status_code for r in to_other] == [200, 200, 403]
    assert proxy.event(to_other[2].headers["x-phiwall-incident"]).asset_id == recordings.asset_id
