"""The band stage's parts on pictures made here: where a caption bar is, which grid rows it
leaves, what counts as smooth, blending between stored samples, and the acceptance rule."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from agent.media import band
from agent.media.band import Band, BandCandidate, BandPrint

H, W = 120, 160


def gradient(turn: float = 0.0, seed: int = 0) -> npt.NDArray[np.float64]:
    """A smooth diagonal ramp (turned by `turn` radians) with a little encoding-like noise."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    ramp = np.cos(turn) * x / W + np.sin(turn) * y / H
    noise = np.random.default_rng(seed).normal(0.0, 1.0, (H, W))
    out: npt.NDArray[np.float64] = 60.0 + 140.0 * ramp + noise
    return out


def as_gray(picture: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    return np.clip(np.round(picture), 0, 255).astype(np.uint8)


def with_bottom_bar(picture: npt.NDArray[np.float64], top: int, alpha: float = 0.8) -> npt.NDArray[np.uint8]:
    barred = picture.copy()
    barred[top:] *= 1.0 - alpha  # black at `alpha` opacity
    return as_gray(barred)


def test_a_translucent_bottom_bar_is_found_at_its_edge() -> None:
    pictures = [with_bottom_bar(gradient(0.1 * i, seed=i), 90) for i in range(6)]
    found = band.find_band(pictures)
    assert found == Band(90, H, H)
    assert found.layout_rows.tolist() == [0, 1, 2, 3, 4, 5]
    assert found.chroma_rows.tolist() == [0, 1, 2]
    assert found.usable


def test_a_light_title_strip_at_the_top_leaves_the_rows_below_it() -> None:
    pictures = []
    for i in range(6):
        picture = gradient(0.1 * i, seed=i)
        picture[:18] = 235.0
        pictures.append(as_gray(picture))
    found = band.find_band(pictures)
    assert found == Band(0, 18, H)
    assert found.layout_rows.tolist() == [2, 3, 4, 5, 6, 7]  # row 1 (15-30) is partly under the strip
    assert found.chroma_rows.tolist() == [1, 2, 3]
    cells = band.layout_cells(found)
    assert cells.min() == 16
    assert cells.max() == 63
    assert cells.size == 48


def test_a_bar_that_differs_in_colour_more_than_in_brightness_is_found() -> None:
    pictures = []
    for i in range(6):
        y = 30.0 + 0.2 * (gradient(0.1 * i, seed=i) - 60.0)  # a dark picture ...
        u = np.full((H, W), 140.0)
        v = np.full((H, W), 150.0)
        y[90:] += 4.0  # ... under a dark bar of another hue
        u[90:], v[90:] = 175.0, 110.0
        pictures.append(np.stack([as_gray(y), as_gray(u), as_gray(v)]))
    assert band.find_band(pictures) == Band(90, H, H)
    assert band.find_band([p[0] for p in pictures]) is None  # brightness alone hardly steps


def test_a_smooth_picture_without_a_bar_has_no_band() -> None:
    assert band.find_band([as_gray(gradient(0.1 * i, seed=i)) for i in range(6)]) is None


def test_an_edge_in_only_a_few_pictures_is_not_a_band() -> None:
    pictures = [
        with_bottom_bar(gradient(0.1 * i, seed=i), 90) if i < 2 else as_gray(gradient(0.1 * i, seed=i))
        for i in range(8)
    ]
    assert band.find_band(pictures) is None


def test_a_sliver_at_the_border_is_not_a_band() -> None:
    pictures = [with_bottom_bar(gradient(0.1 * i, seed=i), 116) for i in range(6)]  # 3 % of the height
    assert band.find_band(pictures) is None


def test_the_band_is_the_side_nearer_the_border() -> None:
    pictures = [with_bottom_bar(gradient(0.1 * i, seed=i), 40) for i in range(6)]
    assert band.find_band(pictures) == Band(0, 40, H)  # a dark lower two thirds reads as a top strip


def test_smoothness_tells_a_gradient_from_texture() -> None:
    found = Band(90, H, H)
    assert band.smooth(with_bottom_bar(gradient(), 90), found)
    texture = np.random.default_rng(3).integers(0, 255, (H, W)).astype(np.float64)
    assert not band.smooth(with_bottom_bar(texture, 90), found)
    speckles = np.where(np.random.default_rng(4).random((H, W)) < 0.02, 38.0, 8.0)  # dark, low contrast
    assert not band.smooth(as_gray(speckles))  # small neighbour differences, but no ramp
    assert band.smooth(as_gray(gradient()))  # no band: the whole picture
    assert not band.smooth(np.full((H, W), 90, dtype=np.uint8))  # flat: nothing to recognise


def isoluminant(turn: float = 0.0, seed: int = 0, bar_top: int | None = None) -> npt.NDArray[np.uint8]:
    """Y/U/V planes of a ramp between two colours of equal brightness (U and V change in step
    along the ramp, Y stays at 110), optionally under a black bar at 80 % from row `bar_top`."""
    ramp = (gradient(turn, seed) - 60.0) / 140.0  # 0..1 along the ramp, with the noise
    y = np.full((H, W), 110.0) + np.random.default_rng(seed + 1).normal(0.0, 0.5, (H, W))
    u, v = 100.0 + 60.0 * ramp, 150.0 - 40.0 * ramp
    planes = np.stack([y, u, v])
    if bar_top is not None:
        planes[0, bar_top:] *= 0.2
        planes[1:, bar_top:] = 128.0 + (planes[1:, bar_top:] - 128.0) * 0.2
    return as_gray(planes)


def test_rows_of_even_brightness_are_compared_by_colour() -> None:
    found = Band(90, H, H)
    barred = isoluminant(bar_top=90)
    assert band.find_band([barred, isoluminant(seed=1, bar_top=90)]) == found
    assert not band.smooth(barred[0], found)  # their brightness is flat: nothing to see there
    assert band.by_colour(barred, found)
    assert band.smooth_picture(barred, found)
    assert band.smooth_picture(isoluminant())  # no bar: the whole picture
    assert not band.by_colour(np.stack([as_gray(gradient())] + [np.full((H, W), 128, np.uint8)] * 2), None)
    grey = np.full((3, H, W), 110, dtype=np.uint8)
    assert not band.by_colour(grey)
    assert not band.smooth_picture(grey)


def test_a_small_logo_over_even_brightness_still_reads_by_colour() -> None:
    found = Band(90, H, H)
    barred = isoluminant(bar_top=90)
    barred[0, 4:14, 124:152] = 200  # a white badge in the rows the bar leaves (3 % of them)
    assert band.even_brightness(band.clear_part(barred[0], found))
    assert band.by_colour(barred, found)
    assert band.smooth_picture(barred, found)
    textured = np.random.default_rng(5).integers(0, 255, (H, W)).astype(np.uint8)
    assert not band.even_brightness(textured)


def test_contrast_grids_follow_the_stored_contrast_layout() -> None:
    """The query's contrast, from the U/V block means of the rows a bar leaves, correlates with
    the stored layout of the whole picture's contrast (`frames.chroma_contrast`); another ramp
    direction does not."""
    from agent.media.frames import THUMB, chroma_contrast, layout_signature, thumbnails

    def stored(planes: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        contrast = chroma_contrast(planes[1], planes[2])
        assert contrast is not None
        return layout_signature(thumbnails(contrast)[0]).astype(np.float32)

    assert thumbnails(np.zeros((H, W), np.uint8)).shape[-1] == THUMB
    found = Band(90, H, H)
    cells = band.layout_cells(found)
    barred = isoluminant(bar_top=90)
    u, v = band.grid_means(barred[1]), band.grid_means(barred[2])
    grid = band.contrast_grids(u[None], v[None], cells)[0]
    query = band.unit_rows(grid[None, cells])[0]
    same = band.unit_rows(stored(isoluminant())[None, cells])[0]
    turned = band.unit_rows(stored(isoluminant(turn=1.2))[None, cells])[0]
    assert float(query @ same) > 0.98
    assert float(query @ turned) < 0.9
    # A colour cast (U and V shifted alike everywhere) leaves the contrast as it was.
    cast = band.contrast_grids((u + 12.0)[None], (v - 7.0)[None], cells)[0]
    assert np.allclose(cast, grid, atol=1e-3)


def test_grid_means_are_the_block_means_of_the_whole_picture() -> None:
    picture = np.zeros((H, W), dtype=np.uint8)
    picture[:15, :20] = 200  # exactly the top-left cell of the 8x8 grid
    means = band.grid_means(picture)
    assert means.shape == (64,)
    assert means[0] == pytest.approx(200.0)
    assert np.all(means[1:] == 0.0)


def _layout(picture: npt.NDArray[np.float64]) -> npt.NDArray[np.int8]:
    """The stored layout as `frames.layout_signature` keeps it: mean removed, scaled, int8."""
    means = band.grid_means(as_gray(picture))
    centred = means - means.mean()
    layout: npt.NDArray[np.int8] = np.clip(np.round(centred / np.sqrt((centred**2).mean()) * 40.0), -127, 127).astype(
        np.int8
    )
    return layout


def test_a_query_between_two_stored_samples_agrees_with_their_blend() -> None:
    found = Band(90, H, H)
    cells = band.layout_cells(found)
    colours = band.chroma_cells(found)
    stored = np.stack([_layout(gradient(0.0)), _layout(gradient(0.6))])[:, cells]
    chroma = np.zeros((2, 32), dtype=np.int8)
    chroma[1] = 20
    query = band.unit_rows(band.grid_means(as_gray(gradient(0.3)))[None, cells])[0]
    either_alone = max(float(band.unit_rows(stored[k : k + 1])[0] @ query) for k in range(2))
    corr, rms = band.between_samples(
        query,
        np.full(colours.size, 10.0, dtype=np.float32),
        stored.astype(np.float32),
        chroma[:, colours].astype(np.float32),
    )
    assert corr > either_alone
    assert corr > 0.999
    assert rms == pytest.approx(0.0, abs=0.5)  # the colours were blended by the same weight


def _candidate(agree: int, frames: int, layout: float, rms: float, layout_agree: int = -1) -> BandCandidate:
    return BandCandidate("a" * 64, 2.0, agree, frames, layout, rms, layout_agree=layout_agree)


def test_the_rule_wants_most_pictures_close_in_layout_and_colour() -> None:
    assert band.accepts(_candidate(20, 24, 0.995, 2.5))
    assert not band.accepts(_candidate(18, 24, 0.995, 2.5))  # too few pictures agree
    assert not band.accepts(_candidate(24, 24, 0.95, 2.5))  # layout too loose
    assert not band.accepts(_candidate(24, 24, 0.995, 9.0))  # other colours (a regraded lookalike)
    assert not band.accepts(_candidate(3, 3, 0.999, 1.0))  # too short to tell


def test_clear_rows_in_other_colours_contradict_a_picture_match() -> None:
    assert band.contradicts(_candidate(0, 24, 0.999, 30.0, layout_agree=24))  # the same ramp, other colours
    assert not band.contradicts(_candidate(0, 24, 0.999, 30.0, layout_agree=12))
    assert not band.contradicts(_candidate(24, 24, 0.999, 2.0))  # the same video
    assert not band.contradicts(_candidate(24, 24, 0.999, 8.0))  # between: neither named nor refused
    assert not band.contradicts(_candidate(10, 24, 0.999, 30.0))  # too few pictures agree to say
    assert not band.contradicts(_candidate(24, 24, 0.9, 30.0))  # another picture altogether


def test_a_long_query_is_thinned_evenly() -> None:
    count = 300
    query = BandPrint(
        times=np.arange(count, dtype=np.float32) * 0.5,
        means=np.zeros((count, 64), dtype=np.float32),
        chroma=np.zeros((count, 32), dtype=np.int8),
        band=Band(90, H, H),
    )
    thin = query.thinned()
    assert thin.count == band.MAX_PICTURES
    assert thin.band == query.band
    assert thin.times[0] == 0.0
    assert thin.times[-1] == query.times[-1]
    assert query.thinned(count) is query
