"""The scene plate and its camera model (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from animefy.video.flow import FAST, Motion, pixel_grid
from animefy.video.reuse.patches import Analysis, blur, clean, grow, mix, residual, shrink
from animefy.video.reuse.report import ReuseOptions


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
        return ~shrink(a.alpha > 0.9, 2)

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
            pick &= ~grow(a.alpha > 0.05, max(3, min(ah, aw) // 60))
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
        r_global = residual(a.rgb, sample(hx, hy, self.inp, interp=cubic), ~seen)
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
        r_dense = residual(
            a.rgb, sample(dx, dy, self.inp, interp=cubic), sample(dx, dy, self.valid, cv2.BORDER_CONSTANT) < 0.5
        )
        # The dense flow corrects the homography wherever it explains the input at least as well
        # (parallax of near objects, lens, a little own motion), smoothed so its noise on flat
        # areas does not make the plate wobble. Carphone (a camera inside a car, seats and
        # window frame at different depths), without the supervisor: E_warp of the background
        # 0.00078 with the correction only where the homography's residual was large, 0.00056
        # with it everywhere (per-frame output: 0.00050).
        use = blur((r_dense <= r_global + 1.0).astype(np.float32), 2.0)
        norm = np.maximum(blur(use, 3.0), 1e-3)
        mx = (hx + blur((dx - hx) * use, 3.0) / norm * use).astype(np.float32)
        my = (hy + blur((dy - hy) * use, 3.0) / norm * use).astype(np.float32)
        valid = sample(mx, my, self.valid, cv2.BORDER_CONSTANT)
        invalid = valid < 0.5
        resid = residual(a.rgb, sample(mx, my, self.inp, interp=cubic), invalid)
        behind = sample(mx, my, self.person, cv2.BORDER_CONSTANT) > 0.5
        need = self.need(a)
        # The plate under the keyframe's person shows the person painted in the scene's style;
        # where the person has moved away the input residual says so (uncovered). Where the
        # person covers the frame now, even partly (soft edges), the input shows the person and
        # its residual proves nothing: a plate that had no person there is kept.
        clear = a.alpha < 0.1 if self.person_separate else np.ones(a.shape, bool)
        # (Tried: hysteresis, half the residual next to stale pixels, for walkers' thin legs:
        # pedestrians E_warp 0.65 -> 0.70x, moving background +0.15 dB, more keyframes.)
        stale = clean(need & (invalid | ((resid > o.residual) & (clear | behind))))
        share = stale.sum() / max(need.sum(), 1)
        dropped = invalid & (valid > 0.1)  # went stale earlier (see `update`): what it was stays its cause
        causes = {
            "edges": int((stale & invalid & ~dropped).sum()),
            "uncovered": int((stale & (~invalid | dropped) & behind).sum()),
            "moving": int((stale & (~invalid | dropped) & ~behind).sum()),
        }
        changed = stale & ~invalid
        stale = grow(stale, 2) & need  # redrawn or filled with a little room
        # Under a partly matted person (alpha 0.1..0.9: a walker the matte is unsure of, or hair)
        # the compose shows the plate through. Where the plate's input differs from what is there
        # (the walker was not in it), it would show a ghost: the person layer goes there instead.
        under = (
            blur(((a.alpha >= 0.1) & (resid > o.residual)).astype(np.float32), 1.0) if self.person_separate else None
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
        self.canvas = mix(self.canvas, img, wt)
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
            person[grow(a.alpha > 0.3, max(2, min(ah, aw) // 100))] = 1.0
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
                soft = blur(shrink(holds, 1).astype(np.float32), 1.0)
                weight = np.maximum(weight, np.where(holds, soft, 0.0)).astype(np.float32)
                kept = float(holds[_frame_part(margin_a, ah, aw)].mean())
            if weight.max() > 0:
                take = weight > 0.5
                old = cv2.warpPerspective(self.canvas, m_full, (cw, ch), flags=cv2.INTER_CUBIC | inv)
                weight_full = cv2.resize(weight, (cw, ch), interpolation=cv2.INTER_LINEAR)
                canvas = mix(canvas, old, weight_full)
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
