"""A caption bar, lower third or title strip across a smooth video: find the band, compare the rest.

A bar drawn across the full width of a video (subtitles on a translucent strip, a lower third,
a channel banner) covers a quarter of the picture. On textured pictures the keypoint stage
still finds the enrolled video in what the bar leaves; on smooth ones (a gradient, a blurred
wall, skin in close-up) there are no keypoints, and the bar changes every pHash bit that
carries information: the upload is not recognised at all.

What the bar leaves is still the enrolled picture, row for row. The stored luminance layout
(8x8 block means of every enrolled picture, `frames.layout_signature`) and colour grid (4x4
mean U/V, `frames.chroma_signature`) are kept in the same grid as the upload's full frame, so
the rows the band does not touch can be compared directly: correlation of the visible layout
cells, distance of the visible colour cells, and many sampled pictures agreeing on one time
offset into one enrolled video. Nothing new is stored at enrolment.

The band is a straight horizontal edge crossing (nearly) every column at the same height in
most sampled pictures; the band is the part between that edge and the nearer top or bottom
of the frame. Only smooth queries are searched this way: on textured ones the layout of a
few rows is too generic (six videos drawn from one test pattern share it) and the keypoint
stage already sees past the bar.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Self

import numpy as np
import numpy.typing as npt

from agent.media.frames import CHROMA_GRID, FLAT_STD, LAYOUT, chroma_contrast, colour_axes

EDGE_STEP = 10.0  # step (8-bit) across the edge in Y, U or V, per column
EDGE_COLUMNS = 0.8  # share of columns that must step at that row
EDGE_FRAMES = 0.75  # share of the examined pictures that must show the edge at that row
MIN_FRAMES = 2
MIN_BAND = 0.05  # the band covers 5-50 % of the height
MAX_BAND = 0.5
MIN_LAYOUT_ROWS = 4  # of the 8 layout rows, at least this many must be clear of the band
MIN_CHROMA_ROWS = 2  # of the 4 colour rows
SMOOTH_GRADIENT = 3.0  # mean absolute neighbour difference (8-bit) of a smooth visible part
TRIES = 8  # sampled pictures examined for a band
EVEN_LEVELS = 4  # brightness within this of the median ...
EVEN_SHARE = 0.95  # ... over this share of the part a band leaves: compared by colour contrast
SMOOTH_LAYOUT = 0.4  # second-difference roughness of a stored layout below which it is smooth
# A band match: most pictures agree on one offset, closely in layout and in colour. Set on
# benchmarks/media_band.py (docs/detection.md, "Caption bars over smooth pictures"): the true
# video's candidate had colour RMS <= 4.2 and layout >= 0.98 on every query; videos whose
# clear rows agreed in layout but not the true one were >= 16 colour levels apart in the
# median, but two held-out ones came within 2.7-5.8 while one colour filled the view: colour
# is counted per picture (`BandCandidate.agree`), not only in the median.
MIN_SHARE = 0.8  # of the query's pictures agreeing in layout and colour
MIN_PICTURES = 4
MIN_LAYOUT = 0.96  # layout barely separates (colour does): kept well under the true minimum
MAX_CHROMA_RMS = 6.0
LOOKALIKE_CHROMA_RMS = 12.0  # clear rows agreeing in layout this far apart in colour: another video
MAX_PICTURES = 48  # query pictures compared (evenly spread): bounds the cost of a long upload

F32Array = npt.NDArray[np.float32]
I8Array = npt.NDArray[np.int8]


@dataclass(frozen=True)
class Band:
    """A full-width band: rows [top, bottom) of a picture `height` rows high."""

    top: int
    bottom: int
    height: int

    @property
    def layout_rows(self) -> npt.NDArray[np.int64]:
        """The rows of the 8x8 layout grid the band does not touch."""
        return _clear_rows(self, LAYOUT)

    @property
    def chroma_rows(self) -> npt.NDArray[np.int64]:
        """The rows of the 4x4 colour grid the band does not touch."""
        return _clear_rows(self, CHROMA_GRID)

    @property
    def usable(self) -> bool:
        return self.layout_rows.size >= MIN_LAYOUT_ROWS and self.chroma_rows.size >= MIN_CHROMA_ROWS


def _clear_rows(band: Band, grid: int) -> npt.NDArray[np.int64]:
    if band.top == 0:  # a band at the top: rows starting at or below its edge
        first = math.ceil(grid * band.bottom / band.height - 1e-9)
        return np.arange(first, grid, dtype=np.int64)
    last = math.floor(grid * band.top / band.height + 1e-9)  # a band at the bottom
    return np.arange(0, last, dtype=np.int64)


def edge_strength(planes: npt.NDArray[np.uint8]) -> tuple[F32Array, F32Array]:
    """Per row r (index r - 2 for r in 2..h-2) of a picture (Y, U, V planes or grey): the share
    of columns whose two rows below r differ from the two above by at least EDGE_STEP in some
    plane (either way: a bar is darker than part of a picture and lighter than the rest), and
    the summed size of the planes' mean steps (which places the edge exactly: the rows beside
    it step half). A dark blue bar over a dark purple picture steps in colour, not brightness."""
    f = (planes[None] if planes.ndim == 2 else planes).astype(np.float32)
    if f.shape[1] < 6:
        empty = np.zeros(0, dtype=np.float32)
        return empty, empty
    step = np.abs((f[:, 2:-1] + f[:, 3:]) * 0.5 - (f[:, :-3] + f[:, 1:-2]) * 0.5)  # (planes, rows, columns)
    steps = (step >= EDGE_STEP).any(axis=0)
    return steps.mean(axis=1).astype(np.float32), step.mean(axis=2).sum(axis=0).astype(np.float32)


def find_band(pictures: Sequence[npt.NDArray[np.uint8]]) -> Band | None:
    """The band whose edge most of `pictures` (small pictures of one video, all the same size:
    Y/U/V planes or grey) show at the same row, or None."""
    pictures = list(pictures[:TRIES])
    if len(pictures) < MIN_FRAMES or len({p.shape for p in pictures}) != 1:
        return None
    height = pictures[0].shape[-2]
    measured = [edge_strength(p) for p in pictures]
    strength = np.stack([m[0] for m in measured])
    if strength.shape[1] == 0:
        return None
    strong = strength >= EDGE_COLUMNS
    # One row of tolerance: re-encoding moves an edge between two rows.
    near = strong.copy()
    near[:, 1:] |= strong[:, :-1]
    near[:, :-1] |= strong[:, 1:]
    share = near.mean(axis=0)
    mean_step = np.stack([m[1] for m in measured]).mean(axis=0)
    # The edge is where the step peaks: its neighbours only step part of the way.
    padded = np.pad(mean_step, 1)
    peak = (mean_step >= padded[:-2]) & (mean_step >= padded[2:])
    found: list[tuple[float, float, Band]] = []
    for i in np.flatnonzero((share >= EDGE_FRAMES) & peak):
        r = int(i) + 2  # the edge lies between rows r - 1 and r
        band = Band(0, r, height) if r < height / 2 else Band(r, height, height)
        if MIN_BAND <= (band.bottom - band.top) / height <= MAX_BAND and band.usable:
            found.append((float(share[i]), float(mean_step[i]), band))
    return max(found, key=lambda f: f[:2])[2] if found else None


def smooth(gray: npt.NDArray[np.uint8], band: Band | None = None) -> bool:
    """Whether the part of `gray` outside the band (all of it without one) is smooth (no
    texture for keypoints)."""
    clear = clear_part(gray, band).astype(np.float32)
    if clear.shape[0] < 2 or clear.shape[1] < 2:
        return False
    gradient = float(np.abs(np.diff(clear, axis=1)).mean() + np.abs(np.diff(clear, axis=0)).mean())
    if gradient >= SMOOTH_GRADIENT or min(clear.shape) < LAYOUT:
        return False
    # Low contrast is not smoothness: dark speckles (a sparse cellular automaton) have small
    # neighbour differences too, but their block means are noise, not a ramp.
    means = grid_means(np.ascontiguousarray(clear.astype(np.uint8)))
    centred = means - means.mean()
    rms = float(np.sqrt((centred**2).mean()))
    if rms < 1.0:
        return False  # flat: nothing to recognise
    layout = np.clip(np.round(centred / rms * 40.0), -127, 127).astype(np.int8)
    return bool(smooth_layouts(layout[None])[0])


def clear_part(planes: npt.NDArray[np.uint8], band: Band | None) -> npt.NDArray[np.uint8]:
    """The rows of `planes` (Y/U/V or grey) the band leaves (all of them without one)."""
    if band is None:
        return planes
    return planes[..., band.bottom :, :] if band.top == 0 else planes[..., : band.top, :]


def by_colour(yuv: npt.NDArray[np.uint8], band: Band | None = None) -> bool:
    """Whether the part of the picture the band leaves has even brightness but changing colour
    (an isoluminant ramp): what its stored layouts hold is colour contrast
    (`frames.chroma_contrast`), so that is what this part is compared by."""
    return _even_part_contrast(yuv, band) is not None


def _even_part_contrast(yuv: npt.NDArray[np.uint8], band: Band | None) -> npt.NDArray[np.uint8] | None:
    """The colour contrast of the part the band leaves, when its brightness is even (else None)."""
    clear = clear_part(yuv, band)
    if min(clear.shape[1:]) < LAYOUT or not even_brightness(clear[0]):
        return None
    return chroma_contrast(np.ascontiguousarray(clear[1]), np.ascontiguousarray(clear[2]))


def even_brightness(gray: npt.NDArray[np.uint8]) -> bool:
    """Whether nearly all of `gray` is within a few levels of its median: flat brightness
    (`frames.FLAT_STD`), a small logo or badge over it aside (its cells are left out as spoilt
    when the layouts are compared, `between_samples`)."""
    if float(gray.std()) < FLAT_STD:
        return True
    off = np.abs(gray.astype(np.int16) - int(np.median(gray)))
    return float((off <= EVEN_LEVELS).mean()) >= EVEN_SHARE


def smooth_picture(yuv: npt.NDArray[np.uint8], band: Band | None = None) -> bool:
    """`smooth` of the brightness, or of the colour contrast where the brightness is even."""
    if smooth(yuv[0], band):
        return True
    plane = _even_part_contrast(yuv, band)
    return plane is not None and smooth(plane)


def contrast_grids(u_means: F32Array, v_means: F32Array, cells: npt.NDArray[np.int64]) -> F32Array:
    """Per picture (rows of 8x8 U and V block means), the block means of its colour contrast:
    U/V projected on their principal axis over `cells` (the cells the query shows), the axis's
    larger component positive, as `frames.chroma_contrast` makes the stored layouts. The
    projection is linear, so block means of the contrast are the contrast of block means."""
    du = u_means - u_means[:, cells].mean(axis=1, keepdims=True)
    dv = v_means - v_means[:, cells].mean(axis=1, keepdims=True)
    cu, cv = du[:, cells], dv[:, cells]
    axes = colour_axes((cu * cu).mean(axis=1), (cu * cv).mean(axis=1), (cv * cv).mean(axis=1))
    grids: F32Array = (axes[:, :1] * du + axes[:, 1:] * dv).astype(np.float32)
    return grids


def smooth_layouts(layouts: I8Array) -> npt.NDArray[np.bool_]:
    """Per stored 8x8 layout (rows of int8, `frames.layout_signature`): whether it is smooth,
    by the mean absolute second difference along rows and columns over its RMS (40). Measured
    on the benchmarks' enrolled videos: gradients 0.05-0.25 (5th-95th percentile), textured
    pictures (Mandelbrot, test patterns, cellular automata) 0.6-2.4."""
    grid = layouts.astype(np.float32).reshape(-1, LAYOUT, LAYOUT)
    down = np.abs(grid[:, 2:, :] - 2 * grid[:, 1:-1, :] + grid[:, :-2, :]).mean(axis=(1, 2))
    across = np.abs(grid[:, :, 2:] - 2 * grid[:, :, 1:-1] + grid[:, :, :-2]).mean(axis=(1, 2))
    smooth: npt.NDArray[np.bool_] = (down + across) / 2 / 40.0 < SMOOTH_LAYOUT
    return smooth


def grid_means(gray: npt.NDArray[np.uint8]) -> F32Array:
    """8x8 block means of the whole picture (the grid of the stored layout), flattened."""
    h, w = gray.shape
    rows = np.linspace(0, h, LAYOUT + 1).astype(int)
    cols = np.linspace(0, w, LAYOUT + 1).astype(int)
    sums = np.add.reduceat(np.add.reduceat(gray.astype(np.float64), rows[:-1], axis=0), cols[:-1], axis=1)
    counts = np.outer(np.diff(rows), np.diff(cols))
    means: F32Array = (sums / counts).reshape(-1).astype(np.float32)
    return means


@dataclass(frozen=True)
class SmoothPrint:
    """A smooth video query's pictures for the partial-view stages: per sampled picture its
    time, its 8x8 block means and its 4x4 colour grid, both over the whole frame."""

    times: F32Array
    means: F32Array  # (pictures, 64)
    chroma: I8Array  # (pictures, 32): as `frames.chroma_signature`
    # The same inside any letterbox or pillarbox (`frames.content_box`, what pHash hashes);
    # None: as the whole frame.
    content_means: F32Array | None = None
    content_chroma: I8Array | None = None

    @property
    def count(self) -> int:
        return int(self.times.size)

    def thinned(self, most: int = MAX_PICTURES) -> Self:
        """At most `most` of the pictures, evenly spread over the query."""
        if self.count <= most:
            return self
        keep = np.unique(np.linspace(0, self.count - 1, most).round().astype(np.int64))
        return replace(
            self,
            times=self.times[keep],
            means=self.means[keep],
            chroma=self.chroma[keep],
            content_means=None if self.content_means is None else self.content_means[keep],
            content_chroma=None if self.content_chroma is None else self.content_chroma[keep],
        )


@dataclass(frozen=True, kw_only=True)
class BandPrint(SmoothPrint):
    """The same, with the band (caption bar) that covers part of every picture."""

    band: Band

    def view(self) -> PartialView:
        """The rows clear of the band, as the stored grids hold them."""
        cells, colours = layout_cells(self.band), chroma_cells(self.band)
        return PartialView(
            name="band",
            layout_map=np.eye(LAYOUT * LAYOUT, dtype=np.float32)[cells],
            chroma_map=np.eye(2 * CHROMA_GRID * CHROMA_GRID, dtype=np.float32)[colours],
            times=self.times,
            layout=self.means[:, cells],
            chroma=self.chroma[:, colours].astype(np.float32),
        )


@dataclass(frozen=True)
class PartialView:
    """What a query shows of an enrolled picture, as linear maps from the stored grids: the
    query's values `layout` (n, m) and `chroma` (n, c) compare with `stored layout @
    layout_map.T` (m values from the 64 of the 8x8 layout) and `stored colours @
    chroma_map.T` (c values from the 32 of the 4x4 U/V grid)."""

    name: str
    layout_map: F32Array  # (m, 64)
    chroma_map: F32Array  # (c, 32)
    times: F32Array
    layout: F32Array  # (n, m)
    chroma: F32Array  # (n, c)
    smooth_only: bool = False  # only stored pictures with a smooth layout can show this

    @property
    def count(self) -> int:
        return int(self.times.size)


@dataclass(frozen=True)
class BandCandidate:
    """An enrolled video the part of a query outside its band agrees with (`band.py`)."""

    asset_id: str
    offset_s: float
    agree: int  # query pictures agreeing at the offset in layout and in colour
    query_frames: int
    layout: float  # median correlation of the agreeing pictures' clear layout cells
    chroma_rms: float  # median RMS difference (8-bit U/V) of their clear colour cells
    view: str = "band"  # which `PartialView` (the band, or a crop hypothesis)
    layout_agree: int = -1  # query pictures agreeing in layout (whatever the colour); -1: as `agree`


def accepts(candidate: BandCandidate) -> bool:
    """Whether a band candidate names its video (the rule above)."""
    need = max(MIN_PICTURES, math.ceil(MIN_SHARE * candidate.query_frames))
    return candidate.agree >= need and candidate.layout >= MIN_LAYOUT and candidate.chroma_rms <= MAX_CHROMA_RMS


def contradicts(candidate: BandCandidate) -> bool:
    """Whether the rows clear of the band show the candidate's pictures in other colours: the
    same smooth ramp drawn in other colours, which pHash and keypoints cannot tell apart."""
    need = max(MIN_PICTURES, math.ceil(MIN_SHARE * candidate.query_frames))
    agree = candidate.agree if candidate.layout_agree < 0 else candidate.layout_agree
    return agree >= need and candidate.layout >= MIN_LAYOUT and candidate.chroma_rms >= LOOKALIKE_CHROMA_RMS


def layout_cells(band: Band) -> npt.NDArray[np.int64]:
    """Indices of the layout cells (row-major 8x8) clear of the band."""
    rows = band.layout_rows
    return (rows[:, None] * LAYOUT + np.arange(LAYOUT)[None, :]).reshape(-1)


def chroma_cells(band: Band) -> npt.NDArray[np.int64]:
    """Indices of the colour signature entries (U cells, then V cells) clear of the band."""
    cells = (band.chroma_rows[:, None] * CHROMA_GRID + np.arange(CHROMA_GRID)[None, :]).reshape(-1)
    return np.concatenate([cells, cells + CHROMA_GRID * CHROMA_GRID])


TRIM = 0.125  # at most this share of clear cells is left out as spoilt (a logo covers 2-4 of 48) ...
SPOILT_RESIDUAL = 0.1  # ... each off by this much (unit-length layouts: a cell of 48 is ~0.14)
BLENDS = np.linspace(0.0, 1.0, 5, dtype=np.float32)  # weights tried between two stored pictures


def between_samples(
    query: F32Array, query_chroma: F32Array, stored: F32Array, stored_chroma: F32Array
) -> tuple[float, float]:
    """The best agreement of one query picture (unit layout cells, colour cells) with a short
    run of consecutive stored pictures (clear layout cells, colour cells) or any blend of two
    neighbours: (layout correlation, colour RMS difference in 8-bit units), each over all but
    the TRIM share of cells that disagree most.

    A query picture falls between the enrolled samples (every 0.25 s): a moving gradient turns
    a few degrees in that time, enough to cost two points of correlation and several units of
    colour. Blending the neighbours stands in for the picture in between."""
    layouts, colours = stored, stored_chroma
    if layouts.shape[0] > 1:
        w = BLENDS[:, None]
        layouts = np.concatenate([(1 - w) * layouts[k] + w * layouts[k + 1] for k in range(layouts.shape[0] - 1)])
        colours = np.concatenate([(1 - w) * colours[k] + w * colours[k + 1] for k in range(colours.shape[0] - 1)])
    units = unit_rows(layouts)
    best = int(np.argmax(units @ query))
    # A logo or a corner of the caption in the clear rows spoils a few cells: leave out the
    # cells that disagree most before measuring agreement (TRIM of them).
    residual = np.abs(query - float(units[best] @ query) * units[best])
    worst = np.argsort(residual)[residual.size - round(TRIM * residual.size) :]
    spoilt = worst[residual[worst] > SPOILT_RESIDUAL]  # only cells clearly off, never informative ones
    keep = np.setdiff1d(np.arange(residual.size), spoilt)
    corr = float(unit_rows(query[None, keep])[0] @ unit_rows(layouts[best : best + 1, keep])[0])
    squared = np.sort((colours[best] - query_chroma) ** 2)
    rms = float(np.sqrt(squared[: squared.size - round(TRIM * squared.size)].mean()))
    return corr, rms


def unit_rows(values: npt.NDArray[np.floating] | npt.NDArray[np.integer]) -> F32Array:
    """Each row with its mean removed, scaled to unit length (correlation by dot product)."""
    v = values.astype(np.float32)
    v -= v.mean(axis=1, keepdims=True, dtype=np.float32)
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), np.float32(1e-6))
    return v
