"""Faces: YuNet detection through cv2.FaceDetectorYN (box, 5 landmarks, score), a soft mask
per face, and the geometry of aligned face crops: a similarity transform that puts the five
landmarks on a template, the crop it cuts, and the paste back through its inverse (used by
the face pass and by DCT-Net's head model)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from animefy.errors import AnimefyError, ModelLoadError
from animefy.models.capabilities import Capabilities

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x, y, w, h in pixels
    landmarks: np.ndarray  # (5, 2): right eye, left eye, nose tip, right mouth corner, left mouth corner
    score: float
    track: int | None = None  # stable id across video frames (the face tracker's), else None

    @property
    def eye_centre(self) -> np.ndarray:
        return self.landmarks[:2].mean(axis=0)

    @property
    def roll(self) -> float:
        """In-plane rotation in degrees (0 when the eyes are level)."""
        (rx, ry), (lx, ly) = self.landmarks[0], self.landmarks[1]
        return float(np.degrees(np.arctan2(ly - ry, lx - rx)))


# The five reference points (eyes, nose tip, mouth corners) of the common 112x112 square
# face template, image-left eye first, as YuNet orders its landmarks too.
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]], np.float32
)


def face_template(size: int, ratio: float = 0.75) -> np.ndarray:
    """Where the five points land in a size x size crop: the 112 template shrunk by `ratio`
    about its centre (a smaller ratio leaves more room for hair and chin), scaled to `size`."""
    return ((TEMPLATE_112 - 56.0) * ratio + 56.0) * (size / 112.0)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, shift) taking the points
    `src` (N, 2) onto `dst` (N, 2), as a 2x3 matrix. Closed form (points as complex numbers),
    so it moves smoothly with its points, which video smoothing relies on."""
    p = src[:, 0].astype(np.float64) + 1j * src[:, 1].astype(np.float64)
    q = dst[:, 0].astype(np.float64) + 1j * dst[:, 1].astype(np.float64)
    pc, qc = p - p.mean(), q - q.mean()
    denom = float((np.abs(pc) ** 2).sum())
    if denom < 1e-9:
        raise AnimefyError("Could not align a face (degenerate landmarks).")
    c = (np.conj(pc) * qc).sum() / denom
    t = q.mean() - c * p.mean()
    return np.array([[c.real, -c.imag, t.real], [c.imag, c.real, t.imag]], np.float32)


def face_matrix(landmarks: np.ndarray, size: int, ratio: float = 0.75, robust: bool = False) -> np.ndarray:
    """2x3 matrix image -> size x size crop that puts the five landmarks on the template.
    `robust` fits with LMEDS (one bad landmark does not tilt the crop, but the fit can jump
    between frames); otherwise least squares."""
    target = face_template(size, ratio)
    if not robust:
        return similarity(landmarks, target)
    matrix, _ = cv2.estimateAffinePartial2D(landmarks.astype(np.float32), target, method=cv2.LMEDS)
    if matrix is None:
        raise AnimefyError("Could not align a face (degenerate landmarks).")
    return matrix


def crop_scale(matrix: np.ndarray) -> float:
    """Crop pixels per image pixel of a similarity matrix."""
    return float(np.sqrt(abs(np.linalg.det(matrix[:, :2].astype(np.float64)))))


def align_face(rgb: np.ndarray, matrix: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(size x size crop of `rgb` through `matrix`, the matrix)."""
    crop = cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return crop, matrix


def _shrunk(crop: np.ndarray, matrix: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`crop` resized to n x n by area averaging and the matrix image -> that smaller crop
    (pixel centres kept: u = (v + 0.5) * k - 0.5)."""
    size = crop.shape[0]
    k = size / n
    small = cv2.resize(crop, (n, n), interpolation=cv2.INTER_AREA)
    to_small = np.array([[1 / k, 0, 0.5 / k - 0.5], [0, 1 / k, 0.5 / k - 0.5], [0, 0, 1]], np.float64)
    m = to_small @ np.vstack([matrix.astype(np.float64), [0, 0, 1]])
    return small, m[:2].astype(np.float32)


def paste_face(canvas: np.ndarray, face: np.ndarray, matrix: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Warp the square crop `face` back onto `canvas` with the inverse of `matrix` (image ->
    crop) and blend it in through the (also warped) soft `mask`. Only the crop's footprint is
    touched; a crop much larger than its footprint is first reduced by area averaging, so
    the paste does not alias. Returns a new image."""
    out = canvas.copy()
    h, w = canvas.shape[:2]
    scale = crop_scale(matrix)
    if scale > 1.5:  # the crop was drawn larger than the face is in the picture
        n = max(8, int(np.ceil(face.shape[0] / scale)))
        face, small = _shrunk(face, matrix, n)
        mask, matrix = _shrunk(mask.astype(np.float32), matrix, n)[0], small
    inverse = cv2.invertAffineTransform(matrix)
    n = face.shape[0]
    corners = cv2.transform(np.array([[[-1, -1], [n, -1], [-1, n], [n, n]]], np.float32), inverse)[0]
    x0, y0 = np.floor(corners.min(axis=0)).astype(int)
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return out
    inverse[:, 2] -= (x0, y0)  # into the footprint's own coordinates
    size = (x1 - x0, y1 - y0)
    back = cv2.warpAffine(face, inverse, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    weight = cv2.warpAffine(mask.astype(np.float32), inverse, size, flags=cv2.INTER_LINEAR, borderValue=0.0)
    weight = weight[..., None]
    roi = out[y0:y1, x0:x1]
    mixed = roi.astype(np.float32) * (1.0 - weight) + back.astype(np.float32) * weight
    out[y0:y1, x0:x1] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    return out


class YunetDetector:
    """cv2.FaceDetectorYN wrapper; detection runs on a downscaled copy for speed."""

    def __init__(
        self,
        path: Path,
        score_threshold: float = 0.7,
        max_side: int = 640,
        model: str | None = "yunet",
        caps: Capabilities | None = None,
    ) -> None:
        self.path = str(path)
        self.caps = caps or Capabilities("face")
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
