"""Synthetic clips with known motion, per-frame 'GAN' noise and injected one-frame glitches."""

from __future__ import annotations

import cv2
import numpy as np


def textured_scene(h: int = 144, w: int = 192, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    img = cv2.resize(base, (w * 2, h * 2), interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(img, (0, 0), 2.0)


def moving_clip(frames: int = 24, h: int = 144, w: int = 192, speed: float = 1.5, seed: int = 0):
    """A textured background panning slowly and a 'person' (bright ellipse with texture)
    moving across it. Returns (frames, person masks)."""
    scene = textured_scene(h, w, seed)
    person_tex = textured_scene(h, w, seed + 1)
    clips, masks = [], []
    for t in range(frames):
        dx = int(round(t * speed * 0.5))
        frame = scene[:h, dx : dx + w].copy()
        mask = np.zeros((h, w), np.float32)
        cx, cy = int(w * 0.35 + t * speed), h // 2
        cv2.ellipse(mask, (cx, cy), (w // 8, h // 3), 0, 0, 360, 1.0, -1)
        m = mask[..., None]
        frame = (frame * (1 - m) + (person_tex[:h, :w] * 0.5 + 120) * m).astype(np.uint8)
        clips.append(frame)
        masks.append(mask)
    return clips, masks


def gan_like(frames, amplitude: float = 6.0, seed: int = 1):
    """A 'stylizer' with per-frame random low-frequency noise: what per-frame GANs flicker like."""
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        h, w = f.shape[:2]
        noise = cv2.resize(
            rng.normal(0, amplitude, (h // 6, w // 6, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
        )
        out.append(np.clip(f.astype(np.float32) + noise, 0, 255).astype(np.uint8))
    return out


def inject_glitch(frame: np.ndarray, mask: np.ndarray, size: int = 14, seed: int = 0) -> np.ndarray:
    """Replace a small patch inside the person with something else for one frame."""
    ys, xs = np.nonzero(mask > 0.9)
    rng = np.random.default_rng(seed)
    i = rng.integers(len(ys))
    y, x = int(ys[i]), int(xs[i])
    out = frame.copy()
    y0, x0 = max(0, y - size // 2), max(0, x - size // 2)
    patch = out[y0 : y0 + size, x0 : x0 + size]
    out[y0 : y0 + size, x0 : x0 + size] = 255 - patch
    return out


def line_art_clip(frames: int = 24, h: int = 144, w: int = 192, speed: float = 0.4, seed: int = 0):
    """Thin dark strokes on flat colours panning by a fraction of a pixel per frame: the case
    where repeated warping blurs line art most. Drawn at 4x and reduced, so edges move smoothly."""
    rng = np.random.default_rng(seed)
    big = np.full((h * 4, (w + frames) * 4, 3), 235, np.uint8)
    for _ in range(40):
        colour = tuple(int(c) for c in rng.integers(60, 230, 3))
        centre = (int(rng.integers(0, big.shape[1])), int(rng.integers(0, big.shape[0])))
        cv2.circle(big, centre, int(rng.integers(20, 90)), colour, -1)
        cv2.circle(big, centre, int(rng.integers(20, 90)), (20, 20, 20), 4)
    clip = []
    for t in range(frames):
        shift = np.float32([[1, 0, -t * speed * 4], [0, 1, 0]])
        moved = cv2.warpAffine(big, shift, (w * 4, h * 4), flags=cv2.INTER_LINEAR)
        clip.append(cv2.resize(moved, (w, h), interpolation=cv2.INTER_AREA))
    return clip, [np.zeros((h, w), np.float32) for _ in clip]
