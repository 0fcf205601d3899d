"""Chromaprint items do not depend on how the audio is chunked (the decoder hands audio over in
batches whose edges fall wherever a decoded frame ends)."""

from __future__ import annotations

import numpy as np

from agent.media.chroma import ChromaprintStream


def test_chunked_feeding_equals_one_pass(long_babble: np.ndarray) -> None:
    whole = ChromaprintStream()
    whole.feed(long_babble)
    expected = whole.finish()
    chunked = ChromaprintStream()
    for start in range(0, long_babble.size, 1153):  # an MP3 frame's worth, resampled, roughly
        chunked.feed(long_babble[start : start + 1153])
    items = chunked.finish()
    assert expected.size > 700  # ~8 items per second of the 100 s signal
    assert np.array_equal(items, expected)
