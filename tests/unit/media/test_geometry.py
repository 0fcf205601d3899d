"""Local features behind pHash: the keypoint print round trip, and geometric verification
finding an enrolled picture turned, shrunk into a larger frame and seen in perspective,
while an unrelated picture is not found."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from agent.media import keypoints as kp
from agent.media import printformat
from agent.media.rectify import IMAGE_MIN_INLIERS, KeypointBank, verify, verify_frame
from tests.support.pictures import U8, textured


def bank_of(*pictures: U8) -> KeypointBank:
    bank = KeypointBank()
    for i, picture in enumerate(pictures):
        frame = kp.describe(picture, 0.0, kp.ENROL_FEATURES)
        assert frame is not None
        bank.add([(f"asset{i}", kp.KeypointPrint((frame,)))])
    return bank


def embedded(picture: U8, share: float) -> U8:
    """`picture` turned by 90 degrees and shown at `share` of the width of a grey 960x540 frame (or less)."""
    turned = np.ascontiguousarray(np.rot90(picture))
    scale = min(960 * share / turned.shape[1], 520 / turned.shape[0])
    w, h = int(turned.shape[1] * scale), int(turned.shape[0] * scale)
    canvas = np.full((540, 960), 70, dtype=np.uint8)
    canvas[10 : 10 + h, 100 : 100 + w] = cv2.resize(turned, (w, h), interpolation=cv2.INTER_AREA)
    return canvas


def refilmed(picture: U8) -> U8:
    h, w = picture.shape
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    dst = np.array([[60, 40], [w + 80, 10], [w + 50, h + 70], [30, h + 40]], dtype=np.float32)
    warped = cv2.warpPerspective(picture, cv2.getPerspectiveTransform(src, dst), (w + 140, h + 110), borderValue=30)
    return np.asarray(np.clip(cv2.GaussianBlur(warped, (0, 0), 1.2) * 0.8 + 30, 0, 255), dtype=np.uint8)


def query(picture: U8) -> kp.KeyFrame:
    frame = kp.describe(picture, 0.0, kp.QUERY_FEATURES)
    assert frame is not None
    return frame


def test_keypoint_print_round_trip_and_damage_refused() -> None:
    frames = tuple(f for f in (kp.describe(textured(s), float(s), 200) for s in (1, 2)) if f is not None)
    blob = printformat.encode_keypoints(kp.KeypointPrint(frames))[2]
    back = printformat.decode_keypoints(blob)
    assert [f.t for f in back.frames] == [f.t for f in frames]
    for a, b in zip(back.frames, frames, strict=True):
        assert (a.width, a.height) == (b.width, b.height)
        np.testing.assert_array_equal(a.points, b.points)
        np.testing.assert_array_equal(a.descriptors, b.descriptors)
    with pytest.raises(printformat.PrintFormatError):
        printformat.decode_keypoints(blob[:-5])


@pytest.mark.parametrize("edit", ["turned-pip-30", "refilmed"])
def test_edited_picture_found_on_its_asset(edit: str) -> None:
    pictures = [textured(s) for s in (10, 11, 12)]
    bank = bank_of(*pictures)
    edited = embedded(pictures[1], 0.3) if edit == "turned-pip-30" else refilmed(pictures[1])
    found = verify(bank, [query(edited)], image=True, total=1)
    assert found is not None
    assert found.asset_id == "asset1"


def test_unrelated_picture_not_found() -> None:
    bank = bank_of(*(textured(s) for s in (10, 11, 12)))
    for seed in (20, 21, 22, 23):
        assert verify(bank, [query(embedded(textured(seed), 0.5))], image=True, total=1) is None


def test_identical_sibling_does_not_hide_the_picture_and_is_not_guessed() -> None:
    """Two assets with the same pictures (one template, two recordings): the ratio test is
    taken within a keyframe, so their equal descriptors do not cancel each other out and both
    are verified; nothing tells them apart, so the answer is one of them with the other as an
    equally likely alternative (a single name would be a wrong-asset match half the time,
    no answer would let enrolled media through)."""
    picture = textured(30)
    bank = bank_of(textured(31), picture, picture.copy())
    edited = query(embedded(picture, 0.4))
    hits = {h.asset_id: h.inliers for h in verify_frame(bank, edited)}
    assert hits.get("asset1", 0) >= IMAGE_MIN_INLIERS
    assert hits.get("asset2", 0) >= IMAGE_MIN_INLIERS
    found = verify(bank, [edited], image=True, total=1)
    assert found is not None
    assert {found.asset_id, *found.alternatives} == {"asset1", "asset2"}
    assert len(found.alternatives) == 1


def test_close_up_of_one_detail_is_not_the_picture() -> None:
    """A third of an enrolled picture's area blown up to full size (a zoom into the same
    source) shows too little of it: the query must cover MIN_COVERAGE of the keyframe."""
    picture = textured(40)
    bank = bank_of(picture, textured(41))
    h, w = picture.shape
    detail = cv2.resize(picture[h // 5 : h // 5 + h * 3 // 5, w // 5 : w // 5 + w * 3 // 5], (w, h))
    assert verify(bank, [query(np.asarray(detail, dtype=np.uint8))], image=True, total=1) is None
    crop = cv2.resize(picture[: h * 3 // 4, w // 4 :], (w, h))  # a 25 % crop still is
    found = verify(bank, [query(np.asarray(crop, dtype=np.uint8))], image=True, total=1)
    assert found is not None
    assert found.asset_id == "asset0"
