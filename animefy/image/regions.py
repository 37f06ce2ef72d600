"""Split a frame into soft region masks (face, body, background) that sum to 1."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import cv2
import numpy as np

from animefy.image.faces import Face, face_mask


@dataclass(frozen=True)
class Regions:
    alpha: np.ndarray  # person matte, float32 (H, W) 0..1
    faces: list[Face] = field(default_factory=list)  # the faces of people (the face pass redraws them)

    @functools.cached_property
    def face(self) -> np.ndarray:
        """Face part of the person (soft ellipses inside the matte), made when first asked for."""
        if not self.faces:
            return np.zeros_like(self.alpha)
        return np.minimum(face_mask(self.alpha.shape, self.faces), self.alpha)

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
    return Regions(np.clip(alpha.astype(np.float32, copy=False), 0.0, 1.0), list(faces or []))


def whole_frame_regions(shape: tuple[int, int], faces: list[Face] | None = None) -> Regions:
    """Regions when no split is needed: everything is 'person' (one style everywhere)."""
    return Regions(np.ones(shape, np.float32), list(faces or []))


def person_boxes(
    mask: np.ndarray, threshold: float = 0.03, margin: float = 0.15, min_margin: int = 12
) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) around each person (connected part of mask > threshold), grown by
    `margin` of its own size (at least `min_margin` px); overlapping boxes are merged."""
    binary = (mask > threshold).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    h, w = mask.shape
    boxes = []
    for x, y, bw, bh, _area in stats[1:count]:
        my, mx = max(min_margin, int(margin * bh)), max(min_margin, int(margin * bw))
        boxes.append([max(0, y - my), min(h, y + bh + my), max(0, x - mx), min(w, x + bw + mx)])
    return merge_boxes(boxes)


def merge_boxes(boxes: list[list[int]]) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) boxes merged until no two overlap."""
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]:
                    boxes[i] = [min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return [tuple(int(v) for v in b) for b in boxes]
