"""Optical flow on numpy images: the one place motion is estimated. `Motion` holds the
motion between the drawings of one clip, each (pair, preset, size) estimated once and asked
for by every stage (matte check, reuse, face tracks, supervisor); DIS flow at a reduced
resolution, warping, and the forward-backward consistency mask used by the supervisor and
the metrics."""

from __future__ import annotations

import functools
from collections.abc import Callable

import cv2
import numpy as np


def to_gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb


def resize_to(img: np.ndarray, max_side: int, min_side: int = 1, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """`img` scaled down so its long side is at most `max_side` (never up)."""
    h, w = img.shape[:2]
    s = min(1.0, max_side / max(h, w))
    if s == 1.0:
        return img
    return cv2.resize(img, (max(min_side, round(w * s)), max(min_side, round(h * s))), interpolation=interpolation)


def resize_flow(flow: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A flow field brought to another (h, w), its vectors scaled with it."""
    h, w = shape
    if flow.shape[:2] == (h, w):
        return flow
    sy, sx = h / flow.shape[0], w / flow.shape[1]
    return cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * np.array([sx, sy], np.float32)


class FlowEstimator:
    """DIS optical flow (OpenCV) on grey images; one object per thread/stream."""

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) -> None:
        self.dis = cv2.DISOpticalFlow_create(preset)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flow from a to b: pixel x of a is at x + flow[x] in b. float32 (H, W, 2)."""
        return self.dis.calc(to_gray(a), to_gray(b), None)


MEDIUM = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
FAST = cv2.DISOPTICAL_FLOW_PRESET_FAST
Estimator = Callable[[np.ndarray, np.ndarray], np.ndarray]


class Motion:
    """The motion between the drawings of one clip, estimated once per (pair, preset, size).

    The streaming loop `add`s each drawing (its index, counting from 0) and owns `reset()`;
    stages ask `flow(a, b)` for the drawings they compare (the matte's check, the person plate,
    the face tracks and the supervisor all ask for a drawing and the one before it) and get
    the same estimate, at the clip's motion size `side`, resized to the shape they work at.
    Drawings older than the last `keep` are forgotten. `estimators` makes the estimator for a
    preset (tests count the estimates through it); `estimates` counts them."""

    def __init__(
        self,
        side: int = 640,
        keep: int = 8,
        preset: int = MEDIUM,
        estimators: Callable[[int], Estimator] | None = None,
    ) -> None:
        self.side, self.keep, self.preset = side, max(2, keep), preset
        self.estimators = estimators or FlowEstimator
        self._made: dict[int, Estimator] = {}
        self.estimates = 0
        self.reset()

    def reset(self) -> None:
        """Forget every drawing (a new clip)."""
        self.greys: dict[int, np.ndarray] = {}  # drawing -> grey at the motion size
        self.flows: dict[tuple[int, int, int, int], np.ndarray] = {}
        self.last = -1

    def add(self, rgb: np.ndarray, index: int | None = None) -> int:
        """Register a drawing (the next index unless given); returns its index. A drawing of
        another size than the ones kept starts the motion over (nothing to compare with)."""
        index = self.last + 1 if index is None else index
        grey = resize_to(to_gray(rgb), self.side, min_side=8)
        if any(g.shape != grey.shape for g in self.greys.values()):
            self.reset()
        self.greys[index] = grey
        self.last = max(self.last, index)
        old = self.last - self.keep
        self.greys = {i: g for i, g in self.greys.items() if i > old}
        self.flows = {k: f for k, f in self.flows.items() if k[0] > old and k[1] > old}
        return index

    def has(self, index: int) -> bool:
        return index in self.greys

    def grey(self, index: int) -> np.ndarray:
        """The drawing's grey copy at the motion size."""
        return self.greys[index]

    def estimate(self, a: np.ndarray, b: np.ndarray, preset: int = MEDIUM) -> np.ndarray:
        """Flow between two pictures that are not both drawings of the clip (a prediction):
        not cached, but counted and made by the same estimators."""
        if preset not in self._made:
            self._made[preset] = self.estimators(preset)
        self.estimates += 1
        return self._made[preset](a, b)

    def flow(self, a: int, b: int, shape: tuple[int, int] | None = None, preset: int | None = None) -> np.ndarray:
        """Flow from drawing a to drawing b (pixel x of a is at x + flow[x] in b) at the motion
        size, or resized to `shape` (h, w) with its vectors scaled. Estimated once per pair and
        preset (the motion's own unless given); both drawings must still be kept."""
        preset = self.preset if preset is None else preset
        key = (a, b, preset, self.side)
        if key not in self.flows:
            self.flows[key] = self.estimate(self.greys[a], self.greys[b], preset)
        flow = self.flows[key]
        return flow if shape is None else resize_flow(flow, shape)


class FarnebackFlow:
    """OpenCV's Farneback flow, same interface: an independent flow for cross-checking metrics."""

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(to_gray(a), to_gray(b), None, 0.5, 4, 15, 3, 5, 1.2, 0)


def warp(img: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Sample `img` at x + flow(x): aligns the frame the flow points to onto the flow's origin.
    `flow` may be smaller than `img`; it is upsampled and scaled. Bilinear sampling is a
    low-pass filter: pass cv2.INTER_CUBIC for pictures that are warped again and again."""
    h, w = img.shape[:2]
    flow = resize_flow(flow, (h, w))
    gx, gy = pixel_grid(h, w)
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], interpolation, borderMode=cv2.BORDER_REPLICATE)


def warp_box(
    img: np.ndarray, flow: np.ndarray, box: tuple[int, int, int, int], interpolation: int = cv2.INTER_LINEAR
) -> np.ndarray:
    """`warp(img, flow)[y0:y1, x0:x1]` for box = (y0, y1, x0, x1), computing that box only."""
    y0, y1, x0, x1 = box
    h, w = img.shape[:2]
    flow = resize_flow(flow, (h, w))[y0:y1, x0:x1]
    gx, gy = pixel_grid(h, w)
    mx, my = gx[y0:y1, x0:x1] + flow[..., 0], gy[y0:y1, x0:x1] + flow[..., 1]
    return cv2.remap(img, mx, my, interpolation, borderMode=cv2.BORDER_REPLICATE)


@functools.lru_cache(maxsize=8)
def pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinate grids, made once per frame size (warp runs several times a frame)."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.flags.writeable = gy.flags.writeable = False
    return gx, gy


def consistent(fwd: np.ndarray, bwd: np.ndarray, motion_boundaries: bool = True) -> np.ndarray:
    """Non-occlusion mask (float32 0/1) for `fwd` (a->b) given `bwd` (b->a): forward-backward
    consistency, and optionally motion boundaries (as in Lai et al. 2018 / Ruder et al. 2016)."""
    back = warp(bwd, fwd)
    diff = ((fwd + back) ** 2).sum(-1)
    ok = diff < 0.01 * ((fwd**2).sum(-1) + (back**2).sum(-1)) + 0.5
    if motion_boundaries:
        gx = cv2.Sobel(bwd, cv2.CV_32F, 1, 0, ksize=1)
        gy = cv2.Sobel(bwd, cv2.CV_32F, 0, 1, ksize=1)
        grad = (gx**2).sum(-1) + (gy**2).sum(-1)
        ok &= grad < 0.01 * (bwd**2).sum(-1) + 0.002
    return ok.astype(np.float32)


def resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if mask.shape[:2] == shape:
        return mask
    return cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
