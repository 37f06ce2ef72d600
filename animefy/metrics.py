"""Temporal metrics for stylized video: warping error (Lai et al., ECCV 2018), PSNR against
the per-frame result, and a flicker score. Functions over sequences of uint8 RGB frames."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .flow import FlowEstimator, consistent, warp


def warping_error(
    outputs: Sequence[np.ndarray], inputs: Sequence[np.ndarray], flow: FlowEstimator | None = None
) -> float:
    """E_warp: flow computed on the input video (DIS here; Lai et al. used FlowNet2), occlusion
    mask from forward-backward consistency and motion boundaries, mean squared difference (in
    0..1 units) between output t and output t+1 warped onto t over non-occluded pixels,
    averaged over all consecutive pairs."""
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
