"""Optical flow helpers on numpy images: DIS flow at a reduced resolution, warping, and the
forward-backward consistency mask used by the supervisor and the metrics."""

from __future__ import annotations

import functools

import cv2
import numpy as np


def to_gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb


def resize_to(img: np.ndarray, max_side: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(1.0, max_side / max(h, w))
    if s == 1.0:
        return img
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


class FlowEstimator:
    """DIS optical flow (OpenCV) on grey images; one object per thread/stream."""

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) -> None:
        self.dis = cv2.DISOpticalFlow_create(preset)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flow from a to b: pixel x of a is at x + flow[x] in b. float32 (H, W, 2)."""
        return self.dis.calc(to_gray(a), to_gray(b), None)


class FarnebackFlow:
    """OpenCV's Farneback flow, same interface: an independent flow for cross-checking metrics."""

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(to_gray(a), to_gray(b), None, 0.5, 4, 15, 3, 5, 1.2, 0)


def warp(img: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Sample `img` at x + flow(x): aligns the frame the flow points to onto the flow's origin.
    `flow` may be smaller than `img`; it is upsampled and scaled. Bilinear sampling is a
    low-pass filter: pass cv2.INTER_CUBIC for pictures that are warped again and again."""
    h, w = img.shape[:2]
    if flow.shape[:2] != (h, w):
        sy, sx = h / flow.shape[0], w / flow.shape[1]
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * np.array([sx, sy], np.float32)
    gx, gy = pixel_grid(h, w)
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], interpolation, borderMode=cv2.BORDER_REPLICATE)


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
