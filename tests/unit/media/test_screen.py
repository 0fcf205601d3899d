"""A filmed screen: its quadrilateral found in a query frame and straightened for pHash."""

from __future__ import annotations

import cv2
import numpy as np

from agent.media import screen
from agent.media.decode import Picture
from agent.media.frames import hash_picture, phash64
from tests.support.pictures import U8, textured

CORNERS = np.array([[70, 45], [560, 20], [600, 420], [40, 390]], dtype=np.float32)


def filmed(picture: U8, corners: np.ndarray = CORNERS, surround: int = 40) -> U8:
    """`picture` shown in perspective inside a 640x460 frame of `surround` grey, blurred and
    brightened as a phone would see a monitor."""
    h, w = picture.shape
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, corners)
    warped = cv2.warpPerspective(picture, matrix, (640, 460), borderValue=surround)
    return np.asarray(np.clip(cv2.GaussianBlur(warped, (0, 0), 1.5) * 0.9 + 20, 0, 255), dtype=np.uint8)


def test_the_screen_filmed_at_an_angle_is_found_corner_by_corner() -> None:
    found = screen.find_screen(filmed(textured(5)))
    assert found is not None
    assert np.abs(found - CORNERS).max() <= 6.0  # the dilated outline: a few pixels out


def test_a_whole_frame_picture_or_a_blank_frame_has_no_screen() -> None:
    assert screen.find_screen(textured(6, 640, 460)) is None
    assert screen.find_screen(np.full((460, 640), 90, dtype=np.uint8)) is None


def test_a_band_or_a_sharp_corner_is_not_a_screen() -> None:
    """A thin band (sides 5:1) and a quadrilateral with a 46 degree corner are refused; the
    same picture as a plausible screen is found."""
    band = np.array([[20, 100], [620, 60], [630, 140], [10, 300]], dtype=np.float32)
    assert screen.find_screen(filmed(textured(7), band)) is None
    sharp = np.array([[40, 40], [600, 40], [600, 420], [400, 420]], dtype=np.float32)
    assert screen._angles_deg(sharp).min() < screen.MIN_ANGLE_DEG
    assert screen.find_screen(filmed(textured(7), sharp)) is None
    assert screen.find_screen(filmed(textured(7))) is not None


def test_straightened_screen_hashes_close_to_the_picture_an_unrelated_one_does_not() -> None:
    picture = textured(8, 480, 360)
    frame = filmed(picture)
    quad = screen.find_screen(frame)
    assert quad is not None
    straight = screen.straightened_picture(
        0.0, np.stack([frame, np.full_like(frame, 128), np.full_like(frame, 128)]), screen.inward(quad, 3.0)
    )
    assert straight is not None
    hashed = hash_picture(straight)
    assert hashed is not None
    near = (hashed.hashes[0] ^ phash64(picture)).bit_count()
    far = (hashed.hashes[0] ^ phash64(textured(9, 480, 360))).bit_count()
    raw = (phash64(frame) ^ phash64(picture)).bit_count()
    assert near <= 8 < far
    assert near < raw  # straightening is what brings it close


def test_the_screen_of_a_grey_copy_becomes_a_full_range_yuv_picture() -> None:
    frame = filmed(textured(10, 480, 360))
    quad = screen.find_screen(frame)
    assert quad is not None
    chroma = np.full((2, frame.shape[0] // 2, frame.shape[1] // 2), 140, dtype=np.uint8)
    picture = screen.straightened_detail(1.5, frame, chroma, screen.inward(quad, 3.0))
    assert isinstance(picture, Picture)
    assert picture.t == 1.5
    width, height = screen.side_lengths(quad)
    assert abs(picture.yuv.shape[2] - width) <= 8
    assert abs(picture.yuv.shape[1] - height) <= 8
    assert int(np.median(picture.yuv[1])) == 140  # U carried over
