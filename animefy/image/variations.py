"""Background variations: time of day and season as colour grades applied to the background
layer only (the person keeps their look). Pure functions on uint8 RGB images."""

from __future__ import annotations

import cv2
import numpy as np

from animefy.errors import InputError
from animefy.schema import VARIATIONS


def _hsv(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)


def _rgb(hsv: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB_FULL)


def _tint(rgb: np.ndarray, colour: tuple[float, float, float], amount: float, gain: float = 1.0) -> np.ndarray:
    out = rgb.astype(np.float32) * gain
    out = out * (1 - amount) + np.array(colour, np.float32) * (out.mean(-1, keepdims=True) / 255.0) * 255.0 * amount
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _vertical_gradient(h: int, w: int, top: tuple, bottom: tuple) -> np.ndarray:
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    return np.broadcast_to(np.array(top, np.float32) * (1 - t) + np.array(bottom, np.float32) * t, (h, w, 3))


def _shift_hues(rgb: np.ndarray, lo: float, hi: float, to: float, strength: float) -> np.ndarray:
    """Move hues in [lo, hi] (0..255 scale) towards `to` (e.g. greens to orange for autumn)."""
    hsv = _hsv(rgb)
    h = hsv[..., 0]
    inside = np.clip(1.0 - np.abs(h - (lo + hi) / 2) / ((hi - lo) / 2), 0, 1) * strength
    hsv[..., 0] = h + (to - h) * inside
    return _rgb(hsv)


def apply_variation(rgb: np.ndarray, variation: str) -> np.ndarray:
    """Grade a background image for a time of day or a season."""
    if variation in ("none", "", None):
        return rgb
    h, w = rgb.shape[:2]
    if variation == "day":
        hsv = _hsv(rgb)
        hsv[..., 1] *= 1.15
        hsv[..., 2] = hsv[..., 2] * 1.08 + 6
        return _tint(_rgb(hsv), (0.95, 1.0, 1.05), 0.08)
    if variation == "dusk":
        graded = _tint(rgb, (1.0, 0.62, 0.42), 0.35, gain=0.85).astype(np.float32)
        glow = _vertical_gradient(h, w, (255, 150, 90), (80, 40, 90))
        return np.clip(graded * 0.8 + glow * 0.2 + 0.5, 0, 255).astype(np.uint8)
    if variation == "night":
        hsv = _hsv(rgb)
        hsv[..., 1] *= 0.6
        hsv[..., 2] *= 0.45
        night = _tint(_rgb(hsv), (0.45, 0.6, 1.0), 0.45).astype(np.float32)
        sky = _vertical_gradient(h, w, (20, 30, 70), (5, 8, 25))
        return np.clip(night * 0.85 + sky * 0.15 + 0.5, 0, 255).astype(np.uint8)
    if variation == "spring":
        return _tint(_shift_hues(rgb, 20, 70, 60, 0.3), (1.0, 0.85, 0.92), 0.12, gain=1.04)
    if variation == "summer":
        hsv = _hsv(rgb)
        hsv[..., 1] *= 1.3
        return _tint(_rgb(hsv), (1.0, 0.95, 0.8), 0.1, gain=1.05)
    if variation == "autumn":
        return _tint(_shift_hues(rgb, 40, 120, 20, 0.85), (1.0, 0.8, 0.6), 0.15)
    if variation == "winter":
        hsv = _hsv(rgb)
        hsv[..., 1] *= 0.45
        hsv[..., 2] = hsv[..., 2] * 0.85 + 40
        return _tint(_rgb(hsv), (0.85, 0.93, 1.0), 0.25)
    raise InputError(f"Unknown background variation '{variation}'; use one of {', '.join(VARIATIONS)}.")
