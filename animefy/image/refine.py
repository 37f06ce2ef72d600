"""Matte refinement: edges that follow the full-resolution picture (fast guided filter, He et
al. 2010/2015), foreground colours without the old background's fringe (blur fusion, Forte &
Pitie 2021), and a cheap temporal check that removes one-frame holes and blobs from a video's
alpha. Pure numpy/OpenCV; no model."""

from __future__ import annotations

import cv2
import numpy as np

from animefy.video.clip import Drawing
from animefy.video.flow import Motion, resize_to, warp

# ---------------------------------------------------------------------------------------------
# Guided filter


def _box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window (reflected borders)."""
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def _guide(rgb: np.ndarray, colour: bool) -> np.ndarray:
    if colour and rgb.ndim == 3:
        return rgb.astype(np.float32) * (1.0 / 255.0)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    return grey.astype(np.float32) * (1.0 / 255.0)


def _coefficients(guide: np.ndarray, p: np.ndarray, r: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean-filtered linear coefficients (A, b) with q = A . I + b, for a grey (H, W) or
    colour (H, W, 3) guide."""
    mean_p = _box(p, r)
    if guide.ndim == 2:
        mean_i = _box(guide, r)
        var_i = _box(guide * guide, r) - mean_i * mean_i
        cov_ip = _box(guide * p, r) - mean_i * mean_p
        a = cov_ip / (var_i + eps)
        b = mean_p - a * mean_i
        return _box(a, r), _box(b, r)
    mean_i = _box(guide, r)
    cov_ip = _box(guide * p[..., None], r) - mean_i * mean_p[..., None]
    # Covariance of the guide's channels, plus eps on the diagonal; inverted per pixel with
    # the closed form of a symmetric 3x3 inverse.
    c = {}
    for i, j in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)):
        c[i, j] = _box(guide[..., i] * guide[..., j], r) - mean_i[..., i] * mean_i[..., j]
    rr, rg, rb, gg, gb, bb = c[0, 0] + eps, c[0, 1], c[0, 2], c[1, 1] + eps, c[1, 2], c[2, 2] + eps
    i_rr = gg * bb - gb * gb
    i_rg = gb * rb - rg * bb
    i_rb = rg * gb - gg * rb
    i_gg = rr * bb - rb * rb
    i_gb = rb * rg - rr * gb
    i_bb = rr * gg - rg * rg
    det = rr * i_rr + rg * i_rg + rb * i_rb
    x, y, z = cov_ip[..., 0], cov_ip[..., 1], cov_ip[..., 2]
    a = np.stack(
        [
            (i_rr * x + i_rg * y + i_rb * z) / det,
            (i_rg * x + i_gg * y + i_gb * z) / det,
            (i_rb * x + i_gb * y + i_bb * z) / det,
        ],
        -1,
    )
    b = mean_p - (a * mean_i).sum(-1)
    return _box(a, r), _box(b, r)


def guided_filter(
    guide: np.ndarray,
    src: np.ndarray,
    radius: int,
    eps: float = 1e-3,
    colour: bool = True,
    scale: float = 1.0,
) -> np.ndarray:
    """Edge-aware filter of `src` (float32 (h, w), any size) guided by the uint8 RGB `guide`
    (H, W, 3) at full resolution; returns float32 (H, W).

    `src` is first resized to the guide's size. The linear coefficients are computed at
    `scale` times the guide's size (the fast guided filter: `radius` is in full-resolution
    pixels), upsampled, and applied to the full-resolution guide, so the output's edges come
    from the picture, not from the (possibly blurry, low-resolution) input. `eps` is in
    (0..1 intensity)^2: smaller snaps harder to image edges."""
    h, w = guide.shape[:2]
    src = src.astype(np.float32, copy=False)
    sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
    if scale < 1.0:
        small_guide = cv2.resize(guide, (sw, sh), interpolation=cv2.INTER_AREA)
        r = max(1, round(radius * scale))
    else:
        small_guide, r = guide, radius
    p = src if src.shape == (sh, sw) else cv2.resize(src, (sw, sh), interpolation=cv2.INTER_LINEAR)
    a, b = _coefficients(_guide(small_guide, colour), p, r, eps)
    if (sh, sw) != (h, w):
        a = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
        b = cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR)
    full = _guide(guide, colour)
    q = (a * full).sum(-1) + b if full.ndim == 3 else a * full + b
    return q


def refine_alpha(
    rgb: np.ndarray,
    alpha: np.ndarray,
    radius: int | None = None,
    eps: float = 1e-4,
    colour: bool = True,
) -> np.ndarray:
    """Upsample a (low-resolution) alpha to the frame and snap its edges to the frame's edges.
    Only the uncertain band around the boundary changes: where the upsampled alpha is solidly
    0 or 1 over the filter's footprint it is kept as it is, so no texture is printed into the
    person or the background. Returns float32 (H, W) in 0..1."""
    h, w = rgb.shape[:2]
    if radius is None:
        radius = default_radius(h, w, alpha.shape)
    up = alpha if alpha.shape == (h, w) else cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
    up = np.clip(up, 0.0, 1.0).astype(np.float32, copy=False)
    # Coefficients at (about) the alpha's own resolution, at most 512 px on the long side: the
    # cost is that of a small image, the edges are those of the full one.
    scale = min(1.0, max(alpha.shape) / max(h, w), 512 / max(h, w))
    q = np.clip(guided_filter(rgb, up, radius, eps, colour, scale), 0.0, 1.0)
    k = 2 * radius + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    band = cv2.dilate((up > 0.02).astype(np.uint8), kernel) & cv2.dilate((up < 0.98).astype(np.uint8), kernel)
    return np.where(band.astype(bool), q, up).astype(np.float32)


def default_radius(h: int, w: int, alpha_shape: tuple[int, ...] = ()) -> int:
    """Filter radius for a frame: about 1/200 of the long side, and at least the upsampling
    factor of the alpha (its blur is that wide)."""
    r = max(2, round(max(h, w) / 200))
    if alpha_shape:
        r = max(r, round(max(h, w) / max(alpha_shape[:2])))
    return int(r)


# ---------------------------------------------------------------------------------------------
# Foreground colour


def _blurred_colours(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray, r: int):
    """Alpha-weighted local means of the foreground and (1 - alpha)-weighted local means of
    the background colours over a (2r+1)^2 window."""
    k = (2 * r + 1, 2 * r + 1)
    a3 = alpha[..., None]
    blurred_alpha = cv2.blur(alpha, k)[..., None]
    blurred_f = cv2.blur(fg * a3, k) / (blurred_alpha + 1e-5)
    blurred_b = cv2.blur(bg * (1.0 - a3), k) / ((1.0 - blurred_alpha) + 1e-5)
    return blurred_f, blurred_b


def _fuse(image: np.ndarray, blurred_f: np.ndarray, blurred_b: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a3 = alpha[..., None]
    return np.clip(blurred_f + a3 * (image - a3 * blurred_f - (1.0 - a3) * blurred_b), 0.0, 1.0)


def decontaminate(rgb: np.ndarray, alpha: np.ndarray, radius: int | None = None) -> np.ndarray:
    """Foreground colours for a uint8 RGB frame and its float alpha: in the semi-transparent
    band the old background's colour is taken out (two-pass blur fusion, Forte & Pitie,
    "Approximate fast foreground colour estimation", ICIP 2021), so the person composited over
    another background or saved with transparency shows no halo. Where alpha is 1 the pixels
    are returned unchanged. uint8 RGB (H, W, 3)."""
    h, w = rgb.shape[:2]
    a = np.clip(alpha.astype(np.float32, copy=False), 0.0, 1.0)
    if a.shape != (h, w):
        a = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
    out = rgb.copy()
    soft = (a > 0.002) & (a < 0.998)
    if not soft.any():
        return out
    r = radius or max(8, round(max(h, w) / 20))
    r2 = max(2, r // 15)
    # Pass 1 (wide windows) at a reduced size: its means are smooth, upsampling loses nothing.
    f = max(1, r // 8)
    sw, sh = max(1, round(w / f)), max(1, round(h / f))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32) * (1.0 / 255.0)
    small_a = cv2.resize(a, (sw, sh), interpolation=cv2.INTER_AREA)
    bf, bb = _blurred_colours(small, small, small_a, max(1, round(r / f)))
    # Pass 2 (narrow windows) at full resolution, only around the soft band.
    ys, xs = np.nonzero(soft)
    m = 2 * r2 + 2
    y0, y1, x0, x1 = max(0, ys.min() - m), min(h, ys.max() + m + 1), max(0, xs.min() - m), min(w, xs.max() + m + 1)
    bf = cv2.resize(bf, (w, h), interpolation=cv2.INTER_LINEAR)[y0:y1, x0:x1]
    bb = cv2.resize(bb, (w, h), interpolation=cv2.INTER_LINEAR)[y0:y1, x0:x1]
    image = rgb[y0:y1, x0:x1].astype(np.float32) * (1.0 / 255.0)
    ac = np.ascontiguousarray(a[y0:y1, x0:x1])
    f1 = _fuse(image, bf, bb, ac)
    bf2, bb2 = _blurred_colours(f1, bb, ac, r2)
    f2 = _fuse(image, bf2, bb2, ac)
    crop = out[y0:y1, x0:x1]
    sc = soft[y0:y1, x0:x1]
    crop[sc] = np.clip(f2[sc] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out


# ---------------------------------------------------------------------------------------------
# Temporal check


class AlphaStabilizer:
    """Per-video temporal check on a person alpha, fed frame by frame with `push(rgb, alpha)`.

    A change of the raw alpha at a pixel is accepted when the picture changed there too
    (after motion compensation with DIS flow at `flow_side` pixels), or when it persists for
    a second frame. A change that appears for one frame only, where the picture did not move
    or change, is a model glitch (a hole in an arm, a patch of background stuck to a hand):
    that pixel keeps the previous frame's alpha, carried along the flow. A real move changes
    the picture, so the alpha follows it at once; a change on an unchanged picture is accepted
    one frame later. `smoothing` (0..1) also pulls small alpha changes on an unchanged
    picture towards the previous frame (less edge shimmer). A few ms per 640 px frame."""

    def __init__(
        self,
        flow_side: int = 256,
        image_threshold: float = 10.0,
        jump: float = 0.3,
        smoothing: float = 0.15,
    ) -> None:
        self.flow_side = flow_side
        self.image_threshold = image_threshold  # grey levels of local change that mean "the picture changed"
        self.jump = jump  # an alpha change bigger than this is a candidate glitch
        self.smoothing = smoothing
        # On its own it estimates the motion itself; in a clip it gets it from the drawing.
        self.motion = Motion(side=flow_side, keep=2, preset=cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self.reset()

    def reset(self) -> None:
        self.motion.reset()
        self.prev_grey: np.ndarray | None = None
        self.prev_raw: np.ndarray | None = None
        self.prev_out: np.ndarray | None = None
        self.prev_shape: tuple[int, int] | None = None
        self.last_weight: np.ndarray | None = None

    def _small(self, img: np.ndarray) -> np.ndarray:
        return resize_to(img, self.flow_side, min_side=8)

    def push(self, rgb: np.ndarray, alpha: np.ndarray, drawing: Drawing | None = None) -> np.ndarray:
        """The stabilized alpha (float32 (H, W)) for this frame, given its raw alpha. In a clip
        `drawing` gives the frame's place and the clip's motion (else this object's own)."""
        alpha = alpha.astype(np.float32, copy=False)
        drawing = drawing or Drawing.start(self.motion, rgb)
        raw = self._small(alpha)
        grey = drawing.grey
        if grey.shape != raw.shape:
            grey = cv2.resize(grey, (raw.shape[1], raw.shape[0]), interpolation=cv2.INTER_AREA)
        if self.prev_grey is None or self.prev_shape != alpha.shape or not drawing.has_previous:
            self.prev_grey, self.prev_raw, self.prev_out, self.prev_shape = grey, raw, alpha, alpha.shape
            self.last_weight = np.zeros_like(raw)
            return alpha
        # Flow from this frame to the previous one: warp() brings previous-frame maps here.
        flow = drawing.to_previous(grey.shape)
        prev_grey = warp(self.prev_grey.astype(np.float32), flow)
        prev_raw = warp(self.prev_raw, flow)
        change = cv2.blur(np.abs(grey.astype(np.float32) - prev_grey), (5, 5))
        unchanged = np.clip(1.0 - change / self.image_threshold, 0.0, 1.0)
        if unchanged.mean() < 0.25:  # a cut (or another picture): nothing to compare with
            self.prev_grey, self.prev_raw, self.prev_out = grey, raw, alpha
            self.last_weight = np.zeros_like(raw)
            return alpha
        prev_out_small = warp(self._small(self.prev_out), flow)
        # A jump of the raw alpha since the last frame: a glitch unless the picture changed too.
        jumped = np.clip((np.abs(raw - prev_raw) - self.jump) / self.jump, 0.0, 1.0)
        # A glitch is a blob, not a hairline: grow the mask a little so the whole blob goes.
        jumped = cv2.dilate(jumped, np.ones((3, 3), np.uint8))
        # Small differences from the last output (edge shimmer) are damped; large ones that
        # persisted (the raw alpha agrees with the last frame's) are taken as they are.
        close = np.clip(1.0 - np.abs(raw - prev_out_small) / self.jump, 0.0, 1.0)
        weight = unchanged * np.maximum(jumped, self.smoothing * close)
        h, w = alpha.shape
        big_weight = cv2.resize(weight, (w, h), interpolation=cv2.INTER_LINEAR)
        prev_out = warp(self.prev_out, flow)
        out = alpha + big_weight * (prev_out - alpha)
        self.prev_grey, self.prev_raw, self.prev_out = grey, raw, out
        self.last_weight = weight
        return out
