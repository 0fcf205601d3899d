"""Speaker embeddings for benchmarks/scrub_voice.py, run inside benchmarks/.venv-privacy (Python 3.11).

Reads WAV paths (one a line) from argv[1], writes their resemblyzer d-vectors (256 floats, unit
length; the encoder's weights ship in the resemblyzer wheel) to the .npy path argv[2]. Only file
paths cross the process boundary.
"""

import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
from resemblyzer import VoiceEncoder, preprocess_wav  # noqa: E402

with open(sys.argv[1]) as listing:
    paths = [line for line in listing.read().splitlines() if line]
encoder = VoiceEncoder("cpu", verbose=False)
np.save(sys.argv[2], np.stack([encoder.embed_utterance(preprocess_wav(path)) for path in paths]))
