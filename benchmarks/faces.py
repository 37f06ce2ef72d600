"""Face tracks and the face pass on the clips in ../shared/media, with the real detector and a
real stylizer from ../shared/models. Prints one table; not a test.

    python benchmarks/faces.py [--frames 60] [--style shinkai_v3] [--face-style STYLE] [--matte]

Per clip (carphone, the first frames of pedestrians, and a synthetic pan made from
astronaut.png scaled down so the face is ~30 px): faces found (tracks, and face-frames), the
crop jitter (mean |second difference| of the face crop's centre, px) of the smoothed tracks
against per-frame raw detections of the same faces, the tracking cost and the face-pass cost
per frame (ms), and how many faces the pass redrew (a face the whole-frame drawing already
gives the working size is skipped). Without --matte the frames are not matted, as for the
default request (a kept background in the person's style): faces then need score >= 0.8.
For the synthetic pan, "off true motion" is how far the crop centre strays from the known
motion (mean px after the best constant offset, raw detections / smoothed tracks): lag or
swim would show there. --no-pass measures the tracks only (no stylizing).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clips import SHARED, load_clip


def astronaut_pan(frames: int, face_px: float = 30.0, speed: float = 1.3) -> tuple[list[np.ndarray], np.ndarray]:
    """astronaut.png scaled so its face (~90 px wide) is `face_px` wide, on a 360x640 frame
    over a blurred, enlarged copy of itself, panning right by `speed` px per frame (sub-pixel
    positions) with a slow vertical sway. Returns the frames and the true shift of each."""
    from animefy.image.io import load_image

    img = load_image(SHARED / "media" / "astronaut.png").rgb
    s = face_px / 90.0
    back = cv2.GaussianBlur(cv2.resize(img, (640 + 4 * frames, 640), interpolation=cv2.INTER_CUBIC), (0, 0), 6)
    out, shifts = [], []
    for t in range(frames):
        bx = int(speed * t / 3)  # the background pans at a third of the speed
        frame = back[140:500, bx : bx + 640].copy()
        x, y = 120 + speed * t, 150 + 4.0 * np.sin(t / 9.0)
        m = np.float32([[s, 0, x], [0, s, y]])
        cv2.warpAffine(img, m, (640, 360), dst=frame, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_TRANSPARENT)
        out.append(frame)
        shifts.append((x, y))
    return out, np.array(shifts)


def crop_centre(landmarks: np.ndarray) -> np.ndarray:
    from animefy.image.face_pass import MARGIN
    from animefy.image.faces import face_matrix

    inverse = cv2.invertAffineTransform(face_matrix(landmarks, 256, MARGIN))
    return inverse @ np.array([128.0, 128.0, 1.0])


def jitter(series: list[np.ndarray | None]) -> tuple[float, int]:
    """Mean |second difference| over runs of frames where the face has a crop."""
    values = []
    for a, b, c in zip(series, series[1:], series[2:], strict=False):
        if a is not None and b is not None and c is not None:
            values.append(float(np.linalg.norm(a - 2 * b + c)))
    return (float(np.mean(values)) if values else float("nan")), len(values)


def swim(series: list[np.ndarray | None], shifts: np.ndarray) -> float:
    """Mean distance (px) of a crop centre track from the true motion (best constant offset)."""
    have = [(c, s) for c, s in zip(series, shifts, strict=True) if c is not None]
    if not have:
        return float("nan")
    rel = np.array([c - s for c, s in have])
    return float(np.linalg.norm(rel - rel.mean(axis=0), axis=1).mean())


def run_clip(name, clip, shifts, detector, matter, face_pass, scale) -> dict:
    from animefy.image.face_pass import keep_faces
    from animefy.video.face_tracks import FaceTracker

    tracker = FaceTracker(detector)
    if matter is not None:
        matter.reset()
    smoothed: dict[int, list] = {}
    raw: dict[int, list] = {}
    track_s = pass_s = 0.0
    face_frames = redrawn = 0
    for i, frame in enumerate(clip):
        alpha = matter(frame) if matter is not None else None
        t0 = time.perf_counter()
        faces = tracker(frame, alpha)
        track_s += time.perf_counter() - t0
        detections = keep_faces(detector(frame), alpha)  # the per-frame raw measurement
        for face in faces:
            smoothed.setdefault(face.track, [None] * len(clip))[i] = crop_centre(face.landmarks)
            near = [d for d in detections if np.linalg.norm(d.eye_centre - face.eye_centre) < 0.5 * face.box[2]]
            if near:
                best = min(near, key=lambda d: np.linalg.norm(d.eye_centre - face.eye_centre))
                raw.setdefault(face.track, [None] * len(clip))[i] = crop_centre(best.landmarks)
        face_frames += len(faces)
        if face_pass is not None:
            t0 = time.perf_counter()
            _, count = face_pass(frame[None], frame[None], [faces], scale(frame.shape[:2]))
            pass_s += time.perf_counter() - t0
            redrawn += count
    js, jr, n = [], [], 0
    for tid, series in smoothed.items():
        both = [s if r is not None else None for s, r in zip(series, raw.get(tid, [None] * len(clip)), strict=True)]
        a, k = jitter(both)
        b, _ = jitter(raw.get(tid, []))
        if k:
            js.append(a * k)
            jr.append(b * k)
            n += k
    frames = len(clip)
    one = max(smoothed, key=lambda k: sum(v is not None for v in smoothed[k]), default=None)
    truth = (float("nan"), float("nan"))
    if shifts is not None and one is not None:
        truth = (swim(raw.get(one, [None] * frames), shifts), swim(smoothed[one], shifts))
    return {
        "off truth": truth,
        "clip": name,
        "frames": frames,
        "tracks": len(smoothed),
        "face-frames": face_frames,
        "jitter raw": sum(jr) / n if n else float("nan"),
        "jitter smoothed": sum(js) / n if n else float("nan"),
        "track ms/frame": 1000 * track_s / frames,
        "pass ms/frame": 1000 * pass_s / frames,
        "redrawn": redrawn,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--style", default="shinkai_v3")
    parser.add_argument("--face-style", default="", help="face style ('' = the person style)")
    parser.add_argument("--matte", action="store_true", help="matte the frames (RVM) and keep faces on people")
    parser.add_argument("--no-pass", action="store_true", help="tracks only: do not run the face pass")
    args = parser.parse_args()
    if not (SHARED / "models").is_dir():
        print("../shared/models is absent: this benchmark needs the real checkpoints.")
        return 1
    os.environ.setdefault("ANIMEFY_MODELS_DIR", str(SHARED / "models"))
    from animefy.image.face_pass import FacePass, drawing_scale
    from animefy.models.registry import load
    from animefy.settings import Settings

    settings = Settings.from_env()
    detector = load("yunet", "face", settings)
    person = load(args.style, "stylize", settings)
    face_style = args.face_style or args.style
    face_pass = FacePass(load(face_style, "stylize", settings), same_style=face_style == args.style)
    matter = load("rvm", "matte", settings) if args.matte else None
    clips = [
        ("carphone.mp4", load_clip("carphone.mp4", args.frames), None),
        ("pedestrians.avi", load_clip("pedestrians.avi", args.frames), None),
        ("astronaut pan (30 px face)", *astronaut_pan(args.frames)),
    ]
    passer = None if args.no_pass else face_pass
    rows = [
        run_clip(name, clip, shifts, detector, matter, passer, lambda hw: drawing_scale(person, hw))
        for name, clip, shifts in clips
    ]
    print(f"style {args.style}, face style {face_style}, {'matte' if args.matte else 'no matte'}, "
          f"face size {face_pass.size}")  # fmt: skip
    head = ["clip", "frames", "tracks", "face-frames", "jitter raw", "jitter smoothed", "ratio", "track ms/frame",
            "pass ms/frame", "redrawn", "off true motion raw/smoothed (px)"]  # fmt: skip
    print(" | ".join(head))
    for r in rows:
        ratio = r["jitter smoothed"] / r["jitter raw"] if r["jitter raw"] > 0 else float("nan")
        print(f"{r['clip']} | {r['frames']} | {r['tracks']} | {r['face-frames']} | {r['jitter raw']:.2f} | "
              f"{r['jitter smoothed']:.2f} | {ratio:.2f} | {r['track ms/frame']:.1f} | {r['pass ms/frame']:.0f} | "
              f"{r['redrawn']} | {r['off truth'][0]:.2f} / {r['off truth'][1]:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
