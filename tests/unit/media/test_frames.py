"""Picture prints: imagehash-exact pHash, letterbox removal, colour checks, flat pictures."""

from __future__ import annotations

import numpy as np

from agent.media.decode import Picture
from agent.media.frames import (
    chroma_agreement,
    chroma_contrast,
    chroma_signature,
    content_box,
    hash_picture,
    layout_correlation,
    phash64,
    phash_thumbnails,
    thumbnails,
)


def scene(seed: int, height: int = 120, width: int = 160) -> np.ndarray:
    """A picture with structure at several scales (blobs and edges), as YUV planes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    y = np.zeros((height, width))
    for _ in range(12):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(8, 40)
        y += rng.uniform(-60, 60) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    y = np.clip(128 + y, 20, 235)
    u = np.clip(128 + 50 * np.sin(xx / 30 + seed), 0, 255)
    v = np.clip(128 + 50 * np.cos(yy / 25 + seed), 0, 255)
    return np.stack([y, u, v]).astype(np.uint8)


def test_batched_phash_is_imagehash_bit_for_bit() -> None:
    for seed in range(5):
        thumbs = thumbnails(scene(seed)[0])
        batched = phash_thumbnails(thumbs)
        assert [int(h) for h in batched] == [phash64(t) for t in thumbs]


def test_letterbox_bars_are_stripped_and_hashes_survive() -> None:
    picture = scene(1)
    boxed = np.zeros((3, 180, 160), dtype=np.uint8)
    boxed[0] = 16
    boxed[1:] = 128
    boxed[:, 30:150, :] = picture
    assert content_box(boxed[0]) == (30, 150, 0, 160)
    a = hash_picture(Picture(0.0, picture))
    b = hash_picture(Picture(0.0, boxed))
    assert a is not None
    assert b is not None
    assert (a.hashes[0] ^ b.hashes[0]).bit_count() <= 2


def test_smooth_content_is_not_mistaken_for_a_bar() -> None:
    rows = np.linspace(10, 200, 120)[:, None].repeat(160, axis=1).astype(np.uint8)  # dark at the top, smooth
    assert content_box(rows) == (0, 120, 0, 160)


def test_crop_is_caught_by_a_smaller_scale() -> None:
    picture = scene(4, 240, 320)
    cropped = picture[:, 12:228, 16:304]  # 10% off, centred
    a = hash_picture(Picture(0.0, picture))
    b = hash_picture(Picture(0.0, cropped))
    assert a is not None
    assert b is not None
    full_vs_full = (a.hashes[0] ^ b.hashes[0]).bit_count()
    best = min((x ^ y).bit_count() for x in a.hashes for y in b.hashes)
    assert best <= 6
    assert best < full_vs_full


def test_hue_rotation_breaks_colour_agreement_but_brightness_does_not() -> None:
    picture = scene(2)
    u, v = picture[1].astype(np.float64) - 128, picture[2].astype(np.float64) - 128
    angle = np.radians(40)
    rotated_u = np.clip(128 + u * np.cos(angle) - v * np.sin(angle), 0, 255).astype(np.uint8)
    rotated_v = np.clip(128 + u * np.sin(angle) + v * np.cos(angle), 0, 255).astype(np.uint8)
    original = chroma_signature(picture[1], picture[2])[None, :]
    rotated = chroma_signature(rotated_u, rotated_v)[None, :]
    brighter = chroma_signature(picture[1], picture[2])[None, :]  # brightness moves Y only
    assert chroma_agreement(original, brighter)[0] > 0.99
    assert chroma_agreement(original, rotated)[0] < 0.8


def test_flat_pictures_have_no_hashes() -> None:
    flat = np.full((3, 120, 160), 128, dtype=np.uint8)
    assert hash_picture(Picture(0.0, flat)) is None


def _isoluminant_ramp(height: int = 120, width: int = 160) -> np.ndarray:
    """A diagonal ramp between two colours of equal brightness: flat luminance, moving colour."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    ramp = np.clip((xx / width + yy / height) / 2 + 0.1 * np.sin(xx / 17), 0, 1)
    y = np.full((height, width), 113.0)
    u = 148 + (116 - 148) * ramp  # magenta (U 148, V 178) to green (U 116, V 98)
    v = 178 + (98 - 178) * ramp
    return np.stack([y, u, v]).round().astype(np.uint8)


def test_equal_brightness_colours_are_hashed_by_their_contrast() -> None:
    picture = _isoluminant_ramp()
    assert float(picture[0].std()) < 2.0  # flat luminance: hashed as nothing before
    hashed = hash_picture(Picture(0.0, picture))
    assert hashed is not None
    # The same colours, a little re-encoded (noise, a small brightness change), lay out alike;
    # another ramp between the same colours, mirrored, does not.
    rng = np.random.default_rng(3)
    shift = np.array([6, 0, 0])[:, None, None]
    noisy = np.clip(picture.astype(np.int16) + rng.integers(-2, 3, picture.shape) + shift, 0, 255).astype(np.uint8)
    other = picture.copy()
    other[1:] = picture[1:, :, ::-1]
    again = hash_picture(Picture(0.0, noisy))
    different = hash_picture(Picture(0.0, other))
    assert again is not None
    assert different is not None
    assert layout_correlation(hashed.layout, again.layout[None, :])[0] > 0.95
    assert layout_correlation(hashed.layout, different.layout[None, :])[0] < 0.5


def test_colour_contrast_turns_with_the_picture() -> None:
    """Its polarity does not depend on orientation: a turned or mirrored upload hashes as
    the turned contrast of the original."""
    picture = _isoluminant_ramp()
    contrast = chroma_contrast(picture[1], picture[2])
    assert contrast is not None
    for turn in (np.rot90, np.fliplr, np.flipud):
        turned = chroma_contrast(np.ascontiguousarray(turn(picture[1])), np.ascontiguousarray(turn(picture[2])))
        assert turned is not None
        assert np.array_equal(turned, turn(contrast))
    # Swapping which colour is where inverts the picture, not the polarity rule.
    swapped = chroma_contrast(picture[1][::-1, ::-1].copy(), picture[2][::-1, ::-1].copy())
    assert swapped is not None
    assert np.array_equal(swapped, contrast[::-1, ::-1])


def test_a_picture_flat_in_brightness_and_colour_has_no_hash() -> None:
    flat = np.empty((3, 90, 120), dtype=np.uint8)
    flat[0], flat[1], flat[2] = 113, 150, 170
    flat[1, ::7, ::5] = 151  # codec noise, not structure
    assert chroma_contrast(flat[1], flat[2]) is None
    assert hash_picture(Picture(0.0, flat)) is None
