"""Split a frame into soft region masks (face, body, background) that sum to 1."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .faces import Face, face_mask


@dataclass(frozen=True)
class Regions:
    alpha: np.ndarray  # person matte, float32 (H, W) 0..1
    face: np.ndarray  # face part of the person
    faces: list[Face] = field(default_factory=list)

    @property
    def body(self) -> np.ndarray:
        return self.alpha - self.face

    @property
    def background(self) -> np.ndarray:
        return 1.0 - self.alpha

    @property
    def face_share(self) -> np.ndarray:
        """Fraction of the person that is face, 0..1 (used to blend face style into body style)."""
        return np.divide(self.face, self.alpha, out=np.zeros_like(self.face), where=self.alpha > 1e-3)


def make_regions(alpha: np.ndarray, faces: list[Face] | None = None) -> Regions:
    alpha = np.clip(alpha.astype(np.float32, copy=False), 0.0, 1.0)
    faces = faces or []
    face = np.minimum(face_mask(alpha.shape, faces), alpha) if faces else np.zeros_like(alpha)
    return Regions(alpha, face, faces)


def whole_frame_regions(shape: tuple[int, int]) -> Regions:
    """Regions when no split is needed: everything is 'person' (one style everywhere)."""
    return Regions(np.ones(shape, np.float32), np.zeros(shape, np.float32), [])


def bounding_box(mask: np.ndarray, threshold: float = 0.03, margin: float = 0.08) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of mask > threshold, grown by `margin` of the frame size; None if empty."""
    rows = np.flatnonzero(mask.max(axis=1) > threshold)
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.max(axis=0) > threshold)
    h, w = mask.shape
    my, mx = int(margin * h), int(margin * w)
    return max(0, rows[0] - my), min(h, rows[-1] + 1 + my), max(0, cols[0] - mx), min(w, cols[-1] + 1 + mx)
