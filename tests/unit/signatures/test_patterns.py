"""Host patterns, URL path patterns and JSON paths: the grammar, its errors, and lookups."""

from __future__ import annotations

import pytest

from agent.policy.hosts import HostIndex, HostPatternError, host_matches, normalize_host, validate_host_pattern
from agent.policy.paths import JsonPath, PatternError, compile_path_pattern


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("api.openai.com", "api.openai.com", True),
        ("api.openai.com", "API.OpenAI.com.", True),
        ("api.openai.com", "api.openai.com:443", True),
        ("api.openai.com", "xapi.openai.com", False),
        ("*.openai.com", "a.openai.com", True),
        ("*.openai.com", "a.b.openai.com", True),  # one OR MORE labels
        ("*.openai.com", "openai.com", False),  # never the apex
        ("*.openai.com", "evilopenai.com", False),
        ("*.openai.com", "openai.com.evil.example", False),
        ("*-aiplatform.googleapis.com", "us-central1-aiplatform.googleapis.com", True),
        ("*-aiplatform.googleapis.com", "a.us-central1-aiplatform.googleapis.com", False),
        ("*-aiplatform.googleapis.com", "aiplatform.googleapis.com", False),
        ("bedrock-runtime.*.amazonaws.com", "bedrock-runtime.eu-west-1.amazonaws.com", True),
        ("bedrock-runtime.*.amazonaws.com", "bedrock-runtime.a.b.amazonaws.com", False),
        ("127.0.0.1", "127.0.0.1:8080", True),
        ("::1", "[::1]:443", True),
    ],
)
def test_host_matching(pattern: str, host: str, expected: bool) -> None:
    assert host_matches(pattern, host) is expected


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("", "empty"),
        ("https://api.openai.com/v1", "not a URL"),
        ("api.openai.com:443", "not a URL"),
        ("localhost", "at least two labels"),
        ("api..openai.com", "empty label"),
        ("*.com", "fixed domain of at least two labels"),
        ("api.*.*", "top-level label cannot be a wildcard"),
        ("**.openai.com", "'**' is not allowed"),
        ("-bad.openai.com", "bad label"),
        ("bad_label!.openai.com", "bad label"),
        ("a." * 130 + "com", "longer than"),
    ],
)
def test_invalid_host_patterns_are_rejected_with_the_reason(pattern: str, problem: str) -> None:
    with pytest.raises(HostPatternError, match="host pattern") as info:
        validate_host_pattern(pattern)
    assert problem in str(info.value)


def test_index_prefers_exact_then_most_specific() -> None:
    index = HostIndex.build(
        [
            ("*.chatgpt.com", "chatgpt"),
            ("sora.chatgpt.com", "sora"),
            ("*.b.example.com", "deep"),
            ("*.example.com", "shallow"),
        ]
    )
    assert index.lookup("sora.chatgpt.com") == "sora"
    assert index.lookup("ab.chatgpt.com") == "chatgpt"
    assert index.lookup("x.b.example.com") == "deep"
    assert index.lookup("x.c.example.com") == "shallow"
    assert index.lookup("example.com") is None
    assert index.lookup("unknown.test") is None
    assert len(index) == 4


def test_normalize_host() -> None:
    assert normalize_host(" Api.OpenAI.com.:443 ") == "api.openai.com"
    assert normalize_host("[2001:db8::1]:8443") == "2001:db8::1"
    assert normalize_host("2001:db8::1") == "2001:db8::1"


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/v1/audio/transcriptions", "/v1/audio/transcriptions", True),
        ("/v1/audio/transcriptions", "/v1/audio/transcriptions/x", False),
        ("/v1/uploads/{id}/parts", "/v1/uploads/upload_1/parts", True),
        ("/v1/uploads/{id}/parts", "/v1/uploads//parts", False),
        ("/v1/uploads/{id}/parts", "/v1/uploads/a/b/parts", False),
        ("/{v}/models/{model}:generateContent", "/v1beta/models/gemini-2.5-pro:generateContent", True),
        ("/{v}/models/{model}:generateContent", "/v1beta/models/gemini:streamGenerateContent", False),
        ("/api/**/upload", "/api/upload", True),
        ("/api/**/upload", "/api/a/b/c/upload", True),
        ("/api/**/upload", "/api/a/uploadx", False),
        ("/backend-api/**", "/backend-api", True),
        ("/backend-api/**", "/backend-api/files/x", True),
        ("/v1/audio/*", "/v1/audio/translations", True),
        ("/v1/audio/*", "/v1/audio/a/b", False),
        ("/ws/x.{v}.Service.Bidi*", "/ws/x.v1beta.Service.BidiGenerateContentConstrained", True),
    ],
)
def test_path_patterns(pattern: str, path: str, expected: bool) -> None:
    assert (compile_path_pattern(pattern).match(path) is not None) is expected


@pytest.mark.parametrize("pattern", ["v1/files", "/v1/files?x=1", "/v1/{id", "/v1/a**b", "/v1/ space"])
def test_invalid_path_patterns(pattern: str) -> None:
    with pytest.raises(PatternError, match="invalid path pattern"):
        compile_path_pattern(pattern)


def test_json_paths_find_media_in_nested_bodies() -> None:
    body = {
        "messages": [
            {"content": "plain text"},
            {"content": [{"input_audio": {"data": "A1"}}, {"image_url": {"url": "data:image/png;base64,B1"}}]},
        ],
        "input": {"audio": "C1", "prompt": "x"},
        "deep": {"a": [{"inline_data": {"data": "D1"}}, {"b": {"inline_data": {"data": "D2"}}}]},
        "single": {"source": {"data": "E1"}},
    }
    find = lambda p: list(JsonPath.compile(p).find(body))  # noqa: E731
    assert find("messages[*].content[*].input_audio.data") == ["A1"]
    assert find("messages[1].content[1].image_url.url") == ["data:image/png;base64,B1"]
    assert find("input.*") == ["C1", "x"]
    assert find("**.inline_data.data") == ["D1", "D2"]
    assert find("single[*].source.data") == []  # [*] needs a list
    assert find("messages.content.input_audio.data") == ["A1"]  # lists are walked where keys are expected
    assert find("missing.path") == []


@pytest.mark.parametrize("text", ["", ".a", "a.", "a..b", "a[x]", "a.b*", "a.**", "a[*"])
def test_invalid_json_paths(text: str) -> None:
    with pytest.raises(PatternError, match="invalid JSON path"):
        JsonPath.compile(text)


def test_json_path_depth_is_bounded() -> None:
    node: dict[str, object] = {"data": "deep"}
    for _ in range(200):
        node = {"x": node}
    assert list(JsonPath.compile("**.data").find(node)) == []  # beyond the depth bound: not walked, no recursion error
