"""Blend stylized layers without visible seams: feathered alpha or multi-band (Laplacian
pyramid) blending, plus background sources (image, solid colour)."""

from __future__ import annotations

import re

import cv2
import numpy as np

from animefy.errors import InputError

BLEND_METHODS = ("laplacian", "feather")


def feather_blend(base: np.ndarray, top: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """base*(1-mask) + top*mask for uint8 RGB images and a float mask (H, W)."""
    m = mask[..., None]
    out = base.astype(np.float32) * (1.0 - m) + top.astype(np.float32) * m
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def laplacian_blend(base: np.ndarray, top: np.ndarray, mask: np.ndarray, levels: int = 4) -> np.ndarray:
    """Multi-band blend (Burt & Adelson): each frequency band is mixed with a mask blurred to
    that band's scale, so tone differences fade out smoothly while detail stays sharp."""
    h, w = mask.shape
    levels = int(max(0, min(levels, np.log2(max(1, min(h, w) / 16)))))
    if levels == 0:
        return feather_blend(base, top, mask)
    ga, gb, gm = [base.astype(np.float32)], [top.astype(np.float32)], [mask.astype(np.float32)]
    for _ in range(levels):
        ga.append(cv2.pyrDown(ga[-1]))
        gb.append(cv2.pyrDown(gb[-1]))
        gm.append(cv2.pyrDown(gm[-1]))
    out = ga[-1] + (gb[-1] - ga[-1]) * gm[-1][..., None]
    for i in range(levels - 1, -1, -1):
        size = (ga[i].shape[1], ga[i].shape[0])
        la = ga[i] - cv2.pyrUp(ga[i + 1], dstsize=size)
        lb = gb[i] - cv2.pyrUp(gb[i + 1], dstsize=size)
        out = cv2.pyrUp(out, dstsize=size) + la + (lb - la) * gm[i][..., None]
    # Far from the boundary (a whole pyramid footprint on one side) keep each layer exactly.
    result = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    kernel = np.ones((2 ** (levels + 2) + 1,) * 2, np.uint8)
    only_base = cv2.erode((mask <= 0.0).astype(np.uint8), kernel).astype(bool)
    only_top = cv2.erode((mask >= 1.0).astype(np.uint8), kernel).astype(bool)
    result[only_base] = base[only_base]
    result[only_top] = top[only_top]
    return result


def blend(base: np.ndarray, top: np.ndarray, mask: np.ndarray, method: str = "laplacian") -> np.ndarray:
    if method == "laplacian":
        return laplacian_blend(base, top, mask)
    if method == "feather":
        return feather_blend(base, top, mask)
    raise InputError(f"Unknown blend method '{method}'; use one of {BLEND_METHODS}.")


_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


def parse_colour(text: str) -> tuple[int, int, int]:
    """'#RRGGBB' or 'RRGGBB' -> (r, g, b)."""
    match = _HEX.match(text.strip())
    if not match:
        raise InputError(f"Colour {text[:12]!r} is not of the form #RRGGBB (for example #00b140).")
    v = match.group(1)
    return int(v[0:2], 16), int(v[2:4], 16), int(v[4:6], 16)


def solid(shape: tuple[int, int], rgb: tuple[int, int, int]) -> np.ndarray:
    out = np.empty((*shape, 3), np.uint8)
    out[:] = rgb
    return out


ANCHORS = {"center": (0.5, 0.5), "left": (0.0, 0.5), "right": (1.0, 0.5), "top": (0.5, 0.0), "bottom": (0.5, 1.0)}


def cover(image: np.ndarray, shape: tuple[int, int], position: str = "center") -> np.ndarray:
    """Resize `image` to fill (h, w) without distorting it, cropping around `position`
    ('center', or 'left' / 'right' / 'top' / 'bottom' to keep that part of the picture);
    'whole' fits all of it inside, over a blurred filled copy of itself."""
    h, w = shape
    ih, iw = image.shape[:2]
    if position == "whole":
        back = cv2.GaussianBlur(cover(image, shape), (0, 0), sigmaX=max(2.0, max(h, w) / 60))
        scale = min(h / ih, w / iw)
        size = (max(1, min(w, round(iw * scale))), max(1, min(h, round(ih * scale))))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        y0, x0 = (h - size[1]) // 2, (w - size[0]) // 2
        back[y0 : y0 + size[1], x0 : x0 + size[0]] = cv2.resize(image, size, interpolation=interp)
        return back
    if position not in ANCHORS:
        raise InputError(f"Unknown picture position {position!r}; use one of {', '.join([*ANCHORS, 'whole'])}.")
    ax, ay = ANCHORS[position]
    scale = max(h / ih, w / iw)
    size = (max(w, round(iw * scale)), max(h, round(ih * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    big = cv2.resize(image, size, interpolation=interp)
    y0, x0 = int((big.shape[0] - h) * ay), int((big.shape[1] - w) * ax)
    return np.ascontiguousarray(big[y0 : y0 + h, x0 : x0 + w])
