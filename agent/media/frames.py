"""Picture prints: letterbox removal, crop-robust perceptual hashes (imagehash pHash) and a
coarse colour signature, for sampled video frames and still images.

Why each part:
- Letterbox/pillarbox bars (uniform rows and columns at the edges) are stripped first, so
  a re-framed upload hashes the same picture as the original.
- A full-frame pHash alone fails on crops (public benchmarks: recall under 10%), so every
  picture is hashed at several central crops (100%, 85%, 70% of each side). An upload
  cropped by 10-15% then agrees with one of the original's smaller crops.
- pHash reads luminance only. Lookalike videos made from the same synthetic pattern with
  another hue (or different footage with the same layout) have the same luminance: a 4x4
  grid of mean chroma, compared as complex numbers U+iV, catches a hue rotation, and a
  brightness or contrast change leaves it alone.
- Flat pictures (a black frame, a title card in one colour) carry no identity: skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import imagehash
import numpy as np
import numpy.typing as npt
from PIL import Image

from agent.media.decode import Picture

SCALES = (1.0, 0.9, 0.8, 0.7)
CHROMA_GRID = 4
CHROMA_CELLS = CHROMA_GRID * CHROMA_GRID
FLAT_STD = 5.0  # luminance standard deviation below which a picture is "flat"
BORDER_STD = 4.0
BORDER_DELTA = 6.0
BORDER_LEVEL = 48.0  # bars are dark (video black is 16)
BORDER_EDGE = 12.0  # the picture must differ this much from the bar where the bar ends
MAX_BORDER = 0.3  # never strip more than 30% of a side
LOW_SATURATION = 4.0  # RMS chroma (8-bit units) below which a picture counts as colourless

U64Array = npt.NDArray[np.uint64]
I8Array = npt.NDArray[np.int8]
F32Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class PictureHashes:
    t: float
    hashes: tuple[int, ...]  # one 64-bit pHash per SCALES entry
    chroma: I8Array  # (2 * CHROMA_CELLS,): mean U then mean V per grid cell, centred on 0


def _border(lines: npt.NDArray[np.float32], limit: int) -> int:
    """How many leading lines (rows of `lines`) form a dark, uniform bar ending in a clear edge.

    Only dark bars count (letterboxing is black), and the picture must change sharply where
    the bar ends: smooth content (a sky, a gradient) is never mistaken for a bar, which would
    make the crop, and so the hashes, depend on small encoding differences.
    """
    means = lines.mean(axis=1)
    stds = lines.std(axis=1)
    level = float(means[0])
    if stds[0] > BORDER_STD or level > BORDER_LEVEL:
        return 0
    count = 0
    for mean, std in zip(means[:limit], stds[:limit], strict=False):
        if std > BORDER_STD or abs(float(mean) - level) > BORDER_DELTA:
            break
        count += 1
    if count >= limit or count >= len(means):
        return 0
    edge = lines[count : count + 2]
    if abs(float(edge.mean()) - level) < BORDER_EDGE and float(edge.std()) < 2 * BORDER_STD:
        return 0
    return count


def content_box(y: npt.NDArray[np.uint8]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the picture inside any letterbox or pillarbox bars."""
    f = y.astype(np.float32)
    h, w = f.shape
    top = _border(f, int(h * MAX_BORDER))
    bottom = h - _border(f[::-1], int(h * MAX_BORDER))
    left = _border(f[top:bottom].T, int(w * MAX_BORDER))
    right = w - _border(f[top:bottom, ::-1].T, int(w * MAX_BORDER))
    if bottom - top < h // 3 or right - left < w // 3:
        return 0, h, 0, w
    return top, bottom, left, right


def _central(plane: npt.NDArray[np.uint8], scale: float) -> npt.NDArray[np.uint8]:
    h, w = plane.shape
    ch, cw = max(8, round(h * scale)), max(8, round(w * scale))
    top, left = (h - ch) // 2, (w - cw) // 2
    return plane[top : top + ch, left : left + cw]


def phash64(gray: npt.NDArray[np.uint8]) -> int:
    """imagehash's pHash of a grey picture as an unsigned 64-bit integer."""
    bits = imagehash.phash(Image.fromarray(np.ascontiguousarray(gray), mode="L")).hash.reshape(-1)
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def chroma_signature(u: npt.NDArray[np.uint8], v: npt.NDArray[np.uint8]) -> I8Array:
    h, w = u.shape
    rows = np.linspace(0, h, CHROMA_GRID + 1).astype(int)[:-1]
    cols = np.linspace(0, w, CHROMA_GRID + 1).astype(int)[:-1]
    out = []
    for plane in (u, v):
        sums = np.add.reduceat(np.add.reduceat(plane.astype(np.float64), rows, axis=0), cols, axis=1)
        counts = np.outer(np.diff(np.append(rows, h)), np.diff(np.append(cols, w)))
        out.append((sums / counts - 128.0).reshape(-1))
    return np.clip(np.round(np.concatenate(out)), -127, 127).astype(np.int8)


def hash_picture(picture: Picture) -> PictureHashes | None:
    """Hashes of one picture, or None when it is flat."""
    y, u, v = picture.yuv[0], picture.yuv[1], picture.yuv[2]
    top, bottom, left, right = content_box(y)
    y, u, v = y[top:bottom, left:right], u[top:bottom, left:right], v[top:bottom, left:right]
    if float(y.std()) < FLAT_STD:
        return None
    hashes = tuple(phash64(_central(y, scale)) for scale in SCALES)
    return PictureHashes(t=picture.t, hashes=hashes, chroma=chroma_signature(u, v))


def chroma_agreement(a: I8Array, b: I8Array) -> npt.NDArray[np.float64]:
    """Per pair of signatures (rows of `a` and `b`): 1.0 for the same colours, lower when the hue
    turned; pairs where either picture is nearly colourless count as agreeing (no evidence)."""
    fa, fb = a.astype(np.float64), b.astype(np.float64)
    za = fa[:, :CHROMA_CELLS] + 1j * fa[:, CHROMA_CELLS:]
    zb = fb[:, :CHROMA_CELLS] + 1j * fb[:, CHROMA_CELLS:]
    na = np.sqrt((np.abs(za) ** 2).sum(axis=1))
    nb = np.sqrt((np.abs(zb) ** 2).sum(axis=1))
    corr = np.real((za * np.conj(zb)).sum(axis=1)) / np.maximum(na * nb, 1e-9)
    colourless = (na / np.sqrt(CHROMA_CELLS) < LOW_SATURATION) | (nb / np.sqrt(CHROMA_CELLS) < LOW_SATURATION)
    return np.where(colourless, 1.0, corr)
