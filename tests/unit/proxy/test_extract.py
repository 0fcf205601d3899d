"""Payload extraction on real body shapes: multipart, JSON base64, forms, encodings, bad input."""

from __future__ import annotations

import base64
import gzip
import io
import json
import struct
import zlib

import brotli  # type: ignore[import-untyped]
import httpx
import pytest
import zstandard

from agent.payload import Extraction, ExtractLimits, PayloadError, extract_payload
from agent.payload.encoding import decode_content
from agent.payload.multipart import parse_multipart


def wav_bytes(seconds: float = 0.5, rate: int = 16000) -> bytes:
    frames = int(seconds * rate)
    pcm = b"".join(struct.pack("<h", (i * 37) % 20000 - 10000) for i in range(frames))
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", len(pcm))
    return header + pcm


def probe(head: bytes) -> bool:
    """A stand-in media sniffer by magic numbers (the real one is agent.media.looks_like_media)."""
    return head.startswith((b"RIFF", b"ID3", b"OggS", b"fLaC")) or head[4:8] == b"ftyp"


LIMITS = ExtractLimits(max_bytes=8 << 20, min_base64_chars=64)
WAV = wav_bytes()


def httpx_multipart(files: dict[str, tuple[str, bytes, str]], data: dict[str, str]) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/upload", files=files, data=data)
    return request.read(), request.headers["content-type"]


def test_multipart_from_httpx_keeps_binary_part_intact() -> None:
    body, ctype = httpx_multipart({"file": ("note.wav", WAV, "audio/wav")}, {"model": "whisper-1"})
    result = extract_payload(body, ctype, None, LIMITS, probe)
    assert [p.where for p in result.parts] == ["multipart:file"]
    assert result.parts[0].data == WAV
    assert result.parts[0].declared_type == "audio/wav"
    assert result.errors == []


def test_multipart_with_lf_line_ends_and_binary_crlf_inside() -> None:
    payload = WAV[:200] + b"\r\n--notboundary\r\n" + WAV[200:]
    body = (
        b'--XyZ\ncontent-disposition: form-data; name="f"; filename="a.wav"\ncontent-type: audio/wav\n\n'
        + payload
        + b"\n--XyZ--\n"
    )
    result = parse_multipart(body, "multipart/form-data; boundary=XyZ")
    assert result.errors == []
    assert result.parts[0].data == payload
    assert result.parts[0].filename == "a.wav"


def test_truncated_multipart_keeps_last_part_and_reports() -> None:
    body, ctype = httpx_multipart({"file": ("a.wav", WAV, "audio/wav")}, {})
    cut = body[: len(body) // 2]
    result = extract_payload(cut, ctype, None, LIMITS, probe)
    assert len(result.parts) == 1
    assert result.parts[0].data == WAV[: len(result.parts[0].data)]
    assert any("truncated" in e for e in result.errors)


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b"garbage without boundary", "multipart/form-data; boundary=abc"),
        (b"--abc\r\nno blank line ever", "multipart/form-data; boundary=abc"),
        (b"--abc\r\n", "multipart/form-data"),
    ],
)
def test_malformed_multipart_gives_errors_not_exceptions(body: bytes, ctype: str) -> None:
    result = extract_payload(body, ctype, None, LIMITS, probe)
    assert result.errors
    assert result.parts == []


def test_nested_multipart_mixed() -> None:
    inner = b"--in\r\nContent-Type: audio/wav\r\n\r\n" + WAV + b"\r\n--in--\r\n"
    body = (
        b'--out\r\nContent-Disposition: form-data; name="files"\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n'
        + inner
        + b"\r\n--out--\r\n"
    )
    result = extract_payload(body, "multipart/form-data; boundary=out", None, LIMITS, probe)
    assert [p.data for p in result.parts] == [WAV]
    assert result.parts[0].where == "multipart:files.0"


def test_openai_chat_input_audio_base64() -> None:
    doc = {
        "model": "gpt-4o-audio-preview",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Transcribe this"},
                    {"type": "input_audio", "input_audio": {"data": base64.b64encode(WAV).decode(), "format": "wav"}},
                ],
            }
        ],
    }
    result = extract_payload(json.dumps(doc).encode(), "application/json", None, LIMITS, probe)
    assert [p.where for p in result.parts] == ["json:$.messages[0].content[1].input_audio.data"]
    assert result.parts[0].data == WAV
    assert result.parts[0].declared_type == "wav"


def test_gemini_inline_pcm_and_anthropic_source_and_data_uri() -> None:
    pcm = WAV[44:]
    doc = {
        "contents": [
            {"parts": [{"inline_data": {"mime_type": "audio/pcm;rate=16000", "data": base64.b64encode(pcm).decode()}}]}
        ],
        "anthropic": {"source": {"type": "base64", "media_type": "audio/wav", "data": base64.b64encode(WAV).decode()}},
        "image_url": {"url": "data:audio/wav;base64," + base64.b64encode(WAV).decode()},
    }
    result = extract_payload(json.dumps(doc).encode(), "application/json", None, LIMITS, probe)
    by_where = {p.where: p for p in result.parts}
    gem = by_where["json:$.contents[0].parts[0].inline_data.data"]
    assert gem.pcm is not None
    assert gem.pcm.sample_rate == 16000
    assert gem.data == pcm
    assert by_where["json:$.anthropic.source.data"].data == WAV
    assert by_where["json:$.image_url.url"].data == WAV


def test_undeclared_base64_media_is_found_by_sniffing_and_text_is_ignored() -> None:
    doc = {"blob": base64.urlsafe_b64encode(WAV).decode().rstrip("="), "note": "x" * 5000, "sig": "A" * 300}
    result = extract_payload(json.dumps(doc).encode(), "application/json", None, LIMITS, probe)
    assert [p.where for p in result.parts] == ["json:$.blob"]
    assert result.parts[0].data == WAV


def test_invalid_base64_in_declared_media_field_is_an_error() -> None:
    doc = {"input_audio": {"format": "wav", "data": "UklGR" + "!!!not base64!!!" * 30}}
    result = extract_payload(json.dumps(doc).encode(), "application/json", None, LIMITS, probe)
    assert result.parts == []
    assert any("input_audio.data" in e for e in result.errors)


def test_deep_json_is_bounded() -> None:
    deep = "[" * 5000 + "]" * 5000
    result = extract_payload(deep.encode(), "application/json", None, LIMITS, probe)
    assert result.errors


def test_form_urlencoded_data_uri() -> None:
    body = httpx.Request("POST", "http://x", data={"audio": "data:audio/wav;base64," + base64.b64encode(WAV).decode()})
    result = extract_payload(body.read(), body.headers["content-type"], None, LIMITS, probe)
    assert [p.data for p in result.parts] == [WAV]


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd", "gzip, br"])
def test_content_encodings_round_trip(encoding: str) -> None:
    data = WAV
    for name in [e.strip() for e in encoding.split(",")]:
        data = {
            "gzip": gzip.compress,
            "deflate": zlib.compress,
            "br": brotli.compress,
            "zstd": zstandard.ZstdCompressor().compress,
        }[name](data)
    result = extract_payload(data, "audio/wav", encoding, LIMITS, probe)
    assert [p.data for p in result.parts] == [WAV]


def test_raw_deflate_accepted() -> None:
    compressor = zlib.compressobj(wbits=-15)
    raw = compressor.compress(WAV) + compressor.flush()
    assert decode_content(raw, "deflate", LIMITS) == WAV


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_decompression_bomb_refused_without_inflating(encoding: str) -> None:
    zeros = b"\0" * (64 << 20)
    bomb = {"gzip": gzip.compress, "br": brotli.compress, "zstd": zstandard.ZstdCompressor().compress}[encoding](zeros)
    with pytest.raises(PayloadError, match=r"bomb|too large"):
        decode_content(bomb, encoding, LIMITS)


def test_truncated_and_corrupt_gzip() -> None:
    packed = gzip.compress(WAV)
    with pytest.raises(PayloadError, match="truncated"):
        decode_content(packed[: len(packed) // 2], "gzip", LIMITS)
    with pytest.raises(PayloadError, match="corrupt"):
        decode_content(b"\x1f\x8b" + b"\xff" * 40, "gzip", LIMITS)


def test_unknown_encoding_is_an_error() -> None:
    result = extract_payload(b"abc", "audio/wav", "compress", LIMITS, probe)
    assert result.errors == ["unsupported content encoding 'compress'"]


def test_media_embedded_in_protobuf_envelope() -> None:
    envelope = b"\x0a\x05hello\x12" + struct.pack("<I", len(WAV)) + WAV
    result = extract_payload(envelope, "application/x-protobuf", None, LIMITS, probe)
    assert len(result.parts) == 1
    assert bytes(result.parts[0].data).startswith(WAV)


def test_raw_body_and_oversize_body() -> None:
    assert [p.where for p in extract_payload(WAV, None, None, LIMITS, probe).parts] == ["body"]
    big = extract_payload(b"\0" * (LIMITS.max_bytes + 1), "audio/wav", None, LIMITS, probe)
    assert big.parts == []
    assert "inspection limit" in big.errors[0]


def test_part_budget() -> None:
    files = {f"f{i}": (f"{i}.wav", WAV, "audio/wav") for i in range(5)}
    body, ctype = httpx_multipart(files, {})
    result = extract_payload(body, ctype, None, ExtractLimits(max_parts=3, min_base64_chars=64), probe)
    assert len(result.parts) == 3
    assert result.truncated


def test_plain_text_json_is_not_media() -> None:
    body = io.BytesIO(json.dumps({"messages": [{"role": "user", "content": "hello " * 1000}]}).encode())
    assert extract_payload(body.getvalue(), "application/json", None, LIMITS, probe).parts == []


def _escaped(text: str) -> str:
    return "".join(f"\\u{ord(ch):04x}" for ch in text)


B64_WAV = base64.b64encode(WAV).decode()
PCM_B64 = base64.b64encode(WAV[44:]).decode()
WALK_NEEDED = {
    "undeclared media": json.dumps({"blob": B64_WAV}),
    "url-safe media": json.dumps({"blob": base64.urlsafe_b64encode(WAV).decode()}),
    "declared headerless pcm": json.dumps({"inline_data": {"mime_type": "audio/pcm;rate=16000", "data": PCM_B64}}),
    "data uri": json.dumps({"url": "data:audio/wav;base64," + B64_WAV}),
    "key spelled with escapes": '{"inline_data": {"'
    + _escaped("mimeType")
    + '": "audio/pcm", "data": "'
    + PCM_B64
    + '"}}',
    "escaped slashes in base64": json.dumps({"blob": B64_WAV}).replace("/", "\\/"),
    "escaped head": '{"blob": "' + _escaped(B64_WAV[:8]) + B64_WAV[8:] + '"}',
    "declared, not base64": json.dumps({"input_audio": {"format": "wav", "data": "not base64 at all " * 20}}),
    "media deep inside": "[" * 80 + json.dumps({"blob": B64_WAV}) + "]" * 80,
    "base32 media": json.dumps({"messages": [{"content": "decode: " + base64.b32encode(WAV).decode()}]}),
    "lower-case base32 without padding": json.dumps({"blob": base64.b32encode(WAV).decode().lower().rstrip("=")}),
    "base64 in groups of four": json.dumps(
        {"messages": [{"content": " ".join(B64_WAV[i : i + 4] for i in range(0, len(B64_WAV), 4))}]}
    ),
}
NO_WALK_NEEDED = {
    "prompt": json.dumps({"messages": [{"role": "user", "content": "x" * 3000}]}),
    "prose with escapes further in": json.dumps({"text": "plain words " * 10 + "caf\u00e9\n" * 300}),
    "base64 that is not media": json.dumps({"embedding": base64.b64encode(bytes(range(256)) * 8).decode()}),
    "deep but empty": "[" * 80 + "]" * 80,
    "four-letter words": json.dumps({"text": "this that with from have been will your " * 250}),
    "base32 that is not media": json.dumps({"key": base64.b32encode(bytes(range(256)) * 4).decode()}),
}


@pytest.mark.parametrize("name", sorted(WALK_NEEDED))
def test_media_precheck_sends_media_shapes_to_the_walk(name: str) -> None:
    from agent.payload.jsonmedia import may_hold_media

    raw = WALK_NEEDED[name].encode()
    assert may_hold_media(raw)
    result = extract_payload(raw, "application/json", None, LIMITS, probe)
    assert result.parts or result.errors, "the walk finds what the precheck let through"
    assert may_hold_media(WALK_NEEDED[name].encode("utf-16")), "UTF-16 JSON is always walked"


@pytest.mark.parametrize("name", sorted(NO_WALK_NEEDED))
def test_media_precheck_skips_only_what_the_walk_would_not_find(name: str) -> None:
    from agent.payload.jsonmedia import may_hold_media, walk_json

    raw = NO_WALK_NEEDED[name].encode()
    assert not may_hold_media(raw)
    walked = Extraction()
    walk_json(json.loads(raw), walked, LIMITS, probe)
    assert walked.parts == []
    assert [e for e in walked.errors if "nested deeper" not in e] == []
    assert extract_payload(raw, "application/json", None, LIMITS, probe).errors == [], "fully inspected by the scan"


def test_malformed_json_is_still_an_error_without_media() -> None:
    result = extract_payload(b'{"messages": [{"role": "user", "content": "hi"', "application/json", None, LIMITS, probe)
    assert any("malformed JSON" in error for error in result.errors)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd", "gzip, br", "zstd, gzip"])
def test_decoded_prefix_stops_early(encoding: str) -> None:
    from agent.payload.encoding import decode_prefix

    body = json.dumps({"messages": [{"role": "user", "content": "x" * 200_000}]}).encode()
    packed = body
    for layer in (token.strip() for token in encoding.split(",")):
        packed = {
            "gzip": gzip.compress,
            "deflate": zlib.compress,
            "br": brotli.compress,
            "zstd": zstandard.ZstdCompressor().compress,
        }[layer](packed)
    assert decode_prefix(packed, encoding, LIMITS, 65537) == body[:65537]
    assert decode_prefix(packed, encoding, LIMITS, 10 << 20) == body
    assert decode_prefix(body, None, LIMITS, 100) == body[:100]


def test_decoded_prefix_of_bombs_and_garbage() -> None:
    from agent.payload.encoding import decode_prefix

    bomb = gzip.compress(b"\0" * (64 << 20))
    assert decode_prefix(bomb, "gzip", LIMITS, 4096) == b"\0" * 4096  # a prefix, never the 64 MB
    assert decode_prefix(b"\x1f\x8b" + b"\xff" * 40, "gzip", LIMITS, 4096) == b""
    assert decode_prefix(b"abc", "compress", LIMITS, 4096) == b""
    assert decode_prefix(b"abc", "identity", LIMITS, 2) == b"ab"


@pytest.mark.parametrize(
    "body",
    [
        *(text.encode() for text in WALK_NEEDED.values()),
        *(text.encode() for text in NO_WALK_NEEDED.values()),
        b"",
        b"   \n",
        b'{"messages": [{"role": "user", "content": "hi"',
        b"[" * 5000 + b"]" * 5000,
        json.dumps({"blob": B64_WAV}).encode("utf-16"),
    ],
)
def test_quick_answer_agrees_with_extraction(body: bytes) -> None:
    from agent.payload.walker import nothing_to_extract

    found = extract_payload(body, "application/json", None, LIMITS, probe)
    if nothing_to_extract(body, "application/json"):
        assert found.parts == []
        assert found.errors == []
    assert not nothing_to_extract(body, "audio/wav"), "only JSON gets a quick answer"


def test_multipart_parts_are_views_into_the_body_not_copies() -> None:
    big = WAV * 40
    body, ctype = httpx_multipart({"file": ("note.wav", big, "audio/wav")}, {"model": "whisper-1"})
    parsed = parse_multipart(body, ctype)
    data = parsed.parts[1].data if parsed.parts[0].name == "model" else parsed.parts[0].data
    assert isinstance(data, memoryview)
    assert data.obj is body, "a view into the request body: a large upload is not copied while parsed"
    assert data == big
    result = extract_payload(body, ctype, None, LIMITS, probe)
    assert [p.where for p in result.parts] == ["multipart:file"]
    assert isinstance(result.parts[0].data, memoryview)
    assert result.parts[0].data.obj is body


def test_quick_answer_without_parse_still_refuses_media() -> None:
    from agent.payload.walker import nothing_to_extract

    malformed = b'{"event": "page_view", "props": {"path": "/home"'
    assert nothing_to_extract(malformed, "application/json", parse=False), "not parsed: malformed goes unnoticed"
    assert not nothing_to_extract(malformed, "application/json"), "parsed: malformed is for extract_payload"
    assert not nothing_to_extract(WAV, "application/json", parse=False), "a recording labelled as JSON"
    assert not nothing_to_extract(json.dumps({"a": B64_WAV}).encode(), "application/json", parse=False)
