"""`phiwall scrub` faces and skeleton: does a different detector still find a face, does any person pixel survive?

Test video: scikit-image's astronaut portrait (a real face a registry package ships) animated at
run time into 1280x720 25 fps H.264 with motion, zoom (face 0.4-1.0 of the frame height) and
rotation (-20..+20 degrees), mirrored every other second. The independent check is OpenCV's Haar
frontal-face cascade (scrub uses mediapipe BlazeFace); it must find the face in the input
frames (the test is meaningful) and in 0 output frames. Skeleton output: the person region is
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

DRAWN = np.array([(128, 128, 128), (255, 255, 255), (255, 64, 64)])


def moving_portrait(width: int, height: int, count: int, fps: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames and, for each, the boolean mask of the portrait's pixels."""
    source = astronaut()
    frames, masks = [], []
    for i in range(count):
        t = i / max(1, count - 1)
        image = source[:, ::-1] if (i // fps) % 2 else source
        scale = (0.4 + 0.6 * abs(np.sin(np.pi * t))) * height / image.shape[0]
        angle = 20 * np.sin(3 * np.pi * t)
        cx, cy = width * (0.25 + 0.5 * t), height / 2
        matrix = cv2.getRotationMatrix2D((image.shape[1] / 2, image.shape[0] / 2), angle, scale)
        matrix[:, 2] += (cx - image.shape[1] / 2, cy - image.shape[0] / 2)
        canvas = cv2.warpAffine(image, matrix, (width, height), borderValue=(60, 90, 60))
        mask = cv2.warpAffine(np.ones(image.shape[:2], np.uint8), matrix, (width, height)) > 0
        frames.append(canvas)
        masks.append(mask)
    return frames, masks


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
    frames, masks = moving_portrait(1280, 720, int(args.seconds * fps), fps)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        video = write_video(tmp / "in.mp4", frames, fps=fps)
        decoded_in = read_frames(video)
        seen = sum(haar_faces(f) > 0 for f in decoded_in)
        print(f"input: {len(decoded_in)} frames, Haar finds a face in {seen}")
        for faces in ("blur", "mask"):
            result = scrub_file(video, tmp / f"{faces}.mp4", ScrubOptions(faces=faces, voice="keep"))
            hits = [i for i, f in enumerate(read_frames(tmp / f"{faces}.mp4")) if haar_faces(f) > 0]
            print(f"--faces {faces}: Haar finds a face in {len(hits)} output frames {hits[:10]}  ({result.describe()})")
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
