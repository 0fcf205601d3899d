"""Binary serialised as JSON numbers or raw string bytes, and percent-encoded form files."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import pytest

from agent.media import looks_like_media
from agent.payload import ExtractLimits, extract_payload
from agent.payload.bytearrays import MIN_BYTE_VALUES, bytes_of_indexed, bytes_of_list, hints_at_byte_arrays
from agent.payload.jsonmedia import may_hold_media
from agent.payload.sniff import guarded
from tests.support.media import DICTATIONS, MediaFactory
from tests.unit.payload import wrappers

PROBE = guarded(looks_like_media)
LIMITS = ExtractLimits(max_bytes=64 << 20)


@pytest.fixture(scope="module")
def mp3(media_factory: MediaFactory) -> bytes:
    return media_factory.encode(media_factory.speech(DICTATIONS[1]), ".mp3", "-ac", "1", "-b:a", "32k").read_bytes()


def _media(body: bytes, content_type: str | None) -> list[tuple[str, bytes]]:
    extraction = extract_payload(body, content_type, None, LIMITS, PROBE)
    assert not extraction.errors, extraction.errors
    return [(part.where, bytes(part.data)) for part in extraction.parts]


def test_a_json_array_of_byte_values_is_the_file(mp3: bytes) -> None:
    assert _media(json.dumps({"audio": list(mp3)}).encode(), "application/json") == [("json:$.audio:bytes", mp3)]


def test_a_stringified_uint8array_is_the_file_even_untyped(mp3: bytes) -> None:
    body = json.dumps({"file": {str(i): b for i, b in enumerate(mp3)}}).encode()
    assert _media(body, None) == [("json:$.file:bytes", mp3)]


def test_byte_values_spelling_a_zip_are_opened(mp3: bytes) -> None:
    body = json.dumps({"upload": list(wrappers.zip_of({"rec.mp3": mp3}))}).encode()
    found = _media(body, "application/json")
    assert [data for _, data in found] == [mp3]
    assert found[0][0].startswith("json:$.upload:bytes")


def test_raw_bytes_in_a_json_string_and_a_percent_encoded_form_file(mp3: bytes) -> None:
    assert [d for _, d in _media(json.dumps({"a": mp3.decode("latin-1")}).encode(), "application/json")] == [mp3]
    form = urlencode({"model": "whisper-1", "file": mp3}).encode()
    assert [d for _, d in _media(form, "application/x-www-form-urlencoded")] == [mp3]


def test_utf8_text_in_a_form_is_still_read_as_text(mp3: bytes) -> None:
    """Non-ASCII form values go through the byte path; text there still has its base64 found."""
    form = urlencode({"prompt": "Transcrivez ceci, s'il vous plaît : " + base64.b64encode(mp3).decode()}).encode()
    assert [d for _, d in _media(form, "application/x-www-form-urlencoded")] == [mp3]


@pytest.mark.parametrize(
    "values",
    [
        list(range(200)) * 2,  # short: ids, token lists
        [0.5] * 5000,  # floats: embeddings
        [1000] * 5000,  # out of byte range
        [True, *([1] * 5000), "x"],  # mixed
        [],
    ],
)
def test_other_number_lists_are_not_bytes(values: list[object]) -> None:
    assert bytes_of_list(values) is None


def test_index_keyed_objects_need_every_index_in_order() -> None:
    complete = {str(i): i % 256 for i in range(MIN_BYTE_VALUES)}
    assert bytes_of_indexed(complete) == bytes(i % 256 for i in range(MIN_BYTE_VALUES))
    gap = dict(complete)
    del gap["7"]
    gap["x"] = 1
    assert bytes_of_indexed(gap) is None


def test_the_cheap_pre_check_sees_byte_arrays_and_not_chat() -> None:
    chat = json.dumps({"messages": [{"role": "user", "content": "BP 150/90, HR 88, SpO2 97, temp 37.2, RR 16"}]})
    assert not hints_at_byte_arrays(chat.encode())
    assert not may_hold_media(chat.encode())
    assert hints_at_byte_arrays(json.dumps({"a": list(range(100))}).encode())
    assert hints_at_byte_arrays(json.dumps({"a": {"0": 1, "1": 2}}).encode())


def _xxd_plain(data: bytes) -> str:
    """What `xxd -p` prints: hex, 60 characters a line."""
    digits = data.hex()
    return "\n".join(digits[i : i + 60] for i in range(0, len(digits), 60))


@pytest.mark.parametrize(
    "shape",
    ["xxd-p", "xxd-p-in-chat-json", "colon-pairs", "space-pairs", "c-array"],
)
def test_hex_with_line_breaks_or_separators_is_found(mp3: bytes, shape: str) -> None:
    c_array = ",\n".join(", ".join(f"0x{b:02x}" for b in mp3[i : i + 12]) for i in range(0, len(mp3), 12))
    bodies = {
        "xxd-p": (_xxd_plain(mp3).encode(), "text/plain"),
        "xxd-p-in-chat-json": (
            json.dumps({"messages": [{"role": "user", "content": "transcribe:\n" + _xxd_plain(mp3)}]}).encode(),
            "application/json",
        ),
        "colon-pairs": (mp3.hex(":").encode(), "text/plain"),
        "space-pairs": (mp3.hex(" ").encode(), None),
        "c-array": (("unsigned char rec[] = {\n" + c_array + "\n};").encode(), "text/plain"),
    }
    body, content_type = bodies[shape]
    assert [data for _, data in _media(body, content_type)] == [mp3]
