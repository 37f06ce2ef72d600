"""Temporal metrics for stylized video: warping error (Lai et al., ECCV 2018), PSNR against
the per-frame result, a flicker score and detail retention. Functions over sequences of
uint8 RGB frames."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import cv2
import numpy as np

from animefy.video.flow import FlowEstimator, consistent, warp


def warping_error(
    outputs: Sequence[np.ndarray],
    inputs: Sequence[np.ndarray],
    flow: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> float:
    """E_warp: flow computed on the input video (DIS here; Lai et al. used FlowNet2), occlusion
    mask from forward-backward consistency and motion boundaries, mean squared difference (in
    0..1 units) between output t and output t+1 warped onto t over non-occluded pixels,
    averaged over all consecutive pairs. Pass `flow=FarnebackFlow()` to measure with a flow
    the supervisor does not use."""
    flow = flow or FlowEstimator()
    errors = []
    for t in range(len(outputs) - 1):
        fwd, bwd = flow(inputs[t], inputs[t + 1]), flow(inputs[t + 1], inputs[t])
        mask = consistent(fwd, bwd)
        a = outputs[t].astype(np.float32) / 255.0
        b = warp(outputs[t + 1].astype(np.float32) / 255.0, fwd)
        sq = ((a - b) ** 2).sum(-1)
        errors.append(float((sq * mask).sum() / max(mask.sum(), 1.0)))
    return float(np.mean(errors)) if errors else 0.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def mean_psnr(a: Iterable[np.ndarray], b: Iterable[np.ndarray]) -> float:
    values = [psnr(x, y) for x, y in zip(a, b, strict=True)]
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("inf")


def flicker_score(frames: Sequence[np.ndarray]) -> float:
    """Mean absolute difference between consecutive frames (0..255)."""
    diffs = [np.abs(frames[t + 1].astype(np.int16) - frames[t]).mean() for t in range(len(frames) - 1)]
    return float(np.mean(diffs)) if diffs else 0.0


def detail_retention(outputs: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> float:
    """How much line and texture detail `outputs` keep of `reference` (the per-frame result):
    the ratio of their mean absolute Laplacian of grey levels. 1.0 = as sharp; over-smoothing
    (e.g. compounded warping blur) shows as values well below 1."""

    def energy(frames: Sequence[np.ndarray]) -> float:
        grey = (cv2.cvtColor(np.ascontiguousarray(f[..., :3]), cv2.COLOR_RGB2GRAY) for f in frames)
        return float(np.mean([np.abs(cv2.Laplacian(g, cv2.CV_32F)).mean() for g in grey]))

    ref = energy(reference)
    return energy(outputs) / ref if ref > 0 else 1.0
