"""The response tap: chunks pass through unchanged, a bounded copy of the start reaches the callback once."""

from __future__ import annotations

import pytest

from agent.proxy.response_tap import ResponseTap, worth_tapping


def test_chunks_pass_through_and_the_prefix_is_handed_over_once_at_the_limit() -> None:
    seen: list[bytes] = []
    tap = ResponseTap(seen.append, limit=10)
    assert tap(b"abcdef") == b"abcdef"
    assert seen == []
    assert tap(b"ghijklmn") == b"ghijklmn"  # the limit is reached inside this chunk
    assert seen == [b"abcdefghij"]
    assert tap(b"more") == b"more"
    assert tap(b"") == b""
    assert seen == [b"abcdefghij"], "the callback runs once"


def test_a_short_body_is_handed_over_when_it_ends() -> None:
    seen: list[bytes] = []
    tap = ResponseTap(seen.append, limit=1000)
    tap(b'{"choices": []}')
    assert seen == []
    tap(b"")
    assert seen == [b'{"choices": []}']


def test_a_failing_callback_never_reaches_the_client() -> None:
    def broken(prefix: bytes) -> None:
        raise RuntimeError("classifier bug")

    tap = ResponseTap(broken, limit=4)
    assert tap(b"abcdef") == b"abcdef"
    assert tap(b"") == b""


@pytest.mark.parametrize(
    ("content_type", "tapped"),
    [
        ("application/json; charset=utf-8", True),
        ("application/fhir+json", True),
        ("application/x-ndjson", True),
        ("text/event-stream", True),
        ("text/plain", True),
        ("audio/mpeg", True),
        ("image/png", True),
        ("application/octet-stream", False),
        ("application/zip", False),
        ("application/xml", False),
        ("", False),
    ],
)
def test_only_answers_that_can_carry_a_skeleton_or_a_media_header_are_tapped(content_type: str, tapped: bool) -> None:
    assert worth_tapping(content_type) is tapped
