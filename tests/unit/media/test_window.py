"""Crop hypotheses for smooth pictures: the stored grids resampled where a crop's cells sit."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from agent.media import band, window
from agent.media.band import SmoothPrint
from agent.media.decode import Picture
from agent.media.fingerprint import frame_print
from agent.media.frame_index import FrameSegment
from agent.media.frames import chroma_signature, hash_picture
from agent.media.index import IndexState
from agent.media.model import MediaMatch

H, W = 120, 160


def ramp(a: float = 0.6, b: float = 0.4) -> npt.NDArray[np.uint8]:
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    picture: npt.NDArray[np.uint8] = np.clip(np.round(40.0 + a * x + b * y), 0, 255).astype(np.uint8)
    return picture


@pytest.mark.parametrize(
    ("scale", "top", "left"), [(0.75, 0.25, 0.25), (0.8, 0.0, 0.0), (0.8, 0.0, 0.2), (0.75, 0.25, 0.0)]
)
def test_a_crop_of_a_ramp_is_predicted_from_the_whole_pictures_grid(scale: float, top: float, left: float) -> None:
    picture = ramp()
    whole = band.grid_means(picture)
    y0, x0 = round(top * H), round(left * W)
    crop = picture[y0 : y0 + round(scale * H), x0 : x0 + round(scale * W)]
    predicted = window.crop_map(scale, top, left, 8) @ whole
    assert np.allclose(predicted, band.grid_means(np.ascontiguousarray(crop)), atol=0.6)
    wrong_corner = window.crop_map(scale, 0.25 - top if top else 0.25, left, 8) @ whole
    assert not np.allclose(wrong_corner, band.grid_means(np.ascontiguousarray(crop)), atol=0.6)


def test_weights_interpolate_between_cell_centres_and_extend_the_line_past_them() -> None:
    weights = window._axis_weights(np.array([1 / 16, 3 / 32, 0.0]), 8)
    assert weights[0].tolist() == [1.0, 0.0, 0, 0, 0, 0, 0, 0]  # on the first centre
    assert weights[1, :2] == pytest.approx([0.75, 0.25])  # a quarter of the way to the next
    assert weights[2, :2] == pytest.approx([1.5, -0.5])  # half a cell before the first centre
    assert np.allclose(weights.sum(axis=1), 1.0)


def test_every_corner_at_every_scale_is_a_view() -> None:
    count = 5
    query = SmoothPrint(
        times=np.arange(count, dtype=np.float32),
        means=np.zeros((count, 64), dtype=np.float32),
        chroma=np.zeros((count, 32), dtype=np.int8),
    )
    views = window.crop_views(query)
    assert len(views) == len(window.SCALES) * len(window.CORNERS)
    assert len({v.name for v in views}) == len(views)
    for view in views:
        assert view.layout_map.shape == (64, 64)
        assert view.chroma_map.shape == (32, 32)
        assert np.allclose(view.chroma_map[:16, 16:], 0.0)  # U never mixes with V
        assert view.count == count


Pictures = list[tuple[float, npt.NDArray[np.uint8]]]
Edit = Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.uint8]]


def _ramp_video(colours: tuple[float, float], seconds: float = 6.0, step: float = 0.25) -> Pictures:
    """Pictures of a turning ramp (Y, U, V at 120x160) every `step` s: U and V follow the
    ramp from `colours[0]` to `colours[1]` (8-bit, centred on 128)."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    out = []
    for t in np.arange(0.0, seconds, step):
        turn = 0.3 * t
        ramp = (np.cos(turn) * x / W + np.sin(turn) * y / H) / 1.5
        planes = [
            40.0 + 160.0 * ramp,
            128.0 + colours[0] + (colours[1] - colours[0]) * ramp,
            128.0 - colours[0] + (colours[0] - colours[1]) * ramp,
        ]
        out.append((float(t), np.clip(np.round(np.stack(planes)), 0, 255).astype(np.uint8)))
    return out


def _enrolled_state(pictures: Pictures) -> IndexState:
    prints = [hash_picture(Picture(t=t, yuv=yuv)) for t, yuv in pictures]
    frames = frame_print([p for p in prints if p is not None])
    assert frames is not None
    return IndexState(frames=(FrameSegment.build([("a" * 64, frames)]),))


def _query(pictures: Pictures, edit: Edit) -> SmoothPrint:
    edited = [(t, np.ascontiguousarray(edit(yuv))) for t, yuv in pictures]
    return SmoothPrint(
        times=np.array([t for t, _ in edited], dtype=np.float32),
        means=np.stack([band.grid_means(yuv[0]) for _, yuv in edited]),
        chroma=np.stack([chroma_signature(yuv[1], yuv[2]) for _, yuv in edited]),
    )


PHASH_MATCH = MediaMatch(asset_id="a" * 64, path="x", kind="video", score=0.97, offset_s=1.0, method="frames")


@pytest.mark.parametrize(
    "edit",
    [
        lambda yuv: yuv,
        lambda yuv: np.rot90(yuv, 1, axes=(1, 2)),  # a portrait phone video
        lambda yuv: yuv[:, :, ::-1],  # mirrored
        lambda yuv: yuv[:, : round(0.8 * H), : round(0.8 * W)],  # 20 % crop, top left
    ],
    ids=["as enrolled", "turned", "mirrored", "corner crop"],
)
def test_a_phash_match_of_the_enrolled_smooth_video_is_confirmed_by_colour(edit: Edit) -> None:
    video = _ramp_video((30.0, -20.0))
    state = _enrolled_state(video)
    query = _query(video[4:20], edit)  # from 1 s in
    assert window.colours_confirm(state, window.confirm_views(query), PHASH_MATCH)


def test_a_phash_match_of_the_same_ramp_in_other_colours_is_refused() -> None:
    state = _enrolled_state(_ramp_video((30.0, -20.0)))
    query = _query(_ramp_video((-25.0, 10.0))[4:20], lambda yuv: yuv)
    assert not window.colours_confirm(state, window.confirm_views(query), PHASH_MATCH)
    sound = MediaMatch(asset_id="a" * 64, path="x", kind="audio", score=1.0, offset_s=1.0, method="sound")
    assert window.colours_confirm(state, window.confirm_views(query), sound)  # sound is never second-guessed here


def test_crop_views_skip_an_index_of_textured_pictures() -> None:
    """Crop hypotheses look only at stored pictures with a smooth layout: an index holding
    only textured ones answers at once, with nothing."""
    rng = np.random.default_rng(2)
    texture = [(t, rng.integers(0, 255, (3, H, W), dtype=np.uint8)) for t in np.arange(0.0, 4.0, 0.25)]
    state = _enrolled_state([(float(t), yuv) for t, yuv in texture])
    segment = state.frames[0]
    assert segment.smooth_rows.size == 0
    query = _query(_ramp_video((30.0, -20.0))[:8], lambda yuv: yuv)
    assert all(segment.search_view(view) == [] for view in window.crop_views(query))
    smooth_state = _enrolled_state(_ramp_video((30.0, -20.0)))
    assert smooth_state.frames[0].smooth_rows.size == smooth_state.frames[0].size
