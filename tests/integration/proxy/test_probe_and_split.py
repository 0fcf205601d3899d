"""Media that sniffing cannot name, recordings cut into pieces, realtime audio that lies about its rate.

Through a real proxy process with real clients (httpx, curl for `split` pieces, websockets)
and media made here with espeak-ng and ffmpeg: every case is blocked on its way to the
unapproved catalog AI service and passes to a host that is not an AI service. The proxy of
this module runs an organisation policy that blocks clinical media only on its way to AI
services (`clinical_media_to_unknown: audit`), so what reaches ordinary hosts is the same
whatever the encoding; probing and joining never run for them.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import ssl
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from agent.store import Event
from tests.integration.proxy.conftest import Recordings, enroll
from tests.integration.proxy.harness import UNAPPROVED_ID, ProxyProcess
from tests.integration.proxy.upstream import Upstream
from tests.support.media import MediaFactory, ffmpeg, require_tools
from tests.unit.payload import wrappers

pytestmark = pytest.mark.timeout(300)


class AIOnlyProxy(ProxyProcess):
    """The harness proxy with a policy that blocks clinical media to AI services only."""

    def write_config(self) -> Path:
        config = super().write_config()
        policy = self.root / "signatures" / "policy" / "test.yaml"
        policy.write_text(policy.read_text() + "clinical_media_to_unknown: audit\n")
        return config


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory, upstream_ca_file: Path, recordings: Recordings
) -> Iterator[ProxyProcess]:
    process = AIOnlyProxy(tmp_path_factory.mktemp("proxy"), upstream_ca=upstream_ca_file)
    enroll(process.store_url, [recordings.clinical_wav])
    process.start()
    yield process
    code = process.stop()
    assert code == 0, process.log()[-3000:]
    assert "Traceback" not in process.log(), process.log()[-5000:]


def _client(proxy: ProxyProcess) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(proxy.ca_cert))
    return httpx.Client(proxy=proxy.url, verify=context, timeout=60)


@pytest.fixture
def http(proxy: ProxyProcess) -> Iterator[httpx.Client]:
    with _client(proxy) as client:
        yield client


def _made(factory: MediaFactory, name: str, make: Callable[[Path], None]) -> Path:
    out = factory.root / f"probe-{name}"
    if not out.exists():
        tmp = out.with_name(out.name + ".part")
        make(tmp)
        tmp.replace(out)
    return out


def _encoded(factory: MediaFactory, src: Path, name: str, *args: str) -> bytes:
    return _made(factory, name, lambda out: ffmpeg("-i", str(src), *args, str(out))).read_bytes()


@pytest.fixture(scope="module")
def hidden(media_factory: MediaFactory, recordings: Recordings) -> dict[str, bytes]:
    """The clinical dictation in shapes whose first bytes are no header libmagic knows."""
    require_tools("ffmpeg")
    wav = recordings.clinical_wav
    bare_mp3 = _encoded(media_factory, wav, "bare.mp3", "-ac", "1", "-b:a", "48k", "-id3v2_version", "0", "-f", "mp3")

    def mxf(out: Path) -> None:
        ffmpeg(
            "-f", "lavfi", "-i", "color=c=black:s=160x120:r=25", "-i", str(wav), "-shortest",
            "-ar", "48000", "-c:a", "pcm_s16le", "-c:v", "mpeg2video", "-f", "mxf", str(out),
        )  # fmt: skip

    return {
        "mp3-after-zeros": bytes(200_000) + recordings.clinical_mp3.read_bytes(),
        "mp3-after-junk": os.urandom(3000) + bare_mp3,
        "wav-after-pdf-prefix": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + os.urandom(2000) + wav.read_bytes(),
        "w64": _encoded(media_factory, wav, "clin.w64", "-f", "w64"),
        "wavpack": _encoded(media_factory, wav, "clin.wv", "-c:a", "wavpack", "-f", "wv"),
        "tta": _encoded(media_factory, wav, "clin.tta", "-c:a", "tta", "-f", "tta"),
        "ac3": _encoded(media_factory, wav, "clin.ac3", "-ar", "48000", "-c:a", "ac3", "-f", "ac3"),
        "voc": _encoded(media_factory, wav, "clin.voc", "-c:a", "pcm_u8", "-f", "voc"),
        "mxf": _made(media_factory, "clin.mxf", mxf).read_bytes(),
        "pcm-16k": _encoded(media_factory, wav, "clin16k.pcm", "-ac", "1", "-ar", "16000", "-f", "s16le"),
    }


def _post(http: httpx.Client, url: str, data: bytes) -> httpx.Response:
    return http.post(url, content=data, headers={"content-type": "application/octet-stream"})


@pytest.mark.parametrize(
    "case",
    [
        "mp3-after-zeros",
        "mp3-after-junk",
        "wav-after-pdf-prefix",
        "w64",
        "wavpack",
        "tta",
        "ac3",
        "voc",
        "mxf",
        "pcm-16k",
    ],
)
def test_media_behind_unknown_bytes_is_probed_by_decoding(
    proxy: ProxyProcess,
    http: httpx.Client,
    unapproved: Upstream,
    unknown: Upstream,
    recordings: Recordings,
    hidden: dict[str, bytes],
    case: str,
) -> None:
    data = hidden[case]
    before = len(unapproved.received.requests)
    blocked = _post(http, f"{unapproved.https}/v1/files", data)
    assert blocked.status_code == 403, blocked.text
    assert len(unapproved.received.requests) == before
    event = proxy.event(blocked.headers["x-phiwall-incident"])
    assert event.asset_id == recordings.asset_id
    assert event.service_id == UNAPPROVED_ID
    assert _post(http, f"{unknown.https}/upload", data).status_code == 200


@pytest.mark.parametrize(
    ("case", "wrap"),
    [
        ("pcm-16k", "zip"),
        ("pcm-16k", "tar.gz"),
        ("pcm-16k", "7z"),
        ("mp3-after-zeros", "zip"),
        ("wavpack", "gzip"),
    ],
)
def test_unnamed_media_inside_wrappers_is_probed(
    proxy: ProxyProcess,
    http: httpx.Client,
    unapproved: Upstream,
    unknown: Upstream,
    recordings: Recordings,
    hidden: dict[str, bytes],
    case: str,
    wrap: str,
) -> None:
    """A headerless recording zipped (or tarred, 7-zipped, gzipped) is an unknown leaf of the
    archive: probed by decoding like a bare body, never skipped for having no header."""
    entries = {"notes.txt": b"see attached", "rec/recording.bin": hidden[case]}
    data = {
        "zip": lambda: wrappers.zip_of(entries),
        "tar.gz": lambda: wrappers.tar_of(entries),
        "7z": lambda: wrappers.libarchive_of(entries, "7zip"),
        "gzip": lambda: wrappers.compressed(hidden[case], "gzip"),
    }[wrap]()
    blocked = _post(http, f"{unapproved.https}/v1/files", data)
    assert blocked.status_code == 403, blocked.text
    event = proxy.event(blocked.headers["x-phiwall-incident"])
    assert event.asset_id == recordings.asset_id
    assert _post(http, f"{unknown.https}/upload", data).status_code == 200


def test_unreadable_binary_fails_closed_only_for_ai_services(
    proxy: ProxyProcess, http: httpx.Client, unapproved: Upstream, unknown: Upstream
) -> None:
    noise = os.urandom(300_000)
    blocked = _post(http, f"{unapproved.https}/v1/files", noise)
    assert blocked.status_code == 403
    event = proxy.event(blocked.headers["x-phiwall-incident"])
    assert "could not be read as media" in event.reason
    assert event.asset_id is None
    assert _post(http, f"{unknown.https}/upload", noise).status_code == 200
    # libmagic names noise that starts 0xE9 a DOS executable: opaque bytes still fail closed.
    guessed = b"\xe9\x12" + random.Random(1).randbytes(300_000)  # fixed: libmagic's guess varies
    refused_guess = _post(http, f"{unapproved.https}/v1/files", guessed)
    assert refused_guess.status_code == 403
    assert "libmagic guesses application/x-dosexec" in proxy.event(refused_guess.headers["x-phiwall-incident"]).reason
    assert _post(http, f"{unknown.https}/upload", guessed).status_code == 200
    # Below the floor, and documents the walker opens (a PDF with nothing embedded), are not
    # failed for being unread.
    assert _post(http, f"{unapproved.https}/v1/files", os.urandom(20_000)).status_code == 200
    pdf = wrappers.pdf_without_attachments(pages=600)
    assert len(pdf) > 64 << 10
    pdf_type = {"content-type": "application/pdf"}
    assert http.post(f"{unapproved.https}/v1/files", content=pdf, headers=pdf_type).status_code == 200
    # A PDF the walker cannot open could hold an attachment: it fails closed, saying why.
    corrupt = b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 4000 + b"%%EOF\n"
    refused = http.post(f"{unapproved.https}/v1/files", content=corrupt, headers=pdf_type)
    assert refused.status_code == 403
    assert "PDF is corrupt" in proxy.event(refused.headers["x-phiwall-incident"]).reason
    assert http.post(f"{unknown.https}/upload", content=corrupt, headers=pdf_type).status_code == 200


def test_speech_that_is_not_enrolled_passes_when_probed(
    proxy: ProxyProcess, http: httpx.Client, unapproved: Upstream, recordings: Recordings
) -> None:
    response = _post(http, f"{unapproved.https}/v1/files", recordings.other_pcm24k.read_bytes())
    assert response.status_code == 200, response.text


# --- split uploads ------------------------------------------------------------------------------


def _curl_piece(proxy: ProxyProcess, url: str, piece: Path, local_address: str, *, multipart: bool = False) -> int:
    """POST one piece with curl from `local_address`: the raw body, or a multipart file part (`-F`)."""
    if multipart:
        body = ["-F", f"file=@{piece};type=application/octet-stream", "-F", "purpose=assistants"]
    else:
        body = ["-H", "Content-Type: application/octet-stream", "--data-binary", f"@{piece}"]
    result = subprocess.run(
        [
            "curl", "-sS", "--proxy", proxy.url, "--cacert", str(proxy.ca_cert), "--interface", local_address,
            *body, "-o", os.devnull, "-w", "%{http_code}", url,
        ],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return int(result.stdout)


def _split(path: Path, size: str, into: Path) -> list[Path]:
    require_tools("split")
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["split", "-b", size, str(path), f"{into}/piece."], check=True, timeout=30)
    return sorted(into.iterdir())


def _assert_cut(codes: list[int]) -> int:
    """The first piece passes (nothing recognisable alone), a later one is blocked and so is every
    one after it; the last index of a block is never the first (the file never arrives whole)."""
    assert codes[0] == 200, codes
    assert 403 in codes, codes
    first = codes.index(403)
    assert all(code == 403 for code in codes[first:]), codes
    assert first < len(codes) - 1, f"only the last piece was blocked: {codes}"
    return first


def _block_events(proxy: ProxyProcess, host: str, since: float) -> list[Event]:
    return proxy.events(lambda e: e.host == host and e.verdict == "block" and e.time.timestamp() >= since - 1)


def test_split_pieces_too_short_alone_are_joined(
    proxy: ProxyProcess,
    unapproved: Upstream,
    unknown: Upstream,
    media_factory: MediaFactory,
    recordings: Recordings,
    tmp_path: Path,
) -> None:
    # Each split test sends from its own loopback address (curl --interface): streams are per
    # client, so no test joins another's pieces.
    # 96 kHz stereo: a 256 KB piece is 0.7 s, and 96 kHz is no common rate a headerless piece is
    # tried at: only the pieces joined behind the WAV header are recognisable.
    wav = media_factory.encode(recordings.clinical_wav, ".wav", "-af", "adelay=1000:all=1", "-ac", "2", "-ar", "96000")
    pieces = _split(wav, "256k", tmp_path / "pieces")
    assert len(pieces) >= 10
    since = time.time()
    codes = [_curl_piece(proxy, f"{unapproved.https}/v1/files", piece, "127.0.0.21") for piece in pieces]
    first = _assert_cut(codes)
    events = _block_events(proxy, unapproved.host, since)
    matched = [json.loads(e.details)["matched_part"] for e in events if e.asset_id == recordings.asset_id]
    assert any(part.startswith("joined:") for part in matched), matched
    later = [e for e in events if json.loads(e.details).get("split_upload") == "later piece"]
    assert len(later) == len(codes) - first - 1
    # The same pieces to a host that is not an AI service: all pass.
    to_other = [_curl_piece(proxy, f"{unknown.https}/upload", piece, "127.0.0.21") for piece in pieces]
    assert to_other == [200] * len(pieces)


def test_split_middle_piece_is_read_as_raw_frames(
    proxy: ProxyProcess, unapproved: Upstream, media_factory: MediaFactory, recordings: Recordings, tmp_path: Path
) -> None:
    # 48 kHz stereo after 2 s of silence: the first 256 KB piece (1.4 s) holds the header and silence.
    wav = media_factory.encode(recordings.clinical_wav, ".wav", "-af", "adelay=2000:all=1", "-ac", "2", "-ar", "48000")
    pieces = _split(wav, "256k", tmp_path / "pieces")
    codes = [_curl_piece(proxy, f"{unapproved.https}/v1/files", piece, "127.0.0.23") for piece in pieces]
    first = _assert_cut(codes)
    assert first <= 3, codes


def test_two_halves_are_joined(
    proxy: ProxyProcess,
    unapproved: Upstream,
    unknown: Upstream,
    media_factory: MediaFactory,
    recordings: Recordings,
    tmp_path: Path,
) -> None:
    # A recording that starts with a pause, cut in two: the first half holds the header, the
    # pause and a little speech; the second half is headerless 96 kHz stereo (no common rate).
    wav = media_factory.encode(
        recordings.clinical_wav, ".wav", "-af", "adelay=1500:all=1", "-t", "4", "-ac", "2", "-ar", "96000"
    )
    data = wav.read_bytes()
    half = 44 + (len(data) - 44) // 2 // 4 * 4
    halves = [tmp_path / "first", tmp_path / "second"]
    halves[0].write_bytes(data[:half])
    halves[1].write_bytes(data[half:])
    since = time.time()
    assert [_curl_piece(proxy, f"{unknown.https}/upload", part, "127.0.0.24") for part in halves] == [200, 200]
    codes = [_curl_piece(proxy, f"{unapproved.https}/v1/files", part, "127.0.0.24") for part in halves]
    assert codes == [200, 403]
    # Events of the module's earlier uploads can be written after `since`: look for the joined one.
    parts = [
        json.loads(e.details)["matched_part"]
        for e in _block_events(proxy, unapproved.host, since)
        if e.asset_id == recordings.asset_id
    ]
    assert "joined:arrival:2" in parts, parts


def test_resumable_header_chunk_sent_last(
    proxy: ProxyProcess, http: httpx.Client, unapproved: Upstream, media_factory: MediaFactory, recordings: Recordings
) -> None:
    # 96 kHz stereo: the headerless chunks are not recognisable on their own at any common rate.
    excerpt = media_factory.encode(recordings.clinical_wav, ".wav", "-t", "8", "-ac", "2", "-ar", "96000")
    data = excerpt.read_bytes()
    header = 44 + 96_000  # the WAV header and 0.25 s
    middle = header + (len(data) - header) // 2 // 4 * 4
    parts = [data[:header], data[header:middle], data[middle:]]

    def send_openai(index: int) -> int:
        files = {"data": ("blob", parts[index], "application/octet-stream")}
        return http.post(f"{unapproved.https}/v1/uploads/upload_headerlast/parts", files=files).status_code

    codes = [send_openai(i) for i in (1, 2, 0)]
    assert codes == [200, 200, 403]  # decided when the pieces fit together

    def send_tus(index: int) -> int:
        offset = sum(len(p) for p in parts[:index])
        headers = {"tus-resumable": "1.0.0", "upload-offset": str(offset)}
        headers["content-type"] = "application/offset+octet-stream"
        return http.patch(f"{unapproved.https}/files/headerlast", content=parts[index], headers=headers).status_code

    codes = [send_tus(i) for i in (1, 2, 0)]
    assert codes == [200, 200, 403]


# --- archives cut in pieces, resumable archives whose header chunk comes last ----------------------


ARCHIVES: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "zip-stored": (lambda wav: wrappers.zip_of({"Doe_Jane.wav": wav}, stored=True), "zip#0(.wav)"),
    "zip-deflated": (lambda wav: wrappers.zip_of({"Doe_Jane.wav": wav}), "zip#0(.wav)"),
    "tar.gz": (lambda wav: wrappers.tar_of({"Doe_Jane.wav": wav}), "gzip > tar#0(.wav)"),
    "7z": (lambda wav: wrappers.libarchive_of({"Doe_Jane.wav": wav}, "7zip"), "7z#0(.wav)"),
}
"""name -> (the clinical WAV -> the archive, the path of the recording inside it)."""


def _joined_matches(
    proxy: ProxyProcess, host: str, since: float, asset_id: str, expected: Callable[[str], bool]
) -> list[str]:
    """The matched paths of this case's block events naming `asset_id`, once one is `expected`
    (or 20 s passed).

    Events are written after the 403 is sent: reading the store at once can miss the one the
    case is about. Only events from `since` on count (no slack): the previous case sent to the
    same host moments before, and its events would satisfy the same expectation.
    """

    def part(event: Event) -> str | None:
        if event.asset_id != asset_id or "matched_part" not in event.details or event.time.timestamp() < since:
            return None
        return str(json.loads(event.details)["matched_part"])

    def wanted(event: Event) -> bool:
        matched = part(event)
        return event.host == host and event.verdict == "block" and matched is not None and expected(matched)

    proxy.events(wanted, timeout=20.0)
    return [matched for e in _block_events(proxy, host, since) if (matched := part(e)) is not None]


@pytest.mark.parametrize(
    ("archive", "multipart", "header_last", "address"),
    [
        ("zip-stored", False, True, "127.0.0.41"),
        ("zip-deflated", True, False, "127.0.0.42"),
        ("zip-deflated", False, True, "127.0.0.43"),
        ("tar.gz", False, False, "127.0.0.44"),
        ("tar.gz", True, True, "127.0.0.45"),
        ("7z", False, True, "127.0.0.46"),
        ("7z", True, False, "127.0.0.47"),
    ],
)
def test_archive_cut_in_pieces_is_joined_and_opened(
    proxy: ProxyProcess,
    unapproved: Upstream,
    unknown: Upstream,
    recordings: Recordings,
    tmp_path: Path,
    archive: str,
    multipart: bool,
    header_last: bool,
    address: str,
) -> None:
    """`split -b 128k` of a ZIP, tar.gz or 7z holding the dictation, one request per piece (raw
    bodies or multipart file parts), in order or with the header piece last: no piece holds an
    archive that opens, the joined pieces do, and the recording inside is matched."""
    build, inside = ARCHIVES[archive]
    path = tmp_path / f"upload.{archive}"
    path.write_bytes(build(recordings.clinical_wav.read_bytes()))
    pieces = _split(path, "128k", tmp_path / "pieces")
    assert len(pieces) >= 4
    if header_last:
        pieces = pieces[1:] + pieces[:1]
    since = time.time()
    url = f"{unapproved.https}/v1/files"
    codes = [_curl_piece(proxy, url, piece, address, multipart=multipart) for piece in pieces]
    assert codes[-1] == 403, codes

    def opened(part: str) -> bool:
        return part.startswith("joined:") and part.endswith(inside)

    matched = _joined_matches(proxy, unapproved.host, since, recordings.asset_id, opened)
    assert any(map(opened, matched)), matched
    to_other = [_curl_piece(proxy, f"{unknown.https}/upload", piece, address, multipart=multipart) for piece in pieces]
    assert to_other == [200] * len(pieces)


def _zip_with_short_tail(media: bytes, piece_size: int, tail: int, *, deflated: bool) -> bytes:
    """A ZIP of `media` whose length leaves `tail` bytes (fewer than the joiner's 4 KB floor for
    a piece of its own) after the last whole `piece_size` piece: `split`'s last piece, which
    carries the end record the archive is read from. The ZIP comment pads it to that length."""
    method = zipfile.ZIP_DEFLATED if deflated else zipfile.ZIP_STORED

    def build(comment: bytes) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", method) as archive:
            archive.writestr("Doe_Jane_dictation.wav", media)
            archive.comment = comment
        return buffer.getvalue()

    bare = build(b"")
    pad = (tail - len(bare) % piece_size) % piece_size
    data = build(b" " * pad)
    assert len(data) % piece_size == tail
    return data


@pytest.mark.parametrize(
    ("piece_kb", "deflated", "address"),
    [(8, False, "127.0.0.51"), (16, True, "127.0.0.52")],
)
def test_archive_in_small_pieces_with_a_short_tail_is_joined(
    proxy: ProxyProcess,
    unapproved: Upstream,
    unknown: Upstream,
    media_factory: MediaFactory,
    recordings: Recordings,
    tmp_path: Path,
    piece_kb: int,
    deflated: bool,
    address: str,
) -> None:
    """`split -b 8k` (or 16k) of a ZIP holding 6 s of the dictation: its last piece, under the
    4 KB a piece must have to start a stream, holds the end record. The header piece fails
    closed (a ZIP cut short), every later piece is refused as its continuation, and the short
    tail completes the join, which opens and names the recording."""
    excerpt = media_factory.encode(recordings.clinical_wav, ".wav", "-t", "6", "-ac", "1", "-ar", "16000")
    path = tmp_path / "upload.zip"
    path.write_bytes(_zip_with_short_tail(excerpt.read_bytes(), piece_kb << 10, 900, deflated=deflated))
    pieces = _split(path, f"{piece_kb}k", tmp_path / "pieces")
    assert pieces[-1].stat().st_size == 900
    since = time.time()
    codes = [_curl_piece(proxy, f"{unapproved.https}/v1/files", piece, address) for piece in pieces]
    assert codes == [403] * len(pieces), codes

    def arrived_in_order(part: str) -> bool:
        return part.startswith("joined:arrival:") and part.endswith("zip#0(.wav)")

    matched = _joined_matches(proxy, unapproved.host, since, recordings.asset_id, arrived_in_order)
    assert any(map(arrived_in_order, matched)), matched
    continued = [e for e in _block_events(proxy, unapproved.host, since) if "could not be inspected" in e.reason]
    assert len(continued) >= len(pieces) - 2
    to_other = [_curl_piece(proxy, f"{unknown.https}/upload", piece, address) for piece in pieces]
    assert to_other == [200] * len(pieces)


def test_unenrolled_archive_in_pieces_header_last_is_read_whole_and_passes_its_header(
    proxy: ProxyProcess, unapproved: Upstream, media_factory: MediaFactory, recordings: Recordings, tmp_path: Path
) -> None:
    """Speech that is not enrolled, zipped, cut in 16 KB pieces and sent header piece last: the
    header piece alone is a ZIP cut short, but with it the join opens and is read whole, so
    "cut short" is no failure to inspect and the header piece passes."""
    excerpt = media_factory.encode(recordings.other_excerpt_wav, ".wav", "-t", "4")
    path = tmp_path / "other.zip"
    path.write_bytes(_zip_with_short_tail(excerpt.read_bytes(), 16 << 10, 900, deflated=True))
    pieces = _split(path, "16k", tmp_path / "pieces")
    since = time.time()
    codes = [_curl_piece(proxy, f"{unapproved.https}/v1/files", piece, "127.0.0.53") for piece in pieces[1:]]
    header = _curl_piece(proxy, f"{unapproved.https}/v1/files", pieces[0], "127.0.0.53")
    blocked = [e.reason for e in _block_events(proxy, unapproved.host, since)]
    assert codes == [200] * len(codes), (codes, blocked)
    assert header == 200, blocked


def test_an_archive_in_pieces_after_another_from_the_same_client_is_joined_on_its_own(
    proxy: ProxyProcess, unapproved: Upstream, media_factory: MediaFactory, recordings: Recordings, tmp_path: Path
) -> None:
    """A harmless archive in pieces, then the dictation's, both header piece last, from one
    client within the window: the first join is read whole and done with, so its pieces do not
    sit in front of the second's, whose join opens and names the recording."""
    pieces_of = {}
    encodings = {"other": ("-t", "4"), "clinical": ("-t", "6", "-ac", "1", "-ar", "16000")}
    for name, source in (("other", recordings.other_excerpt_wav), ("clinical", recordings.clinical_wav)):
        excerpt = media_factory.encode(source, ".wav", *encodings[name])
        path = tmp_path / f"{name}.zip"
        path.write_bytes(_zip_with_short_tail(excerpt.read_bytes(), 16 << 10, 900, deflated=True))
        pieces = _split(path, "16k", tmp_path / f"{name}-pieces")
        pieces_of[name] = pieces[1:] + pieces[:1]
    since = time.time()
    url = f"{unapproved.https}/v1/files"
    harmless = [_curl_piece(proxy, url, piece, "127.0.0.54") for piece in pieces_of["other"]]
    blocked = [e.reason for e in _block_events(proxy, unapproved.host, since)]
    assert harmless == [200] * len(harmless), (harmless, blocked)
    codes = [_curl_piece(proxy, url, piece, "127.0.0.54") for piece in pieces_of["clinical"]]
    assert codes[-1] == 403, codes

    def header_first(part: str) -> bool:
        return part.startswith("joined:header-first:") and part.endswith("zip#0(.wav)")

    matched = _joined_matches(proxy, unapproved.host, since, recordings.asset_id, header_first)
    assert any(map(header_first, matched)), matched


@pytest.mark.parametrize("protocol", ["tus", "google", "content-range"])
@pytest.mark.parametrize("archive", ["zip-deflated", "tar.gz", "7z"])
def test_resumable_archive_header_chunk_last_is_opened(
    proxy: ProxyProcess,
    http: httpx.Client,
    unapproved: Upstream,
    unknown: Upstream,
    recordings: Recordings,
    protocol: str,
    archive: str,
) -> None:
    """An archive sent as resumable chunks with offsets, the header chunk last: the session's
    chunks fit together when it arrives, and the archive they make is walked like a whole upload."""
    build, inside = ARCHIVES[archive]
    data = build(recordings.clinical_wav.read_bytes())
    third = len(data) // 3
    chunks = [(0, data[:third]), (third, data[third : 2 * third]), (2 * third, data[2 * third :])]

    def send(base: str, session: str) -> list[int]:
        codes = []
        for sent, (offset, chunk) in enumerate([chunks[1], chunks[2], chunks[0]]):
            if protocol == "tus":
                headers = {"tus-resumable": "1.0.0", "upload-offset": str(offset)}
                headers["content-type"] = "application/offset+octet-stream"
                response = http.patch(f"{base}/files/{session}", content=chunk, headers=headers)
            elif protocol == "google":
                command = "upload, finalize" if sent == 2 else "upload"
                headers = {"x-goog-upload-command": command, "x-goog-upload-offset": str(offset)}
                response = http.post(f"{base}/upload/v1beta/files?upload_id={session}", content=chunk, headers=headers)
            else:
                headers = {"content-range": f"bytes {offset}-{offset + len(chunk) - 1}/{len(data)}"}
                response = http.put(f"{base}/upload/{session}", content=chunk, headers=headers)
            codes.append(response.status_code)
        return codes

    since = time.time()
    session = f"{archive}-{protocol}".replace(".", "")
    assert send(unapproved.https, session)[-1] == 403
    # A gzip stream is read from its start: the header chunk alone (a third of the archive)
    # already holds a recognisable excerpt, matched before any join.
    expected = inside if archive == "tar.gz" else f"session:{protocol} > {inside}"
    matched = _joined_matches(proxy, unapproved.host, since, recordings.asset_id, lambda part: part.endswith(expected))
    if archive == "tar.gz":
        assert any(part.endswith(inside) for part in matched), matched
    else:
        assert f"session:{protocol} > {inside}" in matched, matched
    assert send(unknown.https, session) == [200, 200, 200]


def _bound_client(proxy: ProxyProcess, local_address: str) -> httpx.Client:
    """An httpx client whose connections to the proxy leave from `local_address` (its own split streams)."""
    context = ssl.create_default_context(cafile=str(proxy.ca_cert))
    transport = httpx.HTTPTransport(proxy=proxy.url, verify=context, local_address=local_address)
    return httpx.Client(transport=transport, timeout=60)


def test_base64_pieces_over_requests_header_last_are_joined(
    proxy: ProxyProcess, unapproved: Upstream, unknown: Upstream, media_factory: MediaFactory, recordings: Recordings
) -> None:
    """The base64 of a recording cut over several JSON requests, the header piece sent last: no
    request holds a recognisable excerpt (96 kHz stereo: a piece is 0.5 s, and no common rate);
    the pieces are joined as text in the order they fit, decoded and matched."""
    wav = media_factory.encode(recordings.clinical_wav, ".wav", "-t", "12", "-ac", "2", "-ar", "96000")
    text = base64.b64encode(wav.read_bytes()).decode()
    pieces = [text[i : i + (256 << 10)] for i in range(0, len(text), 256 << 10)]
    assert len(pieces) >= 8
    sent = pieces[1:] + pieces[:1]

    def post(client: httpx.Client, url: str, index: int, piece: str) -> int:
        body = {"model": "whisper-1", "upload": "rec", "index": index, "data": piece}
        return client.post(url, json=body).status_code

    since = time.time()
    with _bound_client(proxy, "127.0.0.51") as client:
        codes = [post(client, f"{unapproved.https}/v1/files", i, piece) for i, piece in enumerate(sent)]
        assert codes[-1] == 403, codes

        def decoded_header_first(part: str) -> bool:
            return part.startswith("joined:base64:header-first:")

        matched = _joined_matches(proxy, unapproved.host, since, recordings.asset_id, decoded_header_first)
        assert any(map(decoded_header_first, matched)), matched
        assert [post(client, f"{unknown.https}/upload", i, p) for i, p in enumerate(sent)] == [200] * len(sent)


# --- realtime audio with a lying declared rate ---------------------------------------------------


@dataclass
class Streamed:
    """How a realtime stream went: messages sent of `total`, and how it ended."""

    sent: int
    total: int
    ended: str  # "complete", "blocked" (PhiWall's error event), "closed", or "timeout: ..."/"error: ..."

    @property
    def cut(self) -> bool:
        return self.ended != "complete"


def _stream_declared_24k(proxy: ProxyProcess, url: str, pcm: bytes) -> Streamed:
    """Send `pcm` (really 16 kHz) as pcm16, which OpenAI Realtime defines as 24 kHz.

    A reply may wait for an inspection under way, so the client waits as long as an inspection
    job may take (60 s) before calling the stream stuck.
    """
    context = ssl.create_default_context(cafile=str(proxy.ca_cert))
    step = 3200  # 100 ms of 16 kHz s16le
    offsets = range(0, len(pcm) - len(pcm) % 2, step)
    sent = 0
    ended = "complete"
    try:
        with connect(url, proxy=proxy.url, ssl=context, open_timeout=30, close_timeout=2) as ws:
            ws.send(json.dumps({"type": "session.update", "session": {"input_audio_format": "pcm16"}}))
            ws.recv(timeout=30)
            for offset in offsets:
                chunk = base64.b64encode(pcm[offset : offset + step]).decode()
                ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
                sent += 1
                reply = json.loads(ws.recv(timeout=60))
                if reply.get("type") == "error":
                    assert reply["error"]["type"] == "phiwall_blocked"
                    ended = "blocked"
                    ws.recv(timeout=5)
    except ConnectionClosed:
        ended = "blocked" if ended == "blocked" else "closed"
    except TimeoutError as exc:
        ended = "blocked" if ended == "blocked" else f"timeout: {exc!r}"
    except OSError as exc:
        ended = f"error: {exc!r}"
    return Streamed(sent, len(offsets), ended)


def test_realtime_audio_at_a_lying_rate(
    proxy: ProxyProcess, unapproved: Upstream, unknown: Upstream, hidden: dict[str, bytes], recordings: Recordings
) -> None:
    pcm16k = hidden["pcm-16k"]
    streamed = _stream_declared_24k(proxy, f"{unapproved.wss}/v1/realtime", pcm16k)
    assert streamed.ended in ("blocked", "closed"), (streamed, proxy.log()[-3000:])
    assert streamed.sent < streamed.total
    events = proxy.events(
        lambda e: e.host == unapproved.host and json.loads(e.details).get("transport") == "websocket", timeout=30
    )
    # Either the alternative-rate window ("@16000Hz") or the speed hypotheses (a 16 kHz stream read
    # at 24 kHz is the dictation at 1.5x) recognise it; both must name the dictation.
    matched = [json.loads(e.details)["matched_part"] for e in events if e.asset_id == recordings.asset_id]
    assert matched, (streamed, [e.details for e in events], proxy.log()[-3000:])
    assert all(part.startswith("ws:audio-window") for part in matched)
    streamed = _stream_declared_24k(proxy, f"{unknown.wss}/v1/realtime", pcm16k)
    assert streamed == Streamed(streamed.total, streamed.total, "complete")


@pytest.fixture(scope="module")
def hidden_tracks(media_factory: MediaFactory, recordings: Recordings) -> dict[str, bytes]:
    """The dictation where a mono mix of the first audio track cannot hear it."""
    other, wav = recordings.other_mp3, recordings.clinical_wav

    def second_track(out: Path) -> None:
        ffmpeg(
            "-i", str(other), "-i", str(wav), "-map", "0:a", "-map", "1:a",
            "-c:a", "libopus", "-b:a", "48k", "-f", "matroska", str(out),
        )  # fmt: skip

    return {
        "second-audio-track": _made(media_factory, "two-tracks.mkv", second_track).read_bytes(),
        "phase-inverted-stereo": _encoded(
            media_factory, wav, "inverted.m4a", "-af", "pan=stereo|c0=c0|c1=-1*c0", "-c:a", "aac", "-f", "ipod"
        ),
    }


@pytest.mark.parametrize("case", ["second-audio-track", "phase-inverted-stereo"])
def test_dictation_a_mono_mix_would_not_hear_is_blocked(
    proxy: ProxyProcess,
    http: httpx.Client,
    unapproved: Upstream,
    unknown: Upstream,
    recordings: Recordings,
    hidden_tracks: dict[str, bytes],
    case: str,
) -> None:
    """Track 2 of a screen recording (microphone and system audio apart), or right = -left."""
    data = hidden_tracks[case]
    blocked = http.post(f"{unapproved.https}/v1/audio/transcriptions", files={"file": ("rec", data)})
    assert blocked.status_code == 403, blocked.text
    event = proxy.event(blocked.headers["x-phiwall-incident"])
    assert event.asset_id == recordings.asset_id
    assert http.post(f"{unknown.https}/upload", files={"file": ("rec", data)}).status_code == 200
