"""A smooth video cropped off-centre: compare it with the part of the stored grids it shows.

pHash is computed at four central crops, so an upload cropped towards a corner agrees with
none of them; on textured video the keypoint stage finds the enrolled picture in the crop,
but a smooth one (a gradient, a blurred wall, skin in close-up) has no keypoints and was not
recognised. A smooth picture is well described by its 8x8 block means: between the centres of
the stored cells it is close to linear, so the stored layout and colour grids can be
resampled at the points a crop's own grid cells sit on (bilinear, extrapolated half a cell at
the border). Each crop hypothesis (a scale and a corner, `CROPS`) is a `band.PartialView`
searched and decided like the band stage's view. Nothing new is stored at enrolment.

The same resampled grids, turned and flipped, confirm a pHash match of a smooth video by
colour (`colours_confirm`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from agent.media.band import PartialView, SmoothPrint
from agent.media.fingerprint import DIHEDRAL
from agent.media.frames import CHROMA_GRID, LAYOUT
from agent.media.index import IndexState, agreement_at
from agent.media.model import MediaMatch

# The crops looked for: the share of each side kept, and the corner the crop keeps (top or
# bottom, left or right). Central crops are pHash's (`frames.SCALES`); edge-centred ones sit
# between a corner and the centre and are left to those two.
SCALES = (0.75, 0.8)
CORNERS = ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0))

F32Array = npt.NDArray[np.float32]


def _axis_weights(points: npt.NDArray[np.float64], grid: int) -> npt.NDArray[np.float64]:
    """(len(points), grid): linear interpolation, at `points` (0..1 across the picture), of
    values known at the centres of `grid` equal cells; beyond the outer centres the line
    through the two outer cells goes on (a ramp stays a ramp up to the border)."""
    position = points * grid - 0.5  # in cell-centre units
    left = np.clip(np.floor(position), 0, grid - 2).astype(np.int64)
    t = position - left
    weights = np.zeros((points.size, grid))
    rows = np.arange(points.size)
    weights[rows, left] = 1.0 - t
    weights[rows, left + 1] = t
    return weights


def crop_map(scale: float, top: float, left: float, grid: int) -> F32Array:
    """(grid*grid, grid*grid): the stored grid's values resampled at the cell centres of a
    crop keeping `scale` of each side from (`top`, `left`) (shares of the picture)."""
    centres = (np.arange(grid) + 0.5) / grid
    ys = _axis_weights(top + scale * centres, grid)
    xs = _axis_weights(left + scale * centres, grid)
    return np.kron(ys, xs).astype(np.float32)  # row-major cells: (y, x) pairs


def colour_crop_map(scale: float, top: float, left: float) -> F32Array:
    """(32, 32): `crop_map` of the 4x4 U grid and of the 4x4 V grid (U first, never mixed)."""
    plane = crop_map(scale, top, left, CHROMA_GRID)
    zero = np.zeros_like(plane)
    return np.block([[plane, zero], [zero, plane]]).astype(np.float32)


def crop_views(query: SmoothPrint) -> list[PartialView]:
    """One view per crop hypothesis of `query` (already thinned)."""
    views: list[PartialView] = []
    colour = query.chroma.astype(np.float32)
    for scale in SCALES:
        for vertical, horizontal in CORNERS:
            top, left = vertical * (1.0 - scale), horizontal * (1.0 - scale)
            views.append(
                PartialView(
                    name=f"crop {round(100 * (1 - scale))}% {'bottom' if vertical else 'top'}-"
                    f"{'right' if horizontal else 'left'}",
                    layout_map=crop_map(scale, top, left, LAYOUT),
                    chroma_map=colour_crop_map(scale, top, left),
                    times=query.times,
                    layout=query.means,
                    chroma=colour,
                    smooth_only=True,
                )
            )
    return views


# A pHash match of a smooth video is confirmed by colour under one of these views (below).
CENTRAL_SCALES = (1.0, 0.9, 0.8, 0.7)  # pHash's own crops (`frames.SCALES`)
CONFIRM_PICTURES = 8
CONFIRM_SHARE = 0.5  # of the (at most CONFIRM_PICTURES) pictures compared ...
CONFIRM_MIN = 3  # ... and at least this many: one view in 192 fits 2 of 4 by chance


def _dihedral_grids(grid: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
    """The 8 turns and flips of (pictures, ..., n, n) grids (`fingerprint.DIHEDRAL`): a picture
    turned or mirrored has its own grid turned or mirrored (cells follow the picture's sides)."""
    return [np.ascontiguousarray(turn(grid)) for turn in DIHEDRAL]


def confirm_views(query: SmoothPrint) -> list[PartialView]:
    """Every way a picture match of a smooth query may show the enrolled picture, identity
    first: the whole frame or inside its letterbox, turned or flipped 8 ways, at pHash's
    central crops or the corner crops above."""
    thin = query.thinned(CONFIRM_PICTURES)
    sources = [(thin.means, thin.chroma)]
    if (
        thin.content_means is not None
        and thin.content_chroma is not None
        and not np.array_equal(thin.content_means, thin.means)
    ):
        sources.append((thin.content_means, thin.content_chroma))  # a letterboxed upload
    crops = [(s, (1 - s) / 2, (1 - s) / 2) for s in CENTRAL_SCALES]
    crops += [(s, v * (1 - s), h * (1 - s)) for s in SCALES for v, h in CORNERS]
    maps = [(crop_map(scale, top, left, LAYOUT), colour_crop_map(scale, top, left)) for scale, top, left in crops]
    views: list[PartialView] = []
    for means, chroma in sources:
        n = means.shape[0]
        layouts = _dihedral_grids(means.reshape(n, LAYOUT, LAYOUT).astype(np.float32))
        colours = _dihedral_grids(chroma.reshape(n, 2, CHROMA_GRID, CHROMA_GRID).astype(np.float32))
        for d, (layout, colour) in enumerate(zip(layouts, colours, strict=True)):
            for k, (layout_map, chroma_map) in enumerate(maps):
                views.append(
                    PartialView(
                        name=f"confirm {d}/{k}",
                        layout_map=layout_map,
                        chroma_map=chroma_map,
                        times=thin.times,
                        layout=layout.reshape(n, -1),
                        chroma=colour.reshape(n, -1),
                    )
                )
    return views


def colours_confirm(state: IndexState, views: list[PartialView], match: MediaMatch) -> bool:
    """Whether a pHash match (`frames`, `turned-frames`) of a smooth query also agrees in
    colour, picture by picture, under one of `views` (`confirm_views` of the query, built once
    per query) at the match's offset. pHash bits of a smooth picture are mostly noise and its
    colour check compares hue only: a mustard ramp passed for a pale yellow one
    (`benchmarks/media_band.py`). Other matches are left alone."""
    if match.kind == "audio" or match.method not in ("frames", "turned-frames"):
        return True
    for view in views:
        found = agreement_at(state, match.asset_id, match.offset_s, view)
        if found is not None and found.agree >= max(CONFIRM_MIN, CONFIRM_SHARE * found.query_frames):
            return True
    return False
