"""Request shapes: structure only, never values; bounded on enormous and adversarial input."""

from __future__ import annotations

import base64
import json

import pytest

from agent.payload.sniff import media_kind as sniff_media
from agent.shadow import shape as shape_module
from agent.shadow.features import shape_features
from agent.shadow.shape import MAX_KEYS, RequestShape, path_words
from phiwall_publish.shadow.dataset import synthetic_media

PHI = ("Jane", "Doe", "1970-01-01", "MRN0042", "metastatic", "jane.doe@example.org")


def _no_phi(shape: RequestShape) -> None:
    text = repr(shape) + repr(sorted(shape_features(shape)))
    for value in PHI:
        assert value.lower() not in text.lower(), value


def test_json_keys_are_kept_values_are_not() -> None:
    body = {
        "model": "gpt",
        "messages": [{"role": "user", "content": "Jane Doe, DOB 1970-01-01, MRN0042, metastatic"}],
        "maxOutputTokens": 5,
        "metadata": {"note": "jane.doe@example.org"},
    }
    shape = RequestShape.from_http(
        "post",
        "/v1/chat/completions?user=Jane&api_key=secret",
        {"Content-Type": "application/json; charset=utf-8", "X-Patient": "Jane Doe", "Authorization": "Bearer t"},
        json.dumps(body).encode(),
    )
    assert shape.method == "POST"
    assert shape.path_tokens == ("<ver>", "chat", "completion")
    assert shape.json_keys == ("model", "message", "role", "content", "max_output_token", "metadata", "note")
    assert shape.top_level_keys == ("model", "message", "max_output_token", "metadata")
    assert shape.header_names == ("authorization", "content-type", "x-patient")
    assert shape.query_names == ("api_key", "user")
    assert shape.content_type == "application/json"
    _no_phi(shape)


def test_multipart_field_names_and_media_kind_but_never_file_names() -> None:
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="Jane Doe 1970-01-01.wav"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + synthetic_media("audio/wav", 2000)
        + (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--{boundary}--\r\n'
        ).encode()
    )
    shape = RequestShape.from_http(
        "POST", "/v1/audio/transcriptions", {"content-type": f"multipart/form-data; boundary={boundary}"}, body
    )
    assert shape.form_fields == ("file", "model")
    assert shape.media_kinds == ("audio",)  # sniffed from the bytes, not the declared part type
    assert shape.has_media
    _no_phi(shape)


def test_base64_media_inside_json_is_recognised_by_its_magic() -> None:
    png = base64.b64encode(synthetic_media("image/png", 3000)).decode()
    mp3 = "data:audio/mpeg;base64," + base64.b64encode(synthetic_media("audio/mpeg", 3000)).decode()
    body = json.dumps({"image": png, "audio": mp3, "note": "x" * 500}).encode()
    shape = RequestShape.from_http("POST", "/x", {"content-type": "application/json"}, body)
    assert set(shape.media_kinds) == {"image", "audio"}


@pytest.mark.parametrize(
    ("mime", "kind"),
    [
        ("audio/wav", "audio"),
        ("audio/mpeg", "audio"),
        ("audio/ogg", "audio"),
        ("audio/flac", "audio"),
        ("audio/mp4", "audio"),
        ("video/mp4", "video"),
        ("video/webm", "video"),
        ("image/jpeg", "image"),
        ("image/png", "image"),
        ("image/webp", "image"),
        ("image/heic", "image"),
        ("application/dicom", "image"),
        ("application/pdf", None),
        ("application/zip", None),
        ("text/plain", None),
    ],
)
def test_media_sniffing_table(mime: str, kind: str | None) -> None:
    assert sniff_media(synthetic_media(mime, 400)) == kind


def test_paths_lose_ids_numbers_and_emails() -> None:
    words, kinds = path_words(
        "/v2/users/jane.doe@example.org/recordings/550e8400-e29b-41d4-a716-446655440000/cus_NffrFeUfNV2Hib/123/visit.wav"
    )
    assert words == ("<ver>", "user", "<email>", "recording", "<id>", "<id>", "<num>", "<file>")
    assert kinds == ("audio",)
    words, _ = path_words("/v1beta/models/gemini-2.0-flash:streamGenerateContent")
    assert words == ("<ver>", "model", "gemini", "<num>", "<num>", "flash", "stream", "generate", "content")


def test_enormous_body_is_read_only_as_a_prefix() -> None:
    huge = b'{"model": "m", "input": "' + b"A" * (10 << 20) + b'"}'
    shape = RequestShape.from_http("POST", "/v1/embeddings", {"content-type": "application/json"}, huge)
    assert shape.body_size == len(huge)
    assert shape.json_keys == ("model", "input")
    assert shape.truncated


def test_declared_size_wins_over_the_prefix() -> None:
    shape = RequestShape.from_http("PUT", "/b/k", {"Content-Length": "734003200"}, b"\x00" * 10)
    assert shape.body_size == 734003200
    assert "size:>=4m" in shape_features(shape)


def test_adversarial_json_is_bounded() -> None:
    deep = b"[" * 200_000
    assert RequestShape.from_http("POST", "/", {"content-type": "application/json"}, deep).truncated
    many = json.dumps({f"k{i}_{'x' * (i % 7)}": i for i in range(5000)}).encode()
    shape = RequestShape.from_http("POST", "/", {"content-type": "application/json"}, many)
    assert len(shape.json_keys) <= MAX_KEYS
    tokens = b"[" + b"1," * 60_000 + b'{"late": 1}]'
    assert "late" not in RequestShape.from_http("POST", "/", {"content-type": "application/json"}, tokens).json_keys


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": "unterminated',
        b'{"a\\": 1, "b": 2}',
        b"\xff\xfe\x00{\x00}",
        b'{"' + "é".encode() * 50 + b'": 1}',
        b'}}}]]]{"x":',
        b'{"a": "\\',
        b"",
    ],
)
def test_malformed_json_gives_a_shape_not_an_exception(body: bytes) -> None:
    shape = RequestShape.from_http("POST", "/v1/x", {"content-type": "application/json"}, body)
    assert shape.method == "POST"


def test_escaped_quotes_in_values_never_become_keys() -> None:
    body = json.dumps({"content": 'Jane said "MRN0042": yes, {"Doe": 1}'}).encode()
    shape = RequestShape.from_http("POST", "/v1/x", {"content-type": "application/json"}, body)
    assert shape.json_keys == ("content",)


def test_bad_multipart_and_headers_are_survived() -> None:
    no_boundary = RequestShape.from_http("POST", "/u", {"content-type": "multipart/form-data"}, b"--x\r\n\r\n")
    assert no_boundary.form_fields == ()
    truncated = RequestShape.from_http(
        "POST", "/u", {"content-type": "multipart/form-data; boundary=x"}, b"--x\r\nContent-Disposition: form-data; na"
    )
    assert truncated.truncated
    many_headers = [(f"x-h{i}", "v") for i in range(10_000)]
    assert len(RequestShape.from_http("GET", "/", many_headers).header_names) <= shape_module.MAX_HEADER_NAMES
    long_path = "/" + "/".join(["seg"] * 5000)
    assert len(RequestShape.from_http("GET", long_path, {}).path_tokens) <= shape_module.MAX_PATH_TOKENS


def test_response_headers_mark_server_sent_events() -> None:
    request = RequestShape.from_http("POST", "/v1/chat", {"accept": "text/event-stream"})
    assert request.accepts_sse
    assert not request.response_seen
    answered = RequestShape.from_http(
        "POST", "/v1/chat", {}, b"", {"Content-Type": "text/event-stream; charset=utf-8", "X-Ratelimit-Tokens": "9"}
    )
    assert answered.response_is_sse
    assert "rhdr:x-ratelimit-tokens" in shape_features(answered)


def test_key_pairs_name_a_key_with_the_key_that_holds_it() -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Jane Doe"}]}],
        "options": {"sampling": {"temperature": 0.1}},
        "tags": [["nested"], {"deep": 1}],
    }
    shape = RequestShape.from_http("POST", "/x", {"content-type": "application/json"}, json.dumps(body).encode())
    assert shape.key_pairs == (
        "message>role",
        "message>content",
        "content>type",
        "content>text",
        "option>sampling",
        "sampling>temperature",
        "tag>deep",
    )
    _no_phi(shape)
    truncated = RequestShape.from_http("POST", "/x", {}, b'{"messages": [{"role": "user", "cont')
    assert truncated.key_pairs == ("message>role",)


def test_features_generalise_beyond_the_words_seen() -> None:
    """Lexicon tiers count cumulatively, composites name AI structure, n-grams never come from placeholders."""
    chat = RequestShape.from_http(
        "POST",
        "/v1/chat/completions",
        {"content-type": "application/json", "authorization": "Bearer k", "x-stainless-lang": "python"},
        json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 0}).encode(),
    )
    features = shape_features(chat)
    assert {"lexpath>=1", "lexpath-weak>=1", "lexkey>=1", "lexkey-weak>=1", "lexkey-weak>=2"} <= features
    assert {"combo:model+input", "combo:transcript"} <= features
    assert {"pc:comp", "pc:tion", "kc:temp", "kc:ture"} <= features
    assert not any(name.startswith(("pc:<", "kc:<")) for name in features)
    assert "hword:authorization" not in features  # a one-word header name is its own feature
    assert {"hdr:authorization", "hword:stainless", "hword:lang"} <= features
    upload = RequestShape.from_http(
        "POST", "/v1/audio/transcriptions", {"content-type": "audio/wav"}, synthetic_media("audio/wav", 2000)
    )
    assert {"combo:media+lexpath", "media:audio"} <= shape_features(upload)
    listing = shape_features(RequestShape.from_http("GET", "/v1/models", {}))
    assert "lexpath-weak>=1" in listing
    assert not any(name.startswith("lexpath>=") for name in listing)


def test_response_body_gives_key_names_of_json_events_and_media_never_values() -> None:
    answer = {
        "id": "chatcmpl-1",
        "choices": [{"message": {"role": "assistant", "content": "Jane Doe has metastatic disease"}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 12},
    }
    shape = RequestShape.from_http(
        "GET", "/jobs/1", {}, b"", {"content-type": "application/json"}, response_prefix=json.dumps(answer).encode()
    )
    assert shape.response_top_keys == ("id", "choice", "usage")
    assert {"message", "role", "content", "prompt_token", "completion_token"} <= set(shape.response_keys)
    features = shape_features(shape)
    assert {"rtop:choice", "rkey:prompt_token", "lexrkey>=1", "lexrkey>=3"} <= features
    assert not shape_features(RequestShape.from_http("GET", "/jobs/1", {}, response_prefix=b'{"choices": 1}')) & {
        "rtop:choice"
    }, "a response body is only read together with the response headers"
    _no_phi(shape)

    events = b'event: delta\ndata: {"delta": {"text": "Jane"}, "index": 0}\n\ndata: [DONE]\n\n'
    stream = RequestShape.from_http(
        "POST", "/x", {}, b"", {"content-type": "text/event-stream"}, response_prefix=events
    )
    assert stream.response_events_json
    assert {"delta", "text", "index"} <= set(stream.response_keys)
    assert "rsse:json" in shape_features(stream)
    _no_phi(stream)
    plain_events = RequestShape.from_http(
        "POST", "/x", {}, b"", {"content-type": "text/event-stream"}, response_prefix=b"data: hello\n\n"
    )
    assert not plain_events.response_events_json
    assert not plain_events.response_keys

    audio = RequestShape.from_http(
        "POST", "/x", {}, b"", {"content-type": "audio/mpeg"}, response_prefix=b"ID3\x04\x00\x00\x00\x00\x00\x23TSSE"
    )
    assert audio.response_media_kinds == ("audio",)
    assert "rmedia:audio" in shape_features(audio)


def test_response_body_is_read_only_as_a_bounded_prefix() -> None:
    keys = {f"key{i}": 1 for i in range(5000)}
    late = json.dumps({**keys, "choices": 1}).encode()
    shape = RequestShape.from_http("GET", "/", {}, b"", {"content-type": "application/json"}, response_prefix=late)
    assert "choice" not in shape.response_keys  # beyond MAX_RESPONSE_PREFIX
    assert len(shape.response_keys) <= shape_module.MAX_KEYS
    many_events = b"".join(b'data: {"key%s": 1}\n\n' % bytes([letter]) for letter in b"abcdefghijklmnop")
    events = RequestShape.from_http(
        "GET", "/", {}, b"", {"content-type": "text/event-stream"}, response_prefix=many_events
    )
    assert len(events.response_keys) == shape_module.MAX_SSE_EVENTS
    broken = RequestShape.from_http(
        "GET", "/", {}, b"", {"content-type": "application/json"}, response_prefix=b'{"a": [{"b": "unterminated'
    )
    assert broken.response_keys == ("a", "b")
