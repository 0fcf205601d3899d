"""Picture prints: imagehash-exact pHash, letterbox removal, colour checks, flat pictures."""

from __future__ import annotations

import numpy as np

from agent.media.decode import Picture
from agent.media.frames import (
    chroma_agreement,
    chroma_signature,
    content_box,
    hash_picture,
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
