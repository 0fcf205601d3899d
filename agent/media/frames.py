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
- pHash keeps only the signs of low-frequency DCT coefficients. On smooth pictures (a
  gradient, a blurred wall) most of those are near zero and their signs flip with any
  re-encoding, so every frame "looks like" every other. An 8x8 luminance layout with its
  amplitudes (compared by correlation) still tells such pictures apart: still images are
  verified on it.
- Flat pictures (a black frame, a title card in one colour) carry no identity: skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import imagehash
import numpy as np
import numpy.typing as npt
import scipy.fftpack
from PIL import Image

from agent.media.decode import Picture

SCALES = (1.0, 0.9, 0.8, 0.7)
THUMB = 32  # pHash works on a 32x32 thumbnail
LAYOUT = 8  # the luminance layout kept per picture is 8x8
LAYOUT_CELLS = LAYOUT * LAYOUT
LAYOUT_GAIN = 40.0
CHROMA_GRID = 4
CHROMA_CELLS = CHROMA_GRID * CHROMA_GRID
FLAT_STD = 2.0  # luminance standard deviation below which a picture is "flat"
CONTRAST_STD = 40.0  # grey-level spread given to the colour contrast of a flat-luminance picture
BORDER_STD = 4.0
BORDER_DELTA = 6.0
BORDER_LEVEL = 48.0  # bars are dark (video black is 16)
BORDER_EDGE = 12.0  # the picture must differ this much from the bar where the bar ends
MAX_BORDER = 0.3  # never strip more than 30% of a side
LOW_SATURATION = 4.0  # RMS chroma (8-bit units) below which a picture counts as colourless
HUE_NOISE_DEG = 120.0  # hue-angle noise of a signature is about this / its RMS chroma (degrees)

U64Array = npt.NDArray[np.uint64]
I8Array = npt.NDArray[np.int8]
F32Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class PictureHashes:
    t: float
    hashes: tuple[int, ...]  # one 64-bit pHash per SCALES entry
    chroma: I8Array  # (2 * CHROMA_CELLS,): mean U then mean V per grid cell, centred on 0
    layout: I8Array  # (LAYOUT_CELLS,): 8x8 luminance (colour contrast if flat), mean 0, RMS LAYOUT_GAIN


def _border(means: npt.NDArray[np.float32], stds: npt.NDArray[np.float32], limit: int) -> int:
    """How many leading lines (by their mean and spread) form a dark, uniform bar ending in a
    clear edge.

    Only dark bars count (letterboxing is black), and the picture must change sharply where
    the bar ends: smooth content (a sky, a gradient) is never mistaken for a bar, which would
    make the crop, and so the hashes, depend on small encoding differences.
    """
    level = float(means[0])
    if stds[0] > BORDER_STD or level > BORDER_LEVEL:
        return 0
    inside = (stds[:limit] <= BORDER_STD) & (np.abs(means[:limit] - level) <= BORDER_DELTA)
    count = int(np.argmin(inside)) if not inside.all() else inside.size
    if count >= limit or count >= len(means):
        return 0
    edge_mean, edge_std = float(means[count : count + 2].mean()), float(stds[count : count + 2].max())
    if abs(edge_mean - level) < BORDER_EDGE and edge_std < 2 * BORDER_STD:
        return 0
    return count


def content_box(y: npt.NDArray[np.uint8]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the picture inside any letterbox or pillarbox bars."""
    f = y.astype(np.float32)
    h, w = f.shape
    row_mean, row_std = f.mean(axis=1), f.std(axis=1)
    top = _border(row_mean, row_std, int(h * MAX_BORDER))
    bottom = h - _border(row_mean[::-1], row_std[::-1], int(h * MAX_BORDER))
    if bottom - top < h // 3:
        return 0, h, 0, w
    inner = f[top:bottom]
    col_mean, col_std = inner.mean(axis=0), inner.std(axis=0)
    left = _border(col_mean, col_std, int(w * MAX_BORDER))
    right = w - _border(col_mean[::-1], col_std[::-1], int(w * MAX_BORDER))
    if right - left < w // 3:
        return 0, h, 0, w
    return top, bottom, left, right


def thumbnails(gray: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The 32x32 box-filtered thumbnails of the central crops in SCALES, shape (len(SCALES), 32, 32)."""
    image = Image.fromarray(np.ascontiguousarray(gray), mode="L")
    h, w = gray.shape
    out = np.empty((len(SCALES), THUMB, THUMB), dtype=np.uint8)
    for i, scale in enumerate(SCALES):
        ch, cw = max(8, round(h * scale)), max(8, round(w * scale))
        top, left = (h - ch) // 2, (w - cw) // 2
        crop = image.resize((THUMB, THUMB), Image.Resampling.BOX, box=(left, top, left + cw, top + ch))
        out[i] = np.asarray(crop)
    return out


def phash_thumbnails(thumbs: npt.NDArray[np.uint8]) -> U64Array:
    """imagehash's pHash of 32x32 grey thumbnails, for many at once, as unsigned 64-bit integers.

    The same computation as `imagehash.phash` (2-D DCT-II with scipy.fftpack, top-left 8x8,
    bits above the median), vectorised over thumbnails; the tests check it bit for bit
    against imagehash on the same thumbnails.
    """
    if thumbs.shape[0] == 0:
        return np.zeros(0, dtype=np.uint64)
    dct = scipy.fftpack.dct(scipy.fftpack.dct(thumbs.astype(np.float64), axis=1), axis=2)
    low = dct[:, :8, :8].reshape(thumbs.shape[0], 64)
    bits = low > np.median(low, axis=1, keepdims=True)
    packed = np.packbits(bits, axis=1)  # (n, 8) bytes, most significant bit first
    return packed.view(">u8").reshape(-1).astype(np.uint64)


def phash64(gray: npt.NDArray[np.uint8]) -> int:
    """imagehash's pHash of a grey picture (reference implementation, used by the tests)."""
    bits = imagehash.phash(Image.fromarray(np.ascontiguousarray(gray), mode="L")).hash.reshape(-1)
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def chroma_signature(u: npt.NDArray[np.uint8], v: npt.NDArray[np.uint8]) -> I8Array:
    h, w = u.shape
    rows = np.linspace(0, h, CHROMA_GRID + 1).astype(int)[:-1]
    cols = np.linspace(0, w, CHROMA_GRID + 1).astype(int)[:-1]
    counts = np.outer(np.diff(np.append(rows, h)), np.diff(np.append(cols, w)))
    out = []
    for plane in (u, v):
        sums = np.add.reduceat(np.add.reduceat(plane.astype(np.int32), rows, axis=0), cols, axis=1)
        out.append((sums / counts - 128.0).reshape(-1))
    return np.clip(np.round(np.concatenate(out)), -127, 127).astype(np.int8)


def hash_picture(picture: Picture) -> PictureHashes | None:
    """Hashes of one picture, or None when it is flat."""
    y, u, v = picture.yuv[0], picture.yuv[1], picture.yuv[2]
    top, bottom, left, right = content_box(y)
    y, u, v = y[top:bottom, left:right], u[top:bottom, left:right], v[top:bottom, left:right]
    if float(y.std()) < FLAT_STD:
        contrast = chroma_contrast(u, v)
        if contrast is None:
            return None
        y = contrast  # colours of equal brightness: hash where the colours change instead
    thumbs = thumbnails(y)
    hashes = tuple(int(h) for h in phash_thumbnails(thumbs))
    return PictureHashes(t=picture.t, hashes=hashes, chroma=chroma_signature(u, v), layout=layout_signature(thumbs[0]))


def chroma_contrast(u: npt.NDArray[np.uint8], v: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8] | None:
    """The picture's colour changes as a grey plane, or None when its colour is flat too.

    For pictures whose luminance is flat but whose colours are not (a ramp between two colours
    of equal brightness): without it such a video has no picture print at all. The chroma is
    projected on its principal axis (the direction the colours change along), the axis's larger
    component made positive so the same picture always gives the same polarity, and scaled to
    a fixed contrast. Turning or mirroring the picture does not change the axis."""
    uf = u.astype(np.float32)
    vf = v.astype(np.float32)
    du, dv = uf - float(uf.mean()), vf - float(vf.mean())
    uu, uv, vv = (np.array([float((a * b).mean())]) for a, b in ((du, du), (du, dv), (dv, dv)))
    axis = colour_axes(uu, uv, vv)[0]
    projected = float(axis[0]) * du + float(axis[1]) * dv
    spread = float(projected.std())
    if spread < FLAT_STD:
        return None
    return np.clip(np.round(128.0 + projected * (CONTRAST_STD / spread)), 0, 255).astype(np.uint8)


def colour_axes(
    uu: npt.NDArray[np.floating], uv: npt.NDArray[np.floating], vv: npt.NDArray[np.floating]
) -> npt.NDArray[np.float64]:
    """Per picture, from its U/V (co)variances, the principal axis of its colours (n, 2), the
    axis's larger component made positive: the direction `chroma_contrast` projects on, so the
    same picture gets the same polarity however it is turned or cut."""
    cov = np.stack([np.stack([uu, uv], axis=-1), np.stack([uv, vv], axis=-1)], axis=-2).astype(np.float64)
    axes: npt.NDArray[np.float64] = np.linalg.eigh(cov)[1][:, :, -1]
    larger = np.take_along_axis(axes, np.abs(axes).argmax(axis=1)[:, None], axis=1)
    return np.where(larger < 0, -axes, axes)


def layout_signature(thumb: npt.NDArray[np.uint8]) -> I8Array:
    """8x8 block means of a 32x32 thumbnail, mean removed, scaled to a fixed RMS (int8)."""
    blocks = thumb.astype(np.float64).reshape(LAYOUT, THUMB // LAYOUT, LAYOUT, THUMB // LAYOUT).mean(axis=(1, 3))
    blocks -= blocks.mean()
    rms = float(np.sqrt((blocks**2).mean())) or 1.0
    return np.clip(np.round(blocks.reshape(-1) / rms * LAYOUT_GAIN), -127, 127).astype(np.int8)


def layout_correlation(query: I8Array, stored: I8Array) -> npt.NDArray[np.float64]:
    """Correlation of one query layout with many stored layouts (rows), in -1..1."""
    q = query.astype(np.float64)
    m = stored.astype(np.float64)
    return (m @ q) / np.maximum(np.linalg.norm(m, axis=1) * np.linalg.norm(q), 1e-9)


def chroma_agreement(a: I8Array, b: I8Array) -> npt.NDArray[np.float64]:
    """Per pair of signatures (rows of `a` and `b`): the cosine of the hue rotation that best
    maps one picture's colours onto the other's (1.0 = same hue, 0.94 = turned by 20
    degrees), less the angle noise a weakly coloured signature has. Pairs where either
    picture is nearly colourless count as agreeing (no evidence either way).

    The rotation is what a hue shift does to U+iV; re-encoding, scaling, cropping a little or
    changing brightness leave it near zero even when grid cells no longer line up exactly.
    """
    fa, fb = a.astype(np.float64), b.astype(np.float64)
    za = fa[:, :CHROMA_CELLS] + 1j * fa[:, CHROMA_CELLS:]
    zb = fb[:, :CHROMA_CELLS] + 1j * fb[:, CHROMA_CELLS:]
    na = np.sqrt((np.abs(za) ** 2).sum(axis=1))
    nb = np.sqrt((np.abs(zb) ** 2).sum(axis=1))
    inner = (za * np.conj(zb)).sum(axis=1)
    saturation = np.minimum(na, nb) / np.sqrt(CHROMA_CELLS)
    # The angle of a weakly coloured signature is noisy: forgive what that noise explains.
    excess = np.maximum(0.0, np.abs(np.angle(inner)) - np.radians(HUE_NOISE_DEG) / np.maximum(saturation, 1e-9))
    return np.where(saturation < LOW_SATURATION, 1.0, np.cos(excess))


def hue_rotation(a: I8Array, b: I8Array) -> npt.NDArray[np.float64]:
    """Per pair of signatures (rows of `a` and `b`): the hue rotation in degrees (0..180) that
    best maps one onto the other, with no allowance for noise. `chroma_agreement` forgives
    what a weak signature's noise explains (up to ~8 degrees for the mixed colours of a 4x4
    grid over colour bars): right for accepting a copy, too blunt to choose between two
    gradings of one picture a few degrees apart, which is what this is for."""
    fa, fb = a.astype(np.float64), b.astype(np.float64)
    za = fa[:, :CHROMA_CELLS] + 1j * fa[:, CHROMA_CELLS:]
    zb = fb[:, :CHROMA_CELLS] + 1j * fb[:, CHROMA_CELLS:]
    degrees: npt.NDArray[np.float64] = np.degrees(np.abs(np.angle((za * np.conj(zb)).sum(axis=1))))
    return degrees
