"""Faces: YuNet detection through cv2.FaceDetectorYN (box, 5 landmarks, score) and a soft
mask per face."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from animefy.errors import ModelLoadError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x, y, w, h in pixels
    landmarks: np.ndarray  # (5, 2): right eye, left eye, nose tip, right mouth corner, left mouth corner
    score: float

    @property
    def eye_centre(self) -> np.ndarray:
        return self.landmarks[:2].mean(axis=0)

    @property
    def roll(self) -> float:
        """In-plane rotation in degrees (0 when the eyes are level)."""
        (rx, ry), (lx, ly) = self.landmarks[0], self.landmarks[1]
        return float(np.degrees(np.arctan2(ly - ry, lx - rx)))


class YunetDetector:
    """cv2.FaceDetectorYN wrapper; detection runs on a downscaled copy for speed."""

    def __init__(
        self, path: Path, score_threshold: float = 0.7, max_side: int = 640, model: str | None = "yunet"
    ) -> None:
        self.path = str(path)
        self.score_threshold = score_threshold
        self.max_side = max_side
        self._lock = threading.Lock()
        try:
            self._detector = cv2.FaceDetectorYN.create(self.path, "", (320, 320), score_threshold, 0.3, 5000)
        except cv2.error as exc:
            log.warning("cannot load face detector %s: %s", self.path, exc)
            raise ModelLoadError(Path(path).name, model) from exc

    def __call__(self, rgb: np.ndarray) -> list[Face]:
        h, w = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if scale < 1.0:
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        with self._lock:  # the OpenCV detector object is not safe to share across threads
            self._detector.setInputSize(size)
            _, rows = self._detector.detect(bgr)
        faces = []
        for row in rows if rows is not None else []:
            box = tuple(float(v) / scale for v in row[:4])
            faces.append(Face(box, row[4:14].reshape(5, 2).astype(np.float32) / scale, float(row[14])))
        return sorted(faces, key=lambda f: -f.box[2] * f.box[3])


def face_mask(shape: tuple[int, int], faces: list[Face], grow: float = 1.0) -> np.ndarray:
    """Soft mask (float32 0..1) covering each face: an ellipse around the box, turned with the
    face's roll, with feathered edges proportional to the face size."""
    h, w = shape
    mask = np.zeros((h, w), np.float32)
    for face in faces:
        x, y, bw, bh = face.box
        centre = (x + bw / 2, y + bh * 0.45)
        axes = (max(1, int(bw * 0.62 * grow)), max(1, int(bh * 0.72 * grow)))
        one = np.zeros((h, w), np.float32)
        cv2.ellipse(one, (int(centre[0]), int(centre[1])), axes, face.roll, 0, 360, 1.0, -1, cv2.LINE_AA)
        sigma = max(1.0, 0.08 * max(bw, bh))
        one = cv2.GaussianBlur(one, (0, 0), sigma)
        np.maximum(mask, one, out=mask)
    return mask
