"""Stylize only what changed: the background is painted at keyframes and carried with the camera
between them; parts of the person that hold still are carried from frame to frame. Works for
any stylizer; the video pipeline calls `Reuser.render` between split and compose.

Scene plate (the background style over the whole frame, `ScenePlate`)
    A canvas in the keyframe's coordinates, larger than the frame by a margin (for pans),
    holding the painted scene, the input it was painted from (analysis resolution), where it
    is painted (valid) and where the keyframe's person was. Each drawing:
    1. camera model: the reference input is warped by the last homography; DIS flow (FAST)
       from the frame to it gives correspondences on textured background pixels (outside the
       dilated matte and the keyframe's person); a homography is fitted with RANSAC (1 px).
       Below 0.15 px of motion at the corners it is the identity (a still camera copies the
       plate exactly);
    2. dense correction: wherever the dense flow explains the input at least as well as the
       homography, its difference to the homography, smoothed, moves the map too (parallax);
    3. reliability: the input residual of the frame against the reference seen through that
       map, and validity. The frame needs the scene where the person does not cover it (plus
       2 px under its edge, for the blend); needed pixels are *stale* where nothing was
       painted (edges), or the residual exceeds `residual` (12 levels) where no person is
       now or where the keyframe's person was (uncovered; elsewhere: moving);
    4. decision: a full pass (a new keyframe) at the start, on a cut (RANSAC fails, or more
       than half the background has a residual over 24 under the fitted homography), after
       `max_interval` frames, on a zoom beyond 15% (a magnified plate goes soft), or when the
       stale share of the needed scene exceeds `fixed_tolerance` (8%) for fixed-size models,
       whose every pass costs a whole frame, or `partial_limit` (40%) for dynamic-size
       models. Otherwise the plate is carried (one cubic resample from the canvas) and the
       stale parts are redrawn as block-aligned crops with a context margin, tone-matched to
       the plate around them, feathered in and written back into the canvas (dynamic-size
       models), or filled from the input with the plate's colours until the next keyframe
       (fixed-size models; see `Reuser._fill`); filled pixels stay filled until repainted.
    Every output pixel is at most two resamples from a model output (written into the canvas
    once, read once). A keyframe keeps old canvas content where the new frame has none
    (behind the person, margins), and with a still camera also where the old plate still
    holds, so the background does not jump from one painting to the next.
    Under the current person the carried scene takes the person layer: the Laplacian compose
    takes much of a small person's coarse bands from the layer below, and a clean plate
    there washed the walkers of pedestrians out.

Person plate (the person style, `PersonPlate`)
    Chained drawing to drawing along DIS flow (MEDIUM; the person is not rigid). A pixel of
    the person is carried while its residual against the carried input stays low (on the soft
    edge, where the input mixes in what is behind, only a large one counts), it was painted
    (inside a person box) and it has been resampled at most `person_max_carry` times. The
    rest is redrawn as crops around stale blocks; when those would cover 70% of the people's
    boxes, when the model is fixed-size, or when more than `person_full` is stale, the whole
    person layer is redrawn as per frame (and, having moved all over, again next drawing
    without measuring).

Thresholds are in 0..255 input levels on frames blurred with sigma 1 at analysis resolution
(long side `analysis_side`); benchmarks/reuse.py measures the result.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np

from animefy.errors import InputError
from animefy.image.pipeline import Frame, Renderer
from animefy.image.regions import Regions, merge_boxes, person_boxes
from animefy.models.runtime import PassCounter
from animefy.video.clip import Drawing
from animefy.video.flow import FAST, Motion, pixel_grid


@dataclass(frozen=True)
class ReuseOptions:
    enabled: bool = True
    max_interval: int = 24  # output frames between keyframes at most (counted in drawings on twos/threes)
    residual: float = 12.0  # input residual (0..255) above which carried content is stale
    cut: float = 0.5  # share of the needed scene with a residual over 2x `residual`: a scene cut
    # Fixed-size scene models: stale share of the needed scene bridged until the next keyframe.
    # Dancer, first 40 frames, no supervisor: 0.04 -> 31 keyframes, 35.2 dB to per-frame; 0.08 ->
    # 22, 33.9 dB; 0.12 -> 14, 32.9 dB (and a visible smudge beside the moving legs).
    fixed_tolerance: float = 0.08
    partial_limit: float = 0.4  # dynamic-size models: above this stale share one full pass is cheaper
    zoom: float = 1.15  # scale change against the keyframe that calls for a new one (magnified plates go soft)
    person_max_carry: int = 4  # resamples a carried person pixel may take before it is redrawn
    person_full: float = 0.6  # stale share of the person above which the whole person layer is redrawn
    analysis_side: int = 480  # long side the motion and residuals are measured at
    margin: float = 0.125  # scene canvas margin around the keyframe, share of each side

    def __post_init__(self) -> None:
        if self.max_interval < 1:
            raise InputError(f"reuse max_interval must be at least 1 (got {self.max_interval}).")


@dataclass
class ReuseReport:
    """What was stylized and what was carried. Frame numbers count output frames from 0."""

    options: ReuseOptions
    hold: int = 1
    drawings: int = 0
    keyframes: list[int] = field(default_factory=list)  # output frames where the scene was redrawn in full
    reasons: Counter = field(default_factory=Counter)  # why: start, cut, interval, zoom, edges, uncovered, moving
    partial: int = 0  # drawings where parts of the scene were redrawn as crops
    scene_drawings: int = 0  # drawings with a scene plate
    scene_area: float = 0.0  # sum over drawings of the share of the frame the scene model redrew
    person_drawings: int = 0  # drawings with a person in a carried person layer
    person_area: float = 0.0  # sum over those of the share of the person redrawn
    person_full: int = 0  # drawings where the whole person layer was redrawn
    faces: int = 0  # faces seen in drawings with a carried person layer
    faces_redrawn: int = 0  # of those, faces the face pass drew (the rest were carried)
    passes: PassCounter = field(default_factory=PassCounter)  # model passes (tiles and crops one each), pixels
    notes: list[str] = field(default_factory=list)  # how fixed-size models run
    trace: list[dict] = field(default_factory=list)  # per drawing: frame, scene decision, stale shares, person

    @property
    def frames(self) -> int:
        return self.drawings * self.hold

    def passes_per_frame(self) -> float:
        return sum(self.passes.values()) / max(self.drawings, 1)

    def megapixels_per_frame(self) -> float:
        """Pixels through the stylizers per drawing, in millions: the work, whatever the pass sizes."""
        return sum(self.passes.pixels.values()) / 1e6 / max(self.drawings, 1)

    def summary(self) -> str:
        if not self.options.enabled:
            parts = ["reuse off"]
        else:
            parts = []
            if self.scene_drawings:
                why = ", ".join(f"{n} {r}" for r, n in self.reasons.most_common())
                carried = self.scene_drawings - len(self.keyframes)
                parts.append(
                    f"background carried on {carried} of {self.scene_drawings} drawings ({len(self.keyframes)} "
                    f"keyframes: {why}; {self.partial} partly redrawn; "
                    f"{self.scene_area / self.scene_drawings:.0%} of the frame redrawn on average)"
                )
            if self.person_drawings:
                parts.append(f"{self.person_area / self.person_drawings:.0%} of the person redrawn on average")
            if self.faces:
                parts.append(f"faces drawn {self.faces_redrawn} of {self.faces} times (the rest carried)")
            if not parts:
                parts.append("nothing to carry")
        d = max(self.drawings, 1)
        per_style = ", ".join(f"{s} {n / d:.2f} ({self.passes.pixels[s] / 1e6 / d:.2f} Mpx)"
                              for s, n in sorted(self.passes.items()))  # fmt: skip
        parts.append(f"model passes per drawing {self.passes_per_frame():.2f}, {self.megapixels_per_frame():.2f} Mpx"
                     + (f" ({per_style})" if per_style else ""))  # fmt: skip
        parts += self.notes
        return "; ".join(parts)

    def as_dict(self) -> dict:
        return {
            "enabled": self.options.enabled,
            "drawings": self.drawings,
            "keyframes": list(self.keyframes),
            "keyframe_reasons": dict(self.reasons),
            "partly_redrawn": self.partial,
            "scene_redrawn_share": self.scene_area / self.scene_drawings if self.scene_drawings else None,
            "person_redrawn_share": self.person_area / self.person_drawings if self.person_drawings else None,
            "faces": self.faces,
            "faces_redrawn": self.faces_redrawn,
            "model_passes": dict(self.passes),
            "model_passes_per_drawing": self.passes_per_frame(),
            "model_megapixels": {s: n / 1e6 for s, n in self.passes.pixels.items()},
            "model_megapixels_per_drawing": self.megapixels_per_frame(),
            "fixed_size_models": list(self.notes),
            "summary": self.summary(),
        }


# -- small image helpers ----------------------------------------------------------------------


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma)


_MEAN3 = np.full((1, 3), 1.0 / 3.0, np.float32)


def _residual(a: np.ndarray, b: np.ndarray, ignore: np.ndarray | None = None) -> np.ndarray:
    """Mean absolute difference over channels of two float32 RGB images, smoothed; pixels
    to `ignore` (no data) count as 0 so they do not spill into their neighbours."""
    diff = cv2.transform(cv2.absdiff(a, b), _MEAN3)  # (H, W); numpy's mean(-1) is 5x slower
    if ignore is not None:
        diff[ignore] = 0.0
    return _blur(diff, 1.5)


def _disk(radius: int) -> np.ndarray:
    r = max(1, int(radius))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _grow(mask: np.ndarray, radius: float) -> np.ndarray:
    if radius < 0.5:
        return mask
    return cv2.dilate(mask.astype(np.uint8), _disk(round(radius))).astype(bool)


def _shrink(mask: np.ndarray, radius: float) -> np.ndarray:
    if radius < 0.5:
        return mask
    return cv2.erode(mask.astype(np.uint8), _disk(round(radius))).astype(bool)


def _clean(stale: np.ndarray) -> np.ndarray:
    """A stale mask without isolated specks (noise)."""
    return cv2.morphologyEx(stale.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)


def _upsample(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if mask.shape[:2] == shape:
        return mask.astype(np.float32)
    return cv2.resize(mask.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _mix(base: np.ndarray, top: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """base * (1 - weight) + top * weight for uint8 images and a float (H, W) weight."""
    w = weight[..., None]
    return np.clip(base.astype(np.float32) * (1.0 - w) + top.astype(np.float32) * w + 0.5, 0, 255).astype(np.uint8)


def _translate(dx: float, dy: float) -> np.ndarray:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], np.float64)


def _apply(h: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points (gx, gy) through the homography h."""
    z = h[2, 0] * gx + h[2, 1] * gy + h[2, 2]
    z = np.where(np.abs(z) < 1e-9, 1e-9, z)
    return (h[0, 0] * gx + h[0, 1] * gy + h[0, 2]) / z, (h[1, 0] * gx + h[1, 1] * gy + h[1, 2]) / z


def _to_full(a: Analysis) -> np.ndarray:
    """Analysis pixel coordinates -> full-resolution ones (pixel centres aligned)."""
    return np.array([[a.sx, 0, (a.sx - 1) / 2], [0, a.sy, (a.sy - 1) / 2], [0, 0, 1]], np.float64)


def _full_homography(h: np.ndarray, a: Analysis) -> np.ndarray:
    s = _to_full(a)
    return s @ h @ np.linalg.inv(s)


def _zoom(h: np.ndarray) -> float:
    a = h[:2, :2] / h[2, 2]
    return float(np.sqrt(abs(np.linalg.det(a))))


def fit_colours(src: np.ndarray, dst: np.ndarray, mask: np.ndarray, limit: int = 20000) -> np.ndarray | None:
    """A 4x3 affine colour map with dst ~ [src, 1] @ A, fitted on `mask` (None if too few)."""
    idx = np.flatnonzero(mask.ravel())
    if idx.size < 64:
        return None
    if idx.size > limit:
        idx = idx[:: idx.size // limit + 1]
    x = src.reshape(-1, 3)[idx].astype(np.float64)
    y = dst.reshape(-1, 3)[idx].astype(np.float64)
    xa = np.hstack([x, np.ones((len(x), 1))])
    # Pulls the slopes towards the identity (an offset map) unless the samples span a range of
    # colours: fitted on flat pavement the slope came out near 0.5 and the fill turned a walker's
    # dark coat light grey. 200 per sample: a ring with less than 14 levels of spread keeps half
    # of the identity.
    ridge = np.diag([200.0, 200.0, 200.0, 0.0]) * len(x)
    prior = np.vstack([np.eye(3), y.mean(0) - x.mean(0)])
    return np.linalg.solve(xa.T @ xa + ridge, xa.T @ y + ridge @ prior)


def apply_colours(rgb: np.ndarray, a: np.ndarray) -> np.ndarray:
    x = rgb.reshape(-1, 3).astype(np.float32)
    y = x @ a[:3].astype(np.float32) + a[3].astype(np.float32)
    return np.clip(y + 0.5, 0, 255).astype(np.uint8).reshape(rgb.shape)


def match_tone(patch: np.ndarray, target: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Per-channel gain and offset that bring a freshly drawn crop to the carried plate's tone
    over `ring` (pixels both show reliably). A crop seen without the rest of the frame comes out
    of a GAN a few levels lighter or darker (measured: up to 10 levels on Shinkai crops)."""
    if ring.sum() < 64:
        return patch
    p = patch[ring].astype(np.float32)
    t = target[ring].astype(np.float32)
    ps, ts = p.std(0) + 1.0, t.std(0) + 1.0
    gain = np.clip(ts / ps, 0.8, 1.25)
    offset = t.mean(0) - gain * p.mean(0)
    return np.clip(patch.astype(np.float32) * gain + offset + 0.5, 0, 255).astype(np.uint8)


def block_boxes(stale: np.ndarray, block: int, min_share: float = 0.02) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) rectangles of whole blocks covering `stale` (blocks with at least
    `min_share` stale), one per connected group of blocks; boxes that overlap are merged."""
    h, w = stale.shape
    by, bx = -(-h // block), -(-w // block)
    padded = np.zeros((by * block, bx * block), np.float32)
    padded[:h, :w] = stale
    share = padded.reshape(by, block, bx, block).mean((1, 3))
    grid = (share >= min_share).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(grid, connectivity=8)
    boxes = [[y * block, min(h, (y + bh) * block), x * block, min(w, (x + bw) * block)]
             for x, y, bw, bh, _ in stats[1:count]]  # fmt: skip
    return merge_boxes(boxes)


# -- analysis -----------------------------------------------------------------------------------


@dataclass
class Analysis:
    """One frame at analysis resolution: blurred RGB (float32), grey, person matte."""

    rgb: np.ndarray
    grey: np.ndarray
    alpha: np.ndarray
    sx: float  # full-resolution pixels per analysis pixel
    sy: float

    @classmethod
    def of(cls, frame: np.ndarray, alpha: np.ndarray | None, side: int) -> Analysis:
        h, w = frame.shape[:2]
        s = min(1.0, side / max(h, w))
        ah, aw = max(8, round(h * s)), max(8, round(w * s))
        small = frame if (ah, aw) == (h, w) else cv2.resize(frame, (aw, ah), interpolation=cv2.INTER_AREA)
        a = (
            np.zeros((ah, aw), np.float32)
            if alpha is None
            else cv2.resize(alpha, (aw, ah), interpolation=cv2.INTER_AREA)
        )
        return cls(_blur(small.astype(np.float32), 1.0), cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), a, w / aw, h / ah)

    @property
    def shape(self) -> tuple[int, int]:
        return self.grey.shape

    def stale_boxes(self, stale: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Block-aligned boxes (analysis resolution) covering a stale mask: a twelfth of the short side."""
        return block_boxes(stale, max(8, min(self.shape) // 12))

    def to_full(self, boxes: list[tuple[int, int, int, int]], h: int, w: int) -> list[tuple[int, int, int, int]]:
        """Analysis-resolution boxes (y0, y1, x0, x1) in full-resolution pixels of an (h, w) frame."""
        return [(round(y0 * self.sy), min(h, round(y1 * self.sy)), round(x0 * self.sx), min(w, round(x1 * self.sx)))
                for y0, y1, x0, x1 in boxes]  # fmt: skip


@dataclass
class Patch:
    """A stylized crop pasted into a plate: box in full-resolution frame coordinates."""

    box: tuple[int, int, int, int]
    weight: np.ndarray  # (H, W) paste weight over the whole frame


def paste_patches(
    renderer: Renderer,
    style: str,
    frame: np.ndarray,
    carried: np.ndarray,
    reliable: np.ndarray,
    boxes: list[tuple[int, int, int, int]],
    context: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Redraw `boxes` (full-resolution, block-aligned) of `carried` with `style` on crops grown
    by `context` pixels, tone-matched to the reliable carried pixels around them and feathered
    in. Returns (the plate, the paste weight 0..1 over the frame)."""
    h, w = frame.shape[:2]
    out = carried.copy()
    weight = np.zeros((h, w), np.float32)
    feather = max(2, context // 2)
    for y0, y1, x0, x1 in boxes:
        cy0, cy1, cx0, cx1 = max(0, y0 - context), min(h, y1 + context), max(0, x0 - context), min(w, x1 + context)
        patch = renderer.style_region(style, frame, (cy0, cy1, cx0, cx1))
        # Paste the box grown by half the context and feathered, so the crop's own border (where
        # the model lacks context) stays out; at the frame's edge the reflected blur keeps it whole.
        inner = np.zeros((cy1 - cy0, cx1 - cx0), np.float32)
        inner[max(cy0, y0 - feather) - cy0 : min(cy1, y1 + feather) - cy0,
              max(cx0, x0 - feather) - cx0 : min(cx1, x1 + feather) - cx0] = 1.0  # fmt: skip
        soft = _blur(inner, feather / 2.0)
        soft[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0] = 1.0
        ring = reliable[cy0:cy1, cx0:cx1] & (soft < 0.5)
        patch = match_tone(patch, out[cy0:cy1, cx0:cx1], ring)
        out[cy0:cy1, cx0:cx1] = _mix(out[cy0:cy1, cx0:cx1], patch, soft)
        weight[cy0:cy1, cx0:cx1] = np.maximum(weight[cy0:cy1, cx0:cx1], soft)
    return out, weight


# -- the scene plate ------------------------------------------------------------------------------


@dataclass
class SceneStep:
    full: str | None  # reason for a full refresh, or None: carry
    stale: np.ndarray | None = None  # analysis resolution, bool
    causes: dict = field(default_factory=dict)
    h: np.ndarray | None = None
    dense: tuple[np.ndarray, np.ndarray] | None = None  # map: frame -> reference, analysis coords
    correction: tuple[np.ndarray, np.ndarray] | None = None  # dense map minus the homography's
    invalid: np.ndarray | None = None  # analysis resolution: plate has nothing here (any need)
    need: np.ndarray | None = None  # analysis resolution: the frame shows the scene here
    changed: np.ndarray | None = None  # stale because the input changed (not because nothing was painted)
    under: np.ndarray | None = None  # analysis resolution, 0..1: partly matted, and the plate is not what is there


class ScenePlate:
    def __init__(self, options: ReuseOptions, fixed: bool, person_separate: bool, hold: int) -> None:
        self.o, self.fixed, self.person_separate = options, fixed, person_separate
        self.max_age = max(1, options.max_interval // hold)
        self.canvas: np.ndarray | None = None  # painted scene, full resolution, reference coords + margin
        self.inp: np.ndarray | None = None  # input, analysis resolution (blurred RGB float32)
        self.grey: np.ndarray | None = None  # input grey, analysis resolution
        self.valid: np.ndarray | None = None  # painted (float32 0..1), analysis resolution
        self.person: np.ndarray | None = None  # the person was there when painted (float32 0..1)
        self.gen: np.ndarray | None = None  # canvas writes a pixel went through (uint8), analysis resolution
        self.h = np.eye(3)  # current analysis coords -> reference analysis coords
        self.age = 0
        self.margin_full = (0, 0)
        self.margin_a = (0.0, 0.0)

    # coordinates: canvas_a = ref_a + margin_a; canvas_full = ref_full + margin_full
    def _ta(self) -> np.ndarray:
        return _translate(self.margin_a[0], self.margin_a[1])

    def need(self, a: Analysis) -> np.ndarray:
        """Where the frame shows the scene (with a few pixels under the person's edge for the blend)."""
        if not self.person_separate:
            return np.ones(a.shape, bool)
        return ~_shrink(a.alpha > 0.9, 2)

    def track(self, a: Analysis, motion: Motion) -> SceneStep:
        o = self.o
        if self.canvas is None:
            return SceneStep("start")
        self.age += 1
        ah, aw = a.shape
        ta = self._ta()
        h_pred = self.h
        ch, cw = self.grey.shape
        seen = cv2.warpPerspective(self.grey, ta @ h_pred, (aw, ah), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        # Frame -> reference as seen from the prediction: not a pair of drawings, so not shared.
        # FAST: 6x faster than MEDIUM (4 vs 28 ms at 480x360).
        flow = motion.estimate(a.grey, seen, FAST)
        gx, gy = pixel_grid(ah, aw)
        px, py = gx + flow[..., 0], gy + flow[..., 1]
        dx, dy = _apply(h_pred, px, py)  # dense correspondence in reference coords
        # Background points for the camera model: away from the person, textured, inside the plate.
        usable = self.valid * (self.person < 0.5)
        valid_seen = cv2.warpPerspective(usable, ta @ h_pred, (aw, ah), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        grad = cv2.magnitude(cv2.Sobel(a.grey, cv2.CV_32F, 1, 0), cv2.Sobel(a.grey, cv2.CV_32F, 0, 1))
        pick = (valid_seen > 0.9) & (grad > 12.0)
        if self.person_separate:
            pick &= ~_grow(a.alpha > 0.05, max(3, min(ah, aw) // 60))
        pick[::2] = False
        pick[:, ::2] = False
        ys, xs = np.nonzero(pick)
        if len(xs) > 6000:
            keep = np.random.default_rng(self.age).choice(len(xs), 6000, replace=False)
            ys, xs = ys[keep], xs[keep]
        if len(xs) < 24:
            return SceneStep("cut")
        src = np.stack([xs, ys], 1).astype(np.float32)
        dst = np.stack([dx[ys, xs], dy[ys, xs]], 1).astype(np.float32)
        hom, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 1.0, maxIters=500)
        if hom is None or inliers is None or inliers.sum() < max(16, 0.25 * len(xs)):
            return SceneStep("cut")
        # Global map, and the dense one where it explains the input much better.
        hx, hy = _apply(hom, gx, gy)
        sample = lambda mx, my, img, border=cv2.BORDER_REPLICATE, interp=cv2.INTER_LINEAR: cv2.remap(  # noqa: E731
            img, mx + self.margin_a[0], my + self.margin_a[1], interp, borderMode=border
        )
        cubic = cv2.INTER_CUBIC
        hx, hy, dx, dy = (v.astype(np.float32) for v in (hx, hy, dx, dy))
        seen = sample(hx, hy, self.valid, cv2.BORDER_CONSTANT) > 0.5
        r_global = _residual(a.rgb, sample(hx, hy, self.inp, interp=cubic), ~seen)
        bg = seen & (a.alpha < 0.1)
        if bg.sum() > 0.1 * bg.size and (r_global[bg] > 2 * o.residual).mean() > o.cut:
            return SceneStep("cut")  # RANSAC fits something to anything: the residual says whether it holds
        # A still camera: DIS and RANSAC leave a few hundredths of a pixel of noise, and copying
        # the plate exactly (no resample at all) beats moving it by that.
        corners = np.array([[0, 0], [aw - 1, 0], [0, ah - 1], [aw - 1, ah - 1]], np.float64)
        cxs, cys = _apply(hom, corners[:, 0], corners[:, 1])
        if np.abs(cxs - corners[:, 0]).max() < 0.15 and np.abs(cys - corners[:, 1]).max() < 0.15:
            hom = np.eye(3)
        zoom = _zoom(hom)
        if zoom > o.zoom or zoom < 1.0 / o.zoom:
            return SceneStep("zoom", h=hom)
        r_dense = _residual(
            a.rgb, sample(dx, dy, self.inp, interp=cubic), sample(dx, dy, self.valid, cv2.BORDER_CONSTANT) < 0.5
        )
        # The dense flow corrects the homography wherever it explains the input at least as well
        # (parallax of near objects, lens, a little own motion), smoothed so its noise on flat
        # areas does not make the plate wobble. Carphone (a camera inside a car, seats and
        # window frame at different depths), without the supervisor: E_warp of the background
        # 0.00078 with the correction only where the homography's residual was large, 0.00056
        # with it everywhere (per-frame output: 0.00050).
        use = _blur((r_dense <= r_global + 1.0).astype(np.float32), 2.0)
        norm = np.maximum(_blur(use, 3.0), 1e-3)
        mx = (hx + _blur((dx - hx) * use, 3.0) / norm * use).astype(np.float32)
        my = (hy + _blur((dy - hy) * use, 3.0) / norm * use).astype(np.float32)
        valid = sample(mx, my, self.valid, cv2.BORDER_CONSTANT)
        invalid = valid < 0.5
        resid = _residual(a.rgb, sample(mx, my, self.inp, interp=cubic), invalid)
        behind = sample(mx, my, self.person, cv2.BORDER_CONSTANT) > 0.5
        need = self.need(a)
        # The plate under the keyframe's person shows the person painted in the scene's style;
        # where the person has moved away the input residual says so (uncovered). Where the
        # person covers the frame now, even partly (soft edges), the input shows the person and
        # its residual proves nothing: a plate that had no person there is kept.
        clear = a.alpha < 0.1 if self.person_separate else np.ones(a.shape, bool)
        # (Tried: hysteresis, half the residual next to stale pixels, for walkers' thin legs:
        # pedestrians E_warp 0.65 -> 0.70x, moving background +0.15 dB, more keyframes.)
        stale = _clean(need & (invalid | ((resid > o.residual) & (clear | behind))))
        share = stale.sum() / max(need.sum(), 1)
        dropped = invalid & (valid > 0.1)  # went stale earlier (see `update`): what it was stays its cause
        causes = {
            "edges": int((stale & invalid & ~dropped).sum()),
            "uncovered": int((stale & (~invalid | dropped) & behind).sum()),
            "moving": int((stale & (~invalid | dropped) & ~behind).sum()),
        }
        changed = stale & ~invalid
        stale = _grow(stale, 2) & need  # redrawn or filled with a little room
        # Under a partly matted person (alpha 0.1..0.9: a walker the matte is unsure of, or hair)
        # the compose shows the plate through. Where the plate's input differs from what is there
        # (the walker was not in it), it would show a ghost: the person layer goes there instead.
        under = (
            _blur(((a.alpha >= 0.1) & (resid > o.residual)).astype(np.float32), 1.0) if self.person_separate else None
        )
        step = SceneStep(None, stale, causes, hom, (mx, my), (mx - hx, my - hy), invalid | stale, need, changed, under)
        seen_need = need & ~invalid
        if seen_need.sum() > 0.2 * need.sum() and (resid[seen_need] > 2 * o.residual).mean() > o.cut:
            step.full = "cut"
        elif self.age >= self.max_age:
            step.full = "interval"
        elif share > (o.fixed_tolerance if self.fixed else o.partial_limit):
            step.full = max(causes, key=causes.get)
        return step

    def carry(self, step: SceneStep, shape: tuple[int, int], a: Analysis) -> np.ndarray:
        """The canvas seen from the current frame through the step's map (one cubic resample;
        Lanczos kept carphone's detail better, 0.807 vs 0.791 of per-frame, but its ringing
        changes with the sub-pixel phase from frame to frame: the supervisor took it for a
        one-frame glitch on a synthetic clip)."""
        h, w = shape
        gx, gy = pixel_grid(h, w)
        mfx, mfy = _apply(_full_homography(step.h, a), gx, gy)
        cx, cy = step.correction
        if np.abs(cx).max() > 1e-3 or np.abs(cy).max() > 1e-3:
            mfx = mfx + cv2.resize(cx, (w, h), interpolation=cv2.INTER_LINEAR) * a.sx
            mfy = mfy + cv2.resize(cy, (w, h), interpolation=cv2.INTER_LINEAR) * a.sy
        return cv2.remap(self.canvas, (mfx + self.margin_full[0]).astype(np.float32),
                         (mfy + self.margin_full[1]).astype(np.float32), cv2.INTER_CUBIC,
                         borderMode=cv2.BORDER_REPLICATE)  # fmt: skip

    def update(self, step: SceneStep, a: Analysis, plate: np.ndarray, written: np.ndarray | None) -> None:
        """Write the redrawn parts of this frame (weight `written`, full resolution) into the
        canvas through the camera model, and move the model on. What went stale and was not
        redrawn is dropped from the canvas (valid 0.25) until a keyframe paints it again: a
        pixel that flips between the plate and the fill from one frame to the next flickers."""
        self.h = step.h
        cah, caw = self.grey.shape
        to_canvas_a = self._ta() @ step.h
        left = step.changed
        small = None if written is None else cv2.resize(written, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
        if small is not None:
            left &= small < 0.5
        if left.any():
            gone = cv2.warpPerspective(left.astype(np.float32), to_canvas_a, (caw, cah), flags=cv2.INTER_LINEAR) > 0.25
            self.valid = np.where(gone, np.minimum(self.valid, 0.25), self.valid).astype(np.float32)
        if written is None or not written.any():
            return
        to_canvas = _translate(*self.margin_full) @ _full_homography(step.h, a)  # frame -> canvas, full res
        ch, cw = self.canvas.shape[:2]
        wt = cv2.warpPerspective(written, to_canvas, (cw, ch), flags=cv2.INTER_LINEAR)
        img = cv2.warpPerspective(plate, to_canvas, (cw, ch), flags=cv2.INTER_CUBIC)
        self.canvas = _mix(self.canvas, img, wt)
        wa = cv2.warpPerspective(small, to_canvas_a, (caw, cah))
        fresh = cv2.warpPerspective(a.rgb, to_canvas_a, (caw, cah), flags=cv2.INTER_LINEAR)
        self.inp = self.inp * (1 - wa[..., None]) + fresh * wa[..., None]
        grey_fresh = cv2.warpPerspective(a.grey, to_canvas_a, (caw, cah), flags=cv2.INTER_LINEAR)
        self.grey = np.clip(self.grey * (1 - wa) + grey_fresh * wa + 0.5, 0, 255).astype(np.uint8)
        ok = wa > 0.5
        self.valid = np.where(ok, 1.0, self.valid).astype(np.float32)
        if self.person_separate:
            person = cv2.warpPerspective((a.alpha > 0.3).astype(np.float32), to_canvas_a, (caw, cah))
            self.person = np.where(ok, person, self.person).astype(np.float32)
        self.gen = np.where(ok, 1, self.gen).astype(np.uint8)

    def rekey(self, frame_scene: np.ndarray, a: Analysis, step: SceneStep | None) -> float:
        """A new keyframe: the freshly painted scene becomes the reference. Unless the scene
        was cut, the old canvas is kept (warped once more) where the new frame has nothing:
        behind the person and in the margins; and where the old plate still holds (reliable,
        no dense correction, resampled at most once more) it is kept over the new painting too,
        so a keyframe does not make the whole background jump from one painting to the next:
        the new painting replaces what had gone stale. Returns the share of the frame kept."""
        h, w = frame_scene.shape[:2]
        ah, aw = a.shape
        mh, mw = round(h * self.o.margin), round(w * self.o.margin)
        margin_full, margin_a = (mw, mh), (mw / a.sx, mh / a.sy)
        ch, cw = h + 2 * mh, w + 2 * mw
        cah, caw = round(ch / a.sy), round(cw / a.sx)
        canvas = np.zeros((ch, cw, 3), np.uint8)
        canvas[mh : mh + h, mw : mw + w] = frame_scene
        ta_new = _translate(*margin_a)
        inp = cv2.warpPerspective(a.rgb, ta_new, (caw, cah), flags=cv2.INTER_LINEAR)
        grey = cv2.warpPerspective(a.grey, ta_new, (caw, cah), flags=cv2.INTER_LINEAR)
        valid = cv2.warpPerspective(np.ones((ah, aw), np.float32), ta_new, (caw, cah), flags=cv2.INTER_NEAREST)
        person = np.zeros((ah, aw), np.float32)
        if self.person_separate:
            person[_grow(a.alpha > 0.3, max(2, min(ah, aw) // 100))] = 1.0
        person = cv2.warpPerspective(person, ta_new, (caw, cah), flags=cv2.INTER_NEAREST)
        gen = np.zeros((cah, caw), np.uint8)
        kept = 0.0
        if step is not None and step.full != "cut" and step.h is not None and self.canvas is not None:
            # old canvas coords = T_old . H . (new canvas coords - margin)
            m_full = _translate(*self.margin_full) @ _full_homography(step.h, a) @ _translate(-mw, -mh)
            m_a = self._ta() @ step.h @ np.linalg.inv(ta_new)
            inv = cv2.WARP_INVERSE_MAP
            # An integer shift (a still camera) copies pixels exactly: no resample to count.
            exact = np.allclose(step.h[:2, :2], np.eye(2), atol=1e-4) and np.allclose(step.h[2, :2], 0, atol=1e-6)
            exact = exact and np.allclose(step.h[:2, 2], np.round(step.h[:2, 2]), atol=0.02)
            old_good = self.valid * (self.person < 0.5) * (self.gen < (3 if exact else 2))
            old_valid = cv2.warpPerspective(old_good, m_a, (caw, cah), flags=cv2.INTER_LINEAR | inv) > 0.99
            take = ((valid < 0.5) | (person > 0.5)) & old_valid
            weight = take.astype(np.float32)
            # Only with a still camera: kept pixels are then copied exactly and never go soft.
            # With a moving one they would be resampled once more, and keeping them cost
            # carphone 0.4 dB against the per-frame output for no gain in stability.
            if step.invalid is not None and exact:
                straight = (np.abs(step.correction[0]) < 0.25) & (np.abs(step.correction[1]) < 0.25)
                holds = (~step.invalid & straight).astype(np.float32)
                holds = cv2.warpPerspective(holds, ta_new, (caw, cah), flags=cv2.INTER_NEAREST) > 0.5
                holds &= old_valid & ~take
                # Feathered into the kept part, where both paintings are valid.
                soft = _blur(_shrink(holds, 1).astype(np.float32), 1.0)
                weight = np.maximum(weight, np.where(holds, soft, 0.0)).astype(np.float32)
                kept = float(holds[_frame_part(margin_a, ah, aw)].mean())
            if weight.max() > 0:
                take = weight > 0.5
                old = cv2.warpPerspective(self.canvas, m_full, (cw, ch), flags=cv2.INTER_CUBIC | inv)
                weight_full = cv2.resize(weight, (cw, ch), interpolation=cv2.INTER_LINEAR)
                canvas = _mix(canvas, old, weight_full)
                old_inp = cv2.warpPerspective(self.inp, m_a, (caw, cah), flags=cv2.INTER_LINEAR | inv)
                old_grey = cv2.warpPerspective(self.grey, m_a, (caw, cah), flags=cv2.INTER_LINEAR | inv)
                old_gen = cv2.warpPerspective(self.gen, m_a, (caw, cah), flags=cv2.INTER_NEAREST | inv)
                inp[take] = old_inp[take]
                grey[take] = old_grey[take]
                gen[take] = old_gen[take] + (0 if exact else 1)
                valid[take] = 1.0
                person[take] = 0.0
        self.canvas, self.inp, self.grey, self.valid, self.gen = canvas, inp, grey, valid, gen
        self.person = person
        self.margin_full, self.margin_a = margin_full, margin_a
        self.h = np.eye(3)
        self.age = 0
        return kept

    def frame_view(self, shape: tuple[int, int]) -> np.ndarray:
        """The canvas seen from the keyframe itself (no resample)."""
        mw, mh = self.margin_full
        return self.canvas[mh : mh + shape[0], mw : mw + shape[1]].copy()


def _frame_part(margin_a: tuple[float, float], ah: int, aw: int) -> tuple[slice, slice]:
    """The frame's part of a canvas at analysis resolution."""
    x0, y0 = round(margin_a[0]), round(margin_a[1])
    return slice(y0, y0 + ah), slice(x0, x0 + aw)


# -- the person plate ------------------------------------------------------------------------------


class PersonPlate:
    """The person layer carried frame to frame along the flow, redrawn where it stops holding."""

    def __init__(self, options: ReuseOptions, fixed: bool) -> None:
        self.o, self.fixed = options, fixed
        self.layer: np.ndarray | None = None  # person layer, full resolution
        self.inp: np.ndarray | None = None  # the input the layer shows, analysis resolution
        self.valid: np.ndarray | None = None  # painted (inside a person box), analysis resolution
        self.gen: np.ndarray | None = None  # resamples since painted
        self.moving = False  # the whole person was redrawn last time because most of it moved

    def step(
        self,
        renderer: Renderer,
        style: str,
        drawing: Drawing,
        reg: Regions,
        a: Analysis,
        report: ReuseReport,
    ) -> np.ndarray:
        frame = drawing.frame
        h, w = frame.shape[:2]
        need = a.alpha > 0.03
        if self.layer is None or not need.any() or self.moving or not drawing.has_previous:
            # A person who moved all over last time is redrawn again without measuring; every
            # other drawing, so one who stops is carried again one drawing later.
            self.moving = False
            return self._full(renderer, frame, reg, a, report, need)
        ah, aw = a.shape
        # The person moves on its own and the flow is all there is to carry it: the clip's
        # MEDIUM flow (FAST left 53% of the dancer to redraw where MEDIUM left 38%).
        flow = drawing.to_previous(a.shape)  # this frame -> the last one
        still = (flow**2).sum(-1) < 0.15**2
        flow[still] = 0.0
        gx, gy = pixel_grid(ah, aw)
        mx, my = gx + flow[..., 0], gy + flow[..., 1]
        # Cubic, like the layer: bilinear blurs a chained input fast (detail 0.80, 0.60, 0.47 of
        # the original after 1, 4, 8 resamples; cubic keeps 0.98-1.03) and would read as change.
        inp = cv2.remap(self.inp, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        valid = cv2.remap(self.valid, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        gen = cv2.remap(self.gen, mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
        gen = np.where(still, gen, np.minimum(gen.astype(np.int16) + 1, 255)).astype(np.uint8)
        resid = _residual(a.rgb, inp)
        # On the soft edge the input mixes the person with what is behind, which may move while
        # the person holds still: there only a large residual counts (the edge weighs little).
        moved = (resid > self.o.residual) & ((a.alpha > 0.5) | (resid > 2.5 * self.o.residual))
        stale = _clean(need & (moved | (valid < 0.5) | (gen > self.o.person_max_carry)))
        share = stale.sum() / max(need.sum(), 1)
        stale = _grow(stale, 2) & need
        if share > self.o.person_full:
            self.moving = True
            return self._full(renderer, frame, reg, a, report, need)
        fx, fy = pixel_grid(h, w)
        if (ah, aw) != (h, w):
            fx = fx + cv2.resize(flow[..., 0], (w, h), interpolation=cv2.INTER_LINEAR) * a.sx
            fy = fy + cv2.resize(flow[..., 1], (w, h), interpolation=cv2.INTER_LINEAR) * a.sy
        else:
            fx, fy = mx, my
        carried = cv2.remap(self.layer, fx, fy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        # Outside what was painted the person layer is the photo, as in Renderer.person_layer.
        painted = _upsample(valid, (h, w))
        carried = _mix(frame, carried, np.clip((painted - 0.5) * 2, 0, 1))
        written = np.zeros((h, w), np.float32)
        if stale.any():
            context = max(8, min(h, w) // 16)
            people = person_boxes(a.alpha)
            boxes_a = a.stale_boxes(stale)
            # Crops pay their context margin and overlap; when they would cover most of the
            # people anyway, or every crop costs a whole pass (fixed-size models), the people
            # are redrawn as the per-frame layer does: one crop per person.
            crops = sum((y1 - y0 + 2 * context / a.sy) * (x1 - x0 + 2 * context / a.sx) for y0, y1, x0, x1 in boxes_a)
            whole = sum((y1 - y0) * (x1 - x0) for y0, y1, x0, x1 in people)
            if self.fixed or crops > 0.7 * whole:
                return self._full(renderer, frame, reg, a, report, need)
            boxes = a.to_full(boxes_a, h, w)
            reliable = _upsample(~stale & (valid > 0.5) & need, (h, w)) > 0.99
            carried, written = paste_patches(renderer, style, frame, carried, reliable, boxes, context)
        carried, written = self._faces(renderer, frame, reg, carried, written, report)
        wa = cv2.resize(written, (aw, ah), interpolation=cv2.INTER_AREA)
        self.layer = carried
        self.inp = inp * (1 - wa[..., None]) + a.rgb * wa[..., None]
        self.valid = np.maximum(valid, (wa > 0.5).astype(np.float32))
        self.gen = np.where(wa > 0.5, 0, gen).astype(np.uint8)
        report.person_drawings += 1
        report.person_area += float((wa > 0.5)[need].mean()) if need.any() else 0.0
        return carried

    @staticmethod
    def _faces(
        renderer: Renderer,
        frame: np.ndarray,
        reg: Regions,
        carried: np.ndarray,
        written: np.ndarray,
        report: ReuseReport,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The face pass where it is needed: a face is carried with the layer (the layer keeps
        the faces drawn into it) unless part of it was redrawn at frame scale just now. Returns
        the layer and the written weight with the redrawn faces' boxes (grown) added."""
        h, w = frame.shape[:2]
        faces = renderer.faces_to_draw(reg.faces, (h, w))
        if not faces:
            return carried, written
        redraw, boxes = [], []
        for face in faces:
            x, y, fw, fh = face.box
            box = (max(0, int(y - 0.4 * fh)), min(h, int(np.ceil(y + 1.3 * fh))),
                   max(0, int(x - 0.3 * fw)), min(w, int(np.ceil(x + 1.3 * fw))))  # fmt: skip
            if box[1] > box[0] and box[3] > box[2] and written[box[0] : box[1], box[2] : box[3]].mean() > 0.02:
                redraw.append(face)
                boxes.append(box)
        report.faces += len(faces)
        report.faces_redrawn += len(redraw)
        if not redraw:
            return carried, written
        carried = renderer.face_layer(carried[None], frame[None], [Regions(reg.alpha, redraw)])[0]
        written = written.copy()
        for y0, y1, x0, x1 in boxes:
            written[y0:y1, x0:x1] = 1.0
        return carried, written

    def _full(
        self, renderer: Renderer, frame: np.ndarray, reg: Regions, a: Analysis, report: ReuseReport, need: np.ndarray
    ) -> np.ndarray:
        layer = renderer.person_layer(frame[None], [reg], None)[0]
        layer = renderer.face_layer(layer[None], frame[None], [reg])[0]  # kept with the layer
        drawn = len(renderer.faces_to_draw(reg.faces, frame.shape[:2]))
        report.faces += drawn
        report.faces_redrawn += drawn
        self.moving = self.moving and need.any()
        h, w = frame.shape[:2]
        painted = np.zeros((h, w), np.float32)
        for y0, y1, x0, x1 in person_boxes(reg.alpha):
            painted[y0:y1, x0:x1] = 1.0
        self.layer = layer
        self.inp = a.rgb.copy()
        self.valid = cv2.resize(painted, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
        self.gen = np.zeros(a.shape, np.uint8)
        if need.any():
            report.person_drawings += 1
            report.person_area += 1.0
            report.person_full += 1
        return layer


# -- the orchestrator --------------------------------------------------------------------------------


class Reuser:
    """Renders a video's drawings one by one, carrying what it can (see the module docstring).
    With reuse off, or nothing to carry, it renders every drawing in full."""

    def __init__(self, renderer: Renderer, options: ReuseOptions | None = None, hold: int = 1) -> None:
        self.renderer, self.o, self.hold = renderer, options or ReuseOptions(), hold
        self.scene_style = renderer.scene_style if self.o.enabled else None
        self.person_style = renderer.person_style if self.o.enabled else None
        # On its own it estimates the motion itself; in a clip it gets it from the drawings.
        self.motion = Motion(side=self.o.analysis_side, keep=2)
        self.reset()

    def reset(self) -> None:
        """A new clip: empty plates, a new report."""
        r = self.renderer
        self.motion.reset()
        self.report = ReuseReport(self.o, self.hold)
        self.scene: ScenePlate | None = None
        self.person: PersonPlate | None = None
        if self.scene_style:
            fixed = bool(r.stylizers[self.scene_style].caps.fixed_size)
            # The person is drawn apart from the scene (and the scene under it is not shown) when
            # there is a matte and the person has another style than the background.
            separate = r.matter is not None and r.options.person_style != r.options.bg_style
            self.scene = ScenePlate(self.o, fixed, separate, self.hold)
        if self.person_style:
            self.person = PersonPlate(self.o, bool(r.stylizers[self.person_style].caps.fixed_size))
        self._noted = False

    def render(self, frames: np.ndarray, regions: list[Regions], drawings: list[Drawing] | None = None) -> list[Frame]:
        """The drawings of a batch; in a clip `drawings` are their contexts (the clip's motion)."""
        if not self._noted:
            self.report.notes = self.renderer.fixed_size_notes(frames.shape[1:3])
            self._noted = True
        if self.scene is None and self.person is None:
            self.report.drawings += len(frames)
            return self.renderer.render(frames, regions)
        drawings = drawings or [Drawing.start(self.motion, frame) for frame in frames]
        return [self._one(d, reg) for d, reg in zip(drawings, regions, strict=True)]

    def _one(self, drawing: Drawing, reg: Regions) -> Frame:
        frame = drawing.frame
        r, report = self.renderer, self.report
        index = report.drawings * self.hold
        report.drawings += 1
        with r.timings.stage("reuse"):
            a = Analysis.of(frame, reg.alpha if r.matter is not None else None, self.o.analysis_side)
        trace: dict = {"frame": index}
        report.trace.append(trace)
        person = None
        if self.person is not None:
            before = report.person_area
            person = self.person.step(r, self.person_style, drawing, reg, a, report)
            trace["person"] = round(report.person_area - before, 3)
        scene, step = None, None
        if self.scene is not None:
            with r.timings.stage("reuse"):
                step = self.scene.track(a, drawing.motion)
            need = max(int(self.scene.need(a).sum()), 1)
            trace["stale"] = {k: round(v / need, 4) for k, v in step.causes.items()}
            if step.full is None:
                before = report.scene_area
                scene = self._carry_scene(frame, a, step)
                trace["scene"] = "carried" if report.scene_area == before else "partial"
                trace["redrawn"] = round(report.scene_area - before, 4)
            else:
                report.keyframes.append(index)
                report.reasons[step.full] += 1
                report.scene_area += 1.0
                trace["scene"] = f"full:{step.full}"
                painted = r.background_layer(frame[None])[0][0]
                with r.timings.stage("reuse"):
                    trace["kept"] = round(self.scene.rekey(painted, a, step), 3)
                    scene = self.scene.frame_view(frame.shape[:2])
            report.scene_drawings += 1
        if scene is not None and self.scene.person_separate:
            # The compose blends person and background band by band (Laplacian): its coarse
            # bands take much of a small person from the layer below. A carried plate has the
            # background there, not the person painted over (as a freshly drawn scene has), and
            # would wash the person out; under the person the layer below is the person.
            if person is None:
                person = r.person_layer(frame[None], [reg], scene[None])[0]
            weight = np.clip((reg.alpha - 0.5) / 0.4, 0.0, 1.0)
            # On keyframes too, though their painting has the people: with the person layer there
            # only on carried drawings, the dancer's hands changed at every keyframe and the
            # supervisor rebuilt 5 frames as glitches (1 with it on every drawing).
            if step is not None and step.under is not None:
                weight = np.maximum(weight, _upsample(step.under, weight.shape) * np.clip(reg.alpha / 0.1, 0, 1))
            scene = _mix(scene, person, weight)
        layers = r.layers_from(frame[None], [reg], None if scene is None else scene[None],
                               None if person is None else person[None],
                               faces=self.person is None)  # the person plate draws and carries faces  # fmt: skip
        return r.compose(layers, [reg])[0]

    def _carry_scene(self, frame: np.ndarray, a: Analysis, step: SceneStep) -> np.ndarray:
        r, plate = self.renderer, self.scene
        h, w = frame.shape[:2]
        with r.timings.stage("reuse"):
            carried = plate.carry(step, (h, w), a)
        written = None
        if step.stale.any() and not plate.fixed:
            boxes = a.to_full(a.stale_boxes(step.stale), h, w)
            reliable = _upsample(~step.invalid & step.need, (h, w)) > 0.99
            carried, written = paste_patches(r, self.scene_style, frame, carried, reliable, boxes,
                                             max(8, min(h, w) // 16))  # fmt: skip
            self.report.partial += 1
            self.report.scene_area += float((written > 0.5).mean())
        with r.timings.stage("reuse"):
            # Whatever is still without a plate (fixed-size models between keyframes; behind the
            # person) is filled in: see _fill.
            hole = step.invalid
            if written is not None:
                hole = hole & ~(cv2.resize(written, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA) > 0.5)
            if hole.any():
                carried = self._fill(frame, carried, a, hole, step)
            plate.update(step, a, carried, written)
        return carried

    def _fill(
        self,
        frame: np.ndarray,
        carried: np.ndarray,
        a: Analysis,
        hole: np.ndarray,
        step: SceneStep,
    ) -> np.ndarray:
        """Holes in the plate until the next keyframe (fixed-size models; behind the person):
        the input with the plate's colours, an affine colour map fitted on the reliable plate
        around the holes; then the remaining tone difference on that ring is spread smoothly
        into the holes (normalised convolution), so no patch shows a step in tone. Works on the
        bounding box of the holes and their ring only. (Tried and dropped: the person layer
        near the person, since the person style's background is another palette, it left
        light halos around the pedestrians.)"""
        h, w = frame.shape[:2]
        grow = max(6, min(a.shape) // 20)
        ys, xs = np.nonzero(_grow(hole, grow + 2))
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        fy0, fy1 = int(y0 * a.sy), min(h, int(np.ceil(y1 * a.sy)))
        fx0, fx1 = int(x0 * a.sx), min(w, int(np.ceil(x1 * a.sx)))
        box_a = (slice(y0, y1), slice(x0, x1))
        hole_b, invalid_b = hole[box_a], step.invalid[box_a]
        ring = _grow(hole_b, grow) & ~invalid_b
        sub_plate = carried[fy0:fy1, fx0:fx1]
        size_a = (x1 - x0, y1 - y0)
        small_plate = cv2.resize(sub_plate, size_a, interpolation=cv2.INTER_AREA).astype(np.float32)
        colours = fit_colours(a.rgb[box_a], small_plate, ring)
        if colours is None:
            small_all = cv2.resize(carried, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32)
            colours = fit_colours(a.rgb, small_all, ~step.invalid)
        if colours is None:
            return carried
        proxy = apply_colours(frame[fy0:fy1, fx0:fx1], colours)
        bh, bw = proxy.shape[:2]
        if ring.sum() >= 16:
            small_proxy = cv2.resize(proxy, size_a, interpolation=cv2.INTER_AREA).astype(np.float32)
            sigma = max(3.0, min(a.shape) / 40)
            m = ring.astype(np.float32)
            num = _blur((small_plate - small_proxy) * m[..., None], sigma)
            den = _blur(m, sigma)[..., None]
            corr = np.where(den > 1e-3, num / np.maximum(den, 1e-3), 0.0).astype(np.float32)
            proxy = np.clip(proxy + cv2.resize(corr, (bw, bh), interpolation=cv2.INTER_LINEAR) + 0.5, 0, 255)
            proxy = proxy.astype(np.uint8)
        weight = _blur(_grow(hole_b, 1).astype(np.float32), 1.0)
        out = carried.copy()
        out[fy0:fy1, fx0:fx1] = _mix(sub_plate, proxy, np.clip(_upsample(weight, (bh, bw)) * 1.5, 0, 1))
        return out
