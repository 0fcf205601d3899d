"""Turn a `RequestShape` into named binary features.

The trainer and the agent share this one function, so the vocabulary shipped with the model
means the same thing at training and at prediction time. Bump `FEATURE_VERSION` whenever the
output changes for some shape: a model trained on another version is refused, not misread.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

from agent.shadow.shape import RequestShape

FEATURE_VERSION = 3

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


def size_bucket(size: int) -> str:
    if size <= 0:
        return "0"
    for limit, label in _SIZE_BUCKETS[1:]:
        if size < limit:
            return label
    return ">=4m"


# A small domain lexicon of AI-API vocabulary (stems, matched inside words so that
# `longrunningrecognize` or `streamGenerateContent` count). Written from the vocabulary of
# public AI API references, not from the training set: it lets the model credit an unseen
# service whose exact words never occurred in training. The model learns how much a hit
# is worth; a hit alone decides nothing.
AI_PATH_STEMS = (
    "complet",
    "chat",
    "generat",
    "embed",
    "transcri",
    "speech",
    "tts",
    "stt",
    "infer",
    "predict",
    "prompt",
    "tokeniz",
    "llm",
    "diffusion",
    "whisper",
    "llama",
    "gpt",
    "claude",
    "gemini",
    "mistral",
    "qwen",
    "rerank",
    "moderat",
    "imagine",
    "txt2img",
    "img2img",
    "upscal",
    "inpaint",
    "caption",
    "sdapi",
    "vision",
    "ocr",
    "asr",
    "synthes",
    "listen",
    "speak",
    "translat",
    "summar",
    "classif",
    "recogni",
    "annotat",
    "sentiment",
    "agent",
    "assistant",
    "instruct",
    "finetun",
    "fine-tun",
    "lora",
    "voice",
    "audio",
    "model",
    "ai",
    "ml",
    "nlp",
    "text2",
    "2text",
    "2img",
    "2video",
    "2speech",
)
AI_KEY_STEMS = (
    "model",
    "message",
    "prompt",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "max_token",
    "max_new_token",
    "max_output_token",
    "max_completion_token",
    "n_predict",
    "stream",
    "stop",
    "seed",
    "negative_prompt",
    "guidance",
    "cfg_scale",
    "step",
    "sampler",
    "system",
    "tool",
    "instruction",
    "voice",
    "language",
    "diariz",
    "speaker",
    "punctuat",
    "transcri",
    "logprob",
    "penalty",
    "embedding",
    "dimension",
    "rerank",
    "inference",
    "aspect_ratio",
    "image_size",
    "num_image",
    "output_format",
    "response_format",
    "generation",
    "safety",
    "context",
    "token",
    "completion",
    "utterance",
    "text_input",
    "inputs",
)
AI_PATH_PHRASES = ("text/to", "to/text", "to/image", "to/video", "to/speech", "to/audio", "image/to", "speech/to")
_SHORT_EXACT = frozenset({"ai", "ml", "tts", "stt", "asr", "ocr", "llm", "nlp", "gpt"})


def _stem_pattern(stems: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(stem) for stem in stems if len(stem) > 3))


_AI_PATH_PATTERN = _stem_pattern(AI_PATH_STEMS)
_AI_KEY_PATTERN = _stem_pattern(AI_KEY_STEMS)


def _stem_hits(words: Iterable[str], pattern: re.Pattern[str]) -> int:
    """How many words are short AI acronyms or contain a lexicon stem."""
    search = pattern.search
    return sum(1 for word in words if word in _SHORT_EXACT or search(word) is not None)


def _count_bucket(count: int) -> str:
    return str(count) if count < 3 else "3+"


def _name_tokens(name: str) -> list[str]:
    return [token for token in name.replace("_", "-").split("-") if len(token) > 1]


def shape_features(shape: RequestShape) -> frozenset[str]:
    """The set of feature names present in `shape` (binary features, order irrelevant)."""
    # No feature for GET/HEAD, an empty body or a missing content type: a request without a
    # body is scored by its other features alone, so an unseen bare GET stays near the
    # intercept ("unknown") instead of inheriting whatever the training GETs had in common.
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
    for kind in shape.file_kinds:
        features.add(f"file:{kind}")
    for name in shape.header_names:
        if name in _UBIQUITOUS_HEADERS:
            continue
        features.add(f"hdr:{name}")
        for token in _name_tokens(name):
            features.add(f"hword:{token}")
    for name in shape.query_names:
        features.add(f"query:{name}")
    for key in shape.json_keys:
        features.add(f"key:{key}")
        for word in key.split("_"):
            features.add(f"word:{word}")
    for key in shape.top_level_keys:
        features.add(f"top:{key}")
    for name in shape.form_fields:
        features.add(f"form:{name}")
        for word in name.split("_"):
            features.add(f"word:{word}")
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
    path_hits = _stem_hits(tokens, _AI_PATH_PATTERN) + sum(phrase in joined for phrase in AI_PATH_PHRASES)
    if path_hits:
        features.add(f"lexpath:{_count_bucket(path_hits)}")
    key_hits = _stem_hits(shape.json_keys + shape.form_fields + shape.query_names, _AI_KEY_PATTERN)
    if key_hits:
        features.add(f"lexkey:{_count_bucket(key_hits)}")
    if shape.response_seen:
        if shape.response_is_sse:
            features.add("resp:sse")
        if shape.response_content_type:
            features.add(f"rct:{shape.response_content_type}")
        for name in shape.response_header_names:
            if name in _UBIQUITOUS_HEADERS:
                continue
            features.add(f"rhdr:{name}")
            for token in _name_tokens(name):
                features.add(f"rhword:{token}")
    return frozenset(features)


# Features that say little on their own (every request has them, or they restate a header
# name word by word): they weigh in the score but do not count as evidence for a verdict.
STRUCTURAL_PREFIXES = ("method:", "size:", "ctmajor:", "hword:", "rhword:")
