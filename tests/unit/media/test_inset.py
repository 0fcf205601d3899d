"""The picture-in-picture stage's geometry: the inset found in a large grey copy, cut from the
small sampled picture without pixels that are partly background."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from agent.media import inset
from agent.media.frames import chroma_contrast, layout_correlation, layout_signature, thumbnails

DETAIL = (540, 960)
SMALL = (90, 160)


def isoluminant_ramp(height: int, width: int) -> npt.NDArray[np.float64]:
    """Y/U/V of a diagonal ramp between two colours of equal brightness (Y 110), teal to red
    (mostly a change of V) as in a `gradients` clip."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    ramp = np.clip(1.6 * xx / width + 0.4 * yy / height - 0.3, 0.0, 1.0)
    return np.stack([np.full((height, width), 110.0), 128.0 - 6.0 * ramp, 140.0 + 60.0 * ramp])


def subsampled_chroma(planes: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """U and V as 4:2:0 video carries them (half size, scaled back): colours bleed over edges."""
    out = planes.copy()
    for c in (1, 2):
        half = cv2.resize(planes[c], (planes.shape[2] // 2, planes.shape[1] // 2), interpolation=cv2.INTER_AREA)
        out[c] = cv2.resize(half, (planes.shape[2], planes.shape[1]), interpolation=cv2.INTER_LINEAR)
    return out


def contrast_layout(yuv: npt.NDArray[np.uint8]) -> npt.NDArray[np.int8]:
    contrast = chroma_contrast(yuv[1], yuv[2])
    assert contrast is not None
    return layout_signature(thumbnails(contrast)[0])


def test_scaled_inward_keeps_only_whole_pixels() -> None:
    assert inset.scaled_inward((60, 186, 40, 208), 1 / 6, 1 / 6) == (10, 31, 7, 34)
    assert inset.scaled_inward((59, 181, 39, 203), 1 / 6, 1 / 6) == (10, 30, 7, 33)
    assert inset.scaled_inward((0, 540, 0, 960), 1 / 6, 1 / 6) == (0, 90, 0, 160)


@pytest.mark.parametrize(("top", "left"), [(57, 37), (60, 40), (63, 44), (58, 41)])
def test_a_smooth_inset_cut_from_the_small_picture_keeps_its_layout(top: int, left: int) -> None:
    """An inset of even brightness on a grey-blue background, found in the grey copy by its
    outline and cut from the 160 px picture: its colour-contrast layout is the inset's own, also
    when the outline lies a pixel outside it (cut with rounded sides, 0.969-0.99 here)."""
    h, w = 126, 168
    picture = np.stack([np.full(DETAIL, 50.0), np.full(DETAIL, 136.0), np.full(DETAIL, 124.0)])
    picture[:, top : top + h, left : left + w] = isoluminant_ramp(h, w)
    frame = np.clip(np.round(subsampled_chroma(picture)), 0, 255).astype(np.uint8)
    found = inset.find_inset(frame[0])
    assert found is not None
    assert abs(found[0] - top) <= 4
    assert abs(found[2] - left) <= 4
    small = np.stack([cv2.resize(plane, SMALL[::-1], interpolation=cv2.INTER_AREA) for plane in frame])
    own = contrast_layout(np.clip(np.round(isoluminant_ramp(h, w)), 0, 255).astype(np.uint8))
    for box in (found, (top - 1, top + h + 1, left - 1, left + w + 1)):
        top_s, bottom_s, left_s, right_s = inset.scaled_inward(box, SMALL[0] / DETAIL[0], SMALL[1] / DETAIL[1])
        cut = np.ascontiguousarray(small[:, top_s:bottom_s, left_s:right_s])
        assert float(layout_correlation(contrast_layout(cut), own[None])[0]) > 0.995
