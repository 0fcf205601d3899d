"""Turn a `RequestShape` into named binary features.

The trainer and the agent share this one function, so the vocabulary shipped with the model
means the same thing at training and at prediction time. Bump `FEATURE_VERSION` whenever the
output changes for some shape: a model trained on another version is refused, not misread.

Three kinds of features, from the most specific to the most general:
- names as they are (`path:completion`, `key:temperature`, `hdr:x-stainless-lang`, bigrams of
  path words): precise, but only useful for words some training service used;
- character 4-grams of path words and JSON/form key words (`pc:scri`, `kc:prom`): let an
  unseen `transcriptions` or `promptText` share weight with seen `transcript` or `prompt`;
- a lexicon of AI-API vocabulary in two tiers and a few composites (a model name next to an
  input, a chat transcript, media sent to an AI-worded path): prior knowledge written from
  public AI API references, so a service none of whose words occurred in training still
  gets credit for speaking the language. The model learns what each is worth.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

from agent.shadow.shape import RequestShape

FEATURE_VERSION = 5

# Header names every client sends; they say nothing about what the API does.
_UBIQUITOUS_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "accept-encoding",
        "user-agent",
        "accept",
        "date",
        "server",
        "connection",
        "vary",
        "cache-control",
        "expires",
        "pragma",
        "transfer-encoding",
        "content-encoding",
    }
)
_SIZE_BUCKETS = ((0, "0"), (1024, "<1k"), (16 * 1024, "<16k"), (256 * 1024, "<256k"), (4 << 20, "<4m"))
NGRAM = 4


def size_bucket(size: int) -> str:
    if size <= 0:
        return "0"
    for limit, label in _SIZE_BUCKETS[1:]:
        if size < limit:
            return label
    return ">=4m"


# The AI-API lexicon: stems matched inside normalised words (so `longrunningrecognize` and
# `streamGenerateContent` count), plus short words matched exactly. "Strong" words are rare
# outside AI APIs; "weak" ones (chat, voice, model, detect, ...) are common in ordinary APIs
# too and only add up. Written from the vocabulary of public AI API references.
STRONG_PATH_STEMS = (
    "complet",
    "generat",
    "embed",
    "transcri",
    "infer",
    "predict",
    "prompt",
    "tokeniz",
    "diffusion",
    "whisper",
    "llama",
    "gpt",
    "claude",
    "gemini",
    "rerank",
    "moderat",
    "txt2img",
    "img2img",
    "upscal",
    "inpaint",
    "sdapi",
    "finetun",
    "lora",
    "synthes",
    "caption",
    "instruct",
    "imagine",
    "summar",
    "sentiment",
    "translat",
    "diariz",
    "speech",
    "text2",
    "2text",
    "2img",
    "2video",
    "2speech",
)
STRONG_PATH_WORDS = frozenset({"tts", "stt", "asr", "ocr", "llm", "gpt", "vlm", "genai"})
STRONG_PATH_PHRASES = ("text/to", "to/text", "to/image", "to/video", "to/speech", "to/audio", "image/to", "speech/to")
WEAK_PATH_STEMS = (
    "chat",
    "vision",
    "listen",
    "speak",
    "classif",
    "recogni",
    "annotat",
    "agent",
    "assistant",
    "voice",
    "audio",
    "model",
    "analy",
    "detect",
    "face",
    "avatar",
    "talk",
    "clone",
    "dub",
    "score",
)
WEAK_PATH_WORDS = frozenset({"ai", "ml", "nlp"})
STRONG_KEY_STEMS = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "max_token",
    "max_new_token",
    "max_output_token",
    "max_completion_token",
    "n_predict",
    "negative_prompt",
    "prompt",
    "guidance",
    "cfg_scale",
    "sampler",
    "logprob",
    "penalty",
    "inference_step",
    "num_image",
    "diariz",
    "punctuat",
    "utterance",
    "embedding",
    "rerank",
    "inference",
    "instruction",
    "stop_sequence",
    "voice_id",
    "speaker",
    "transcri",
    "aspect_ratio",
    "image_size",
)
WEAK_KEY_STEMS = (
    "model",
    "message",
    "stream",
    "stop",
    "seed",
    "step",
    "system",
    "tool",
    "voice",
    "language",
    "context",
    "token",
    "completion",
    "input",
    "dimension",
    "response_format",
    "output_format",
    "generation",
    "image",
    "audio",
    "query",
    "document",
    "role",
)
# Keys of AI API *answers* (OpenAI, Anthropic, Gemini, Cohere, Ollama, TGI, Deepgram,
# AssemblyAI, Google Vision, Rekognition, Comprehend, Replicate, ... references): what a
# model returns (choices, candidates, token usage, finish reasons, embeddings, transcripts,
# confidences, bounding boxes) rather than what a client sends. Bare `token` and `response`
# are left out: OAuth and discovery documents (`access_token`, `response_types_supported`)
# are full of them; the AI-specific token counts are strong stems.
STRONG_RESPONSE_KEY_STEMS = (
    "choice",
    "candidate",
    "finish_reason",
    "stop_reason",
    "done_reason",
    "prompt_token",
    "completion_token",
    "input_token",
    "output_token",
    "total_token",
    "token_count",
    "usage_metadata",
    "logprob",
    "embedding",
    "transcri",
    "utterance",
    "generated_text",
    "generated_token",
    "generated_image",
    "completion",
    "prompt",
    "inference",
    "predict",
    "rerank",
    "relevance_score",
    "safety",
    "moderat",
    "nsfw",
    "bounding",
    "confidence",
    "diariz",
    "speaker",
    "detected_language",
    "language_probabilit",
    "translat",
    "caption",
    "annotation",
    "eval_count",
    "eval_duration",
    "reasoning",
    "tool_call",
    "sentiment",
    "summar",
)
WEAK_RESPONSE_KEY_STEMS = (
    "model",
    "message",
    "content",
    "role",
    "output",
    "delta",
    "score",
    "label",
    "segment",
    "word",
    "text",
    "duration",
    "image",
    "audio",
    "voice",
    "language",
    "usage",
    "vector",
    "dimension",
    "probabilit",
    "categor",
    "entit",
)
# Composite evidence: a model named next to what it should work on; a chat transcript.
_MODEL_KEYS = frozenset({"model", "model_id", "model_name", "model_uid", "model_version"})
_INPUT_KEYS = frozenset(
    {
        "message",
        "prompt",
        "input",
        "inputs",
        "text",
        "texts",
        "content",
        "query",
        "instance",
        "document",
        "file",
        "audio",
        "image",
        "transcript",
    }
)
_TRANSCRIPT_OWNERS = frozenset({"message", "content", "history", "conversation"})
_TRANSCRIPT_KEYS = frozenset({"role", "content"})


def _stem_pattern(stems: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(stem) for stem in stems))


_STRONG_PATH = _stem_pattern(STRONG_PATH_STEMS)
_WEAK_PATH = _stem_pattern(WEAK_PATH_STEMS)
_STRONG_KEY = _stem_pattern(STRONG_KEY_STEMS)
_WEAK_KEY = _stem_pattern(WEAK_KEY_STEMS)
_STRONG_RESPONSE_KEY = _stem_pattern(STRONG_RESPONSE_KEY_STEMS)
_WEAK_RESPONSE_KEY = _stem_pattern(WEAK_RESPONSE_KEY_STEMS)


def _tier_hits(
    words: Iterable[str],
    strong: re.Pattern[str],
    weak: re.Pattern[str],
    strong_words: frozenset[str] = frozenset(),
    weak_words: frozenset[str] = frozenset(),
) -> tuple[int, int]:
    """(strong, weak) lexicon hits among `words`; a word counts once, in its strongest tier."""
    strong_hits = weak_hits = 0
    for word in words:
        if word in strong_words or strong.search(word) is not None:
            strong_hits += 1
        elif word in weak_words or weak.search(word) is not None:
            weak_hits += 1
    return strong_hits, weak_hits


def _at_least(features: set[str], name: str, count: int, cap: int) -> None:
    """Cumulative count features (`name>=1`, `name>=2`, ...): monotone evidence, one weight per step."""
    for step in range(1, min(count, cap) + 1):
        features.add(f"{name}>={step}")


def _name_tokens(name: str) -> list[str]:
    return [token for token in name.replace("_", "-").split("-") if len(token) > 1]


def _add_header(features: set[str], prefix: str, word_prefix: str, name: str) -> None:
    features.add(f"{prefix}:{name}")
    words = _name_tokens(name)
    if len(words) > 1:  # a one-word name's word feature would only repeat the name
        for token in words:
            features.add(f"{word_prefix}:{token}")


def _add_ngrams(features: set[str], prefix: str, words: Iterable[str]) -> None:
    for word in words:
        if len(word) > NGRAM and word[0] != "<":
            for start in range(len(word) - NGRAM + 1):
                features.add(f"{prefix}:{word[start : start + NGRAM]}")


def shape_features(shape: RequestShape) -> frozenset[str]:
    """The set of feature names present in `shape` (binary features, order irrelevant)."""
    # No feature for GET/HEAD, an empty body or a missing content type: a request without a
    # body is scored by its other features alone, so an unseen bare GET stays near 0.5
    # ("unknown") instead of inheriting whatever the training GETs had in common.
    features: set[str] = set()
    if shape.method not in ("GET", "HEAD"):
        features.add(f"method:{shape.method.lower()}")
    if shape.body_size > 0:
        features.add(f"size:{size_bucket(shape.body_size)}")
    tokens = shape.path_tokens
    for token in tokens:
        features.add(f"path:{token}")
    for first, second in itertools.pairwise(tokens):
        features.add(f"path2:{first}/{second}")
    if tokens:
        features.add(f"last:{tokens[-1]}")
    _add_ngrams(features, "pc", set(tokens))
    for kind in shape.file_kinds:
        features.add(f"file:{kind}")
    for name in shape.header_names:
        if name not in _UBIQUITOUS_HEADERS:
            _add_header(features, "hdr", "hword", name)
    for name in shape.query_names:
        features.add(f"query:{name}")
    key_words: set[str] = set()
    for key in shape.json_keys:
        features.add(f"key:{key}")
        key_words.update(key.split("_"))
    for key in shape.top_level_keys:
        features.add(f"top:{key}")
    for name in shape.form_fields:
        features.add(f"form:{name}")
        key_words.update(name.split("_"))
    for word in key_words:
        features.add(f"word:{word}")
    _add_ngrams(features, "kc", key_words)
    if shape.content_type:
        features.add(f"ct:{shape.content_type}")
        features.add(f"ctmajor:{shape.content_type.split('/')[0]}")
    for kind in shape.media_kinds:
        features.add(f"media:{kind}")
    if shape.has_media:
        features.add("media:any")
    if shape.accepts_sse:
        features.add("accept:sse")

    joined = "/".join(tokens)
    path_strong, path_weak = _tier_hits(tokens, _STRONG_PATH, _WEAK_PATH, STRONG_PATH_WORDS, WEAK_PATH_WORDS)
    path_strong += sum(phrase in joined for phrase in STRONG_PATH_PHRASES)
    names = shape.json_keys + shape.form_fields + shape.query_names
    key_strong, key_weak = _tier_hits(names, _STRONG_KEY, _WEAK_KEY)
    _at_least(features, "lexpath", path_strong, 3)
    _at_least(features, "lexpath-weak", path_weak, 3)
    _at_least(features, "lexkey", key_strong, 4)
    _at_least(features, "lexkey-weak", key_weak, 4)
    top = set(shape.top_level_keys).union(shape.form_fields)
    names_a_model = not _MODEL_KEYS.isdisjoint(top)
    if names_a_model and not _INPUT_KEYS.isdisjoint(top):
        features.add("combo:model+input")
    for pair in shape.key_pairs:
        owner, _, key = pair.partition(">")
        if owner in _TRANSCRIPT_OWNERS and key in _TRANSCRIPT_KEYS:
            features.add("combo:transcript")
            break
    if shape.has_media and path_strong:
        features.add("combo:media+lexpath")
    if shape.has_media and (key_strong or names_a_model):
        features.add("combo:media+lexkey")

    if shape.response_seen:
        if shape.response_is_sse:
            features.add("resp:sse")
        if shape.response_content_type:
            features.add(f"rct:{shape.response_content_type}")
        for name in shape.response_header_names:
            if name not in _UBIQUITOUS_HEADERS:
                _add_header(features, "rhdr", "rhword", name)
        _add_response_body(features, shape)
    return frozenset(features)


def _add_response_body(features: set[str], shape: RequestShape) -> None:
    """Key names of the response's start (JSON or the JSON data of server-sent events)."""
    for kind in shape.response_media_kinds:
        features.add(f"rmedia:{kind}")
    if shape.response_events_json:
        features.add("rsse:json")
    if not shape.response_keys:
        return
    words: set[str] = set()
    for key in shape.response_keys:
        features.add(f"rkey:{key}")
        words.update(key.split("_"))
    for key in shape.response_top_keys:
        features.add(f"rtop:{key}")
    for word in words:
        features.add(f"rword:{word}")
    _add_ngrams(features, "rkc", words)
    strong, weak = _tier_hits(shape.response_keys, _STRONG_RESPONSE_KEY, _WEAK_RESPONSE_KEY)
    _at_least(features, "lexrkey", strong, 4)
    _at_least(features, "lexrkey-weak", weak, 4)


# Features that say little on their own (every request has them, or they restate a name
# word by word or piece by piece): they weigh in the score but do not count as evidence.
STRUCTURAL_PREFIXES = ("method:", "size:", "ctmajor:", "hword:", "rhword:", "pc:", "kc:", "rkc:", "rword:")


# Every kind of feature `shape_features` emits in this FEATURE_VERSION (the text before the
# first ':' or '>='). A model whose vocabulary holds other kinds was built for other features.
FEATURE_KINDS = frozenset(
    {
        "accept", "combo", "ct", "ctmajor", "file", "form", "hdr", "hword", "kc", "key", "last", "media",
        "method", "path", "path2", "pc", "query", "rct", "resp", "rhdr", "rhword", "rkc", "rkey", "rmedia",
        "rsse", "rtop", "rword", "size", "top", "word", "lexkey", "lexkey-weak", "lexpath", "lexpath-weak",
        "lexrkey", "lexrkey-weak",
    }
)  # fmt: skip
_KIND = re.compile(r"^([a-z0-9-]+)(?::|>=)")


def feature_kind(name: str) -> str | None:
    """The kind of a feature name (`pc:scri` -> `pc`), or None when it is no feature of this version."""
    match = _KIND.match(name)
    if match is None or match.group(1) not in FEATURE_KINDS:
        return None
    return match.group(1)
