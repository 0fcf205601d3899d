"""Turn a `RequestShape` into named binary features.

The trainer and the agent share this one function, so the vocabulary shipped with the model
means the same thing at training and at prediction time. Bump `FEATURE_VERSION` whenever the
output changes for some shape: a model trained on another version is refused, not misread.
"""

from __future__ import annotations

import itertools

from agent.shadow.shape import RequestShape

FEATURE_VERSION = 1

# Header names every client sends; they say nothing about what the API does.
_UBIQUITOUS_HEADERS = frozenset({"host", "content-length", "accept-encoding", "user-agent", "accept", "date"})
_SIZE_BUCKETS = ((0, "0"), (1024, "<1k"), (16 * 1024, "<16k"), (256 * 1024, "<256k"), (4 << 20, "<4m"))


def size_bucket(size: int) -> str:
    if size <= 0:
        return "0"
    for limit, label in _SIZE_BUCKETS[1:]:
        if size < limit:
            return label
    return ">=4m"


def _name_tokens(name: str) -> list[str]:
    return [token for token in name.replace("_", "-").split("-") if len(token) > 1]


def shape_features(shape: RequestShape) -> frozenset[str]:
    """The set of feature names present in `shape` (binary features, order irrelevant)."""
    features: set[str] = {f"method:{shape.method.lower()}", f"size:{size_bucket(shape.body_size)}"}
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
    else:
        features.add("ct:none")
    for kind in shape.media_kinds:
        features.add(f"media:{kind}")
    if shape.has_media:
        features.add("media:any")
    if shape.accepts_sse:
        features.add("accept:sse")
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


# Features that are present in (almost) every request and so are no evidence of anything.
STRUCTURAL_PREFIXES = ("method:", "size:", "ct:none")
