"""`phiwall scrub` faces and skeleton: does a different detector still find a face, does any person pixel survive?

Test video: scikit-image's astronaut portrait (a real face a registry package ships) animated at
run time into 1280x720 25 fps H.264 with motion, zoom (face 0.4-1.0 of the frame height) and
rotation (-20..+20 degrees), mirrored every other second. The independent check is OpenCV's Haar
frontal-face cascade (scrub uses mediapipe BlazeFace); it must find the face in the input
frames (the test is meaningful) and in 0 output frames. The face's true box in every frame is
known (the portrait's face box, found by Haar on the still portrait, moved with it), so a Haar
hit is either *on the face* (a leak) or *elsewhere*: Haar also fires on the spacesuit, flag and
shuttle of the input, where there is no face to hide; those are counted apart, in the input too.
Skeleton output: the person region is
known exactly (where the portrait was pasted); a person pixel "survives" when an output pixel
there is within 12 levels of the source colour on every channel while the source colour is not
itself one of the drawn colours (grey background, white bones, red joints).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/scrub_faces.py              # 8 s of video
    PYTHONPATH=$PWD .venv/bin/python benchmarks/scrub_faces.py --seconds 4
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.scrub.files import scrub_file
from agent.scrub.options import ScrubOptions
from tests.support.faces import astronaut, haar_faces, read_frames, write_video

HAAR_FRONTAL = str(Path(cv2.__file__).parent / "data" / "haarcascade_frontalface_default.xml")
"""Shipped inside opencv-python (what `cv2.data.haarcascades` names)."""
DRAWN = np.array([(128, 128, 128), (255, 255, 255), (255, 64, 64)])


Rect = tuple[float, float, float, float]


def source_face() -> Rect:
    """x0, y0, x1, y1 of the largest face Haar finds in the still portrait."""
    cascade = cv2.CascadeClassifier(HAAR_FRONTAL)
    found = cascade.detectMultiScale(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2GRAY), 1.1, 5, minSize=(32, 32))
    x, y, w, h = max(found, key=lambda b: int(b[2]) * int(b[3]))
    return float(x), float(y), float(x + w), float(y + h)


def moving_portrait(
    width: int, height: int, count: int, fps: int
) -> tuple[list[np.ndarray], list[np.ndarray], list[Rect]]:
    """Frames and, for each, the boolean mask of the portrait's pixels and the face's box."""
    source = astronaut()
    fx0, fy0, fx1, fy1 = source_face()
    frames, masks, faces = [], [], []
    for i in range(count):
        t = i / max(1, count - 1)
        mirrored = (i // fps) % 2
        image = source[:, ::-1] if mirrored else source
        corners_x = (image.shape[1] - fx1, image.shape[1] - fx0) if mirrored else (fx0, fx1)
        scale = (0.4 + 0.6 * abs(np.sin(np.pi * t))) * height / image.shape[0]
        angle = 20 * np.sin(3 * np.pi * t)
        cx, cy = width * (0.25 + 0.5 * t), height / 2
        matrix = cv2.getRotationMatrix2D((image.shape[1] / 2, image.shape[0] / 2), angle, scale)
        matrix[:, 2] += (cx - image.shape[1] / 2, cy - image.shape[0] / 2)
        canvas = cv2.warpAffine(image, matrix, (width, height), borderValue=(60, 90, 60))
        mask = cv2.warpAffine(np.ones(image.shape[:2], np.uint8), matrix, (width, height)) > 0
        corners = np.array([(x, y, 1.0) for x in corners_x for y in (fy0, fy1)]) @ matrix.T
        faces.append((*corners.min(axis=0), *corners.max(axis=0)))
        frames.append(canvas)
        masks.append(mask)
    return frames, masks, faces


_CASCADE: cv2.CascadeClassifier | None = None


def haar_boxes(rgb: np.ndarray) -> list[Rect]:
    """The Haar frontal-face boxes of `rgb` (same settings as tests.support.faces.haar_faces)."""
    global _CASCADE
    if _CASCADE is None:
        _CASCADE = cv2.CascadeClassifier(HAAR_FRONTAL)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    found = _CASCADE.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(32, 32))
    return [(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h in found]


def on_face(box: Rect, face: Rect) -> bool:
    """A Haar box is on the face when at least 30 % of it lies inside the face's true box."""
    w = min(box[2], face[2]) - max(box[0], face[0])
    h = min(box[3], face[3]) - max(box[1], face[1])
    return w > 0 and h > 0 and w * h >= 0.3 * (box[2] - box[0]) * (box[3] - box[1])


def classify(frames: list[np.ndarray], faces: list[Rect]) -> tuple[list[int], list[int]]:
    """Frame indexes where Haar finds the face, and where it fires only elsewhere."""
    leaks, elsewhere = [], []
    for i, (frame, face) in enumerate(zip(frames, faces, strict=True)):
        boxes = haar_boxes(frame)
        if any(on_face(b, face) for b in boxes):
            leaks.append(i)
        elif boxes:
            elsewhere.append(i)
    return leaks, elsewhere


def surviving_person_pixels(out: np.ndarray, source: np.ndarray, mask: np.ndarray) -> int:
    close = np.all(np.abs(out.astype(int) - source.astype(int)) <= 12, axis=2)
    drawn_like = np.zeros(mask.shape, bool)
    for colour in DRAWN:
        drawn_like |= np.all(np.abs(source.astype(int) - colour) <= 40, axis=2)
    return int((close & mask & ~drawn_like).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    fps = 25
    frames, masks, faces = moving_portrait(1280, 720, int(args.seconds * fps), fps)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        video = write_video(tmp / "in.mp4", frames, fps=fps)
        decoded_in = read_frames(video)
        leaks, elsewhere = classify(decoded_in, faces)
        print(
            f"input: {len(decoded_in)} frames, Haar finds the face in {len(leaks)}, "
            f"fires only elsewhere in {len(elsewhere)} (any hit: {sum(haar_faces(f) > 0 for f in decoded_in)})"
        )
        for mode in ("blur", "mask"):
            result = scrub_file(video, tmp / f"{mode}.mp4", ScrubOptions(faces=mode, voice="keep"))
            out_frames = read_frames(tmp / f"{mode}.mp4")
            leaks, elsewhere = classify(out_frames, faces)
            print(
                f"--faces {mode}: Haar finds the face in {len(leaks)} output frames {leaks[:10]}, "
                f"fires only elsewhere in {len(elsewhere)} (any hit: {sum(haar_faces(f) > 0 for f in out_frames)})"
                f"  ({result.describe()})"
            )
        result = scrub_file(video, tmp / "skel.mp4", ScrubOptions(people="skeleton", voice="keep"))
        out = read_frames(tmp / "skel.mp4")
        survivors = [surviving_person_pixels(o, s, m) for o, s, m in zip(out, decoded_in, masks, strict=True)]
        area = int(sum(m.sum() for m in masks))
        print(
            f"--people skeleton: {sum(survivors)} person pixels kept of {area} "
            f"(worst frame {max(survivors)}), Haar faces in {sum(haar_faces(f) > 0 for f in out)} frames"
            f"  ({result.describe()})"
        )


if __name__ == "__main__":
    main()
