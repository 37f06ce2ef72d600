"""The temporal supervisor: model-agnostic post-processing of any stylizer's per-frame
output, driven by optical flow on the *input* frames.

1. Glitch repair: a frame whose output, inside the person, changes locally much more than
   the input motion explains, while its two neighbours agree with each other (the eye that
   flickers for one frame), is dropped and rebuilt from its neighbours by flow warping.
2. Deflicker: the previous supervised frame is warped onto the current one and blended in
   where the flow is reliable and the change is small (GAN noise), so static and smoothly
   moving content stops shimmering while real changes still come through.

Streaming: push (input, output, person mask) one frame at a time; frames come out one frame
later (the glitch test needs the next frame). Works on RGB or RGBA outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from animefy.errors import InputError
from animefy.schema import DEFAULT_STRENGTH
from animefy.video.clip import Drawing
from animefy.video.flow import Motion, consistent, resize_mask, warp, warp_box

HOLD_NAMES = {1: "ones", 2: "twos", 3: "threes"}

# Defaults from `python benchmarks/temporal.py` on the real clips (shinkai_v3, 60 frames):
# E_warp 0.41x / 0.43x of per-frame output at 33.9 / 38.9 dB PSNR against it (carphone /
# pedestrians), keeping 86% / 97% of the per-frame line detail.


@dataclass(frozen=True)
class TemporalOptions:
    deflicker: bool = True
    strength: float = DEFAULT_STRENGTH  # 0 = off, 1 = strongest
    change_tolerance: float = 72.0  # output differences (0..255) above ~this are real changes
    reliability_sigma: float = 36.0  # input warp residual (0..255) above ~this: flow not trusted
    repair_glitches: bool = True
    glitch_threshold: float = 14.0  # local excess change (0..255) that marks a glitch
    hold: int = 1  # anime timing: 1 = every frame, 2 = on twos, 3 = on threes
    flow_max_side: int = 640  # benchmarks/temporal.py: 320 -> E_warp ratio 0.59, 640 -> 0.48 on pedestrians

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise InputError(f"temporal strength must be between 0 and 1 (got {self.strength}).")
        if self.hold not in (1, 2, 3):
            raise InputError(f"hold must be 1 (every frame), 2 (on twos) or 3 (on threes), not {self.hold}.")


@dataclass
class TemporalReport:
    """What the supervisor did. Frame numbers count output frames from 0; with anime timing
    (hold > 1) the supervisor sees one frame per drawing, and a rebuilt drawing is reported
    at the first frame it is shown."""

    options: TemporalOptions
    frames: int = 0  # output frames, set by whoever writes them (the supervisor sees drawings)
    drawings: int = 0
    glitch_boxes: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)  # frame -> x, y, w, h
    glitch_scores: list[float] = field(default_factory=list)
    deflicker_skipped: int = 0  # drawings reuse carried whole: nothing of theirs to deflicker
    reuse: object | None = None  # the video's ReuseReport (animefy.video.reuse), when there is one

    @property
    def rebuilt(self) -> list[int]:
        """Output frames rebuilt by the glitch repair, in order."""
        return list(self.glitch_boxes)

    def summary(self) -> str:
        o = self.options
        parts = [f"{self.frames} frames"]
        if o.hold > 1:
            parts.append(f"on {HOLD_NAMES[o.hold]} ({self.drawings} drawings)")
        parts.append(
            f"flicker suppression {o.strength:g}" if o.deflicker and o.strength > 0 else "flicker suppression off"
        )
        if not o.repair_glitches:
            parts.append("glitch repair off")
        else:
            boxes = self.glitch_boxes
            where = ", ".join(f"{i} at x={b[0]} y={b[1]}" for i, b in list(boxes.items())[:10])
            more = " ..." if len(boxes) > 10 else ""
            parts.append(f"{len(boxes)} rebuilt" + (f" (frame {where}{more})" if boxes else ""))
        text = "; ".join(parts)
        return text if self.reuse is None else f"{text}. Reuse: {self.reuse.summary()}"

    def plain(self) -> str:
        """What happened, in plain words (animefy.video.words)."""
        from animefy.video.words import plain_words

        return " ".join(plain_words(self))

    def as_dict(self) -> dict:
        return {
            "frames": self.frames,
            "drawings": self.drawings,
            "hold": self.options.hold,
            "deflicker_strength": self.options.strength if self.options.deflicker else 0.0,
            "glitch_repair": self.options.repair_glitches,
            "rebuilt": [{"frame": i, "box": list(box)} for i, box in self.glitch_boxes.items()],
            "reuse": None if self.reuse is None else self.reuse.as_dict(),
            "summary": self.plain(),
            "details": self.summary(),
        }


@dataclass
class _Slot:
    index: int  # output frame number
    small: np.ndarray  # input at flow resolution (grey)
    small_rgb: np.ndarray  # input at flow resolution (colour), for residuals
    output: np.ndarray  # the stylizer's output, full resolution
    person: np.ndarray | None  # person mask at flow resolution
    to_prev: np.ndarray | None = None  # flow this -> previous (flow resolution)
    from_prev: np.ndarray | None = None  # flow previous -> this
    fresh: np.ndarray | None = None  # painted anew (flow resolution); None: everything


# Outputs are warped with bicubic sampling: the deflicker warps its own previous result again
# every frame, and bilinear sampling's low-pass compounds into visibly soft line art
# (carphone, strength 0.9, equal settings: 62% of the per-frame detail kept with bilinear, 85%
# with bicubic).
_OUTPUT_WARP = cv2.INTER_CUBIC


def _block_max(score: np.ndarray, block: int) -> tuple[float, tuple[int, int]]:
    pooled = cv2.blur(score, (block, block))
    idx = np.unravel_index(int(np.argmax(pooled)), pooled.shape)
    return float(pooled[idx]), (int(idx[0]), int(idx[1]))


class TemporalSupervisor:
    def __init__(self, options: TemporalOptions | None = None) -> None:
        self.options = options or TemporalOptions()
        # On its own it estimates the motion itself; in a clip it gets it from the drawings.
        self.motion = Motion(side=self.options.flow_max_side, keep=4)
        self.reset()

    def reset(self) -> None:
        """A new clip (the report starts over too)."""
        self.motion.reset()
        self.report = TemporalReport(self.options)
        self.window: list[_Slot] = []
        self.prev_out: np.ndarray | None = None  # last supervised output
        self.prev_slot: _Slot | None = None

    @property
    def active(self) -> bool:
        """Whether it changes anything (else outputs pass through, one drawing later)."""
        o = self.options
        return o.repair_glitches or (o.deflicker and o.strength > 0)

    # -- streaming ---------------------------------------------------------------------------
    def push(
        self, inp: np.ndarray, out: np.ndarray, person: np.ndarray | None = None, drawing: Drawing | None = None
    ) -> list[np.ndarray]:
        """Queue a drawing's input and output (and person matte); returns the outputs ready.
        In a clip `drawing` gives the input's place and the clip's motion."""
        drawing = drawing or Drawing.start(self.motion, inp)
        small = drawing.grey
        small_rgb = cv2.resize(inp, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
        slot = _Slot(
            self.report.drawings * self.options.hold,
            small,
            small_rgb,
            out,
            None if person is None else resize_mask(person.astype(np.float32), small.shape[:2]),
        )
        if drawing.fresh is not None:
            slot.fresh = resize_mask(drawing.fresh.astype(np.float32), small.shape[:2])
        self.report.drawings += 1
        if self.window and self.active and drawing.has_previous:
            slot.to_prev = drawing.to_previous()
            slot.from_prev = drawing.from_previous()
        self.window.append(slot)
        if len(self.window) == 3:
            self._repair(*self.window)
        ready = []
        if len(self.window) >= 2:
            ready.append(self._emit(self.window[-2]))
            self.window = self.window[-2:]
        return ready

    def flush(self) -> list[np.ndarray]:
        if not self.window:
            return []
        result = [self._emit(self.window[-1])]
        self.window = []
        return result

    # -- glitch repair ---------------------------------------------------------------------
    def _repair(self, prev: _Slot, cur: _Slot, nxt: _Slot) -> None:
        o = self.options
        if not o.repair_glitches:
            return
        fp, fn = cur.to_prev, nxt.from_prev  # cur -> prev, cur -> next
        if fp is None or fn is None:
            return
        shape = cur.small.shape
        to_small = lambda img: cv2.resize(img, shape[::-1], interpolation=cv2.INTER_AREA).astype(np.float32)  # noqa: E731
        oc, op, on = to_small(cur.output[..., :3]), to_small(prev.output[..., :3]), to_small(nxt.output[..., :3])
        wp, wn = warp(op, fp), warp(on, fn)
        rp = consistent(fp, cur.from_prev, motion_boundaries=False)
        rn = consistent(fn, nxt.to_prev, motion_boundaries=False)
        ic = cur.small_rgb.astype(np.float32)
        inp_resid = np.maximum(
            np.abs(ic - warp(prev.small_rgb.astype(np.float32), fp)).mean(-1),
            np.abs(ic - warp(nxt.small_rgb.astype(np.float32), fn)).mean(-1),
        )
        excess = (
            np.minimum(np.abs(oc - wp).mean(-1), np.abs(oc - wn).mean(-1)) - np.abs(wp - wn).mean(-1) - 2.0 * inp_resid
        )
        excess *= rp * rn
        if cur.person is not None:
            excess *= cv2.dilate((cur.person > 0.2).astype(np.float32), np.ones((5, 5), np.uint8))
        block = max(3, min(shape) // 24)
        score, (y, x) = _block_max(excess, block)
        self.report.glitch_scores.append(score)
        if score < o.glitch_threshold:
            return
        # Rebuild the frame from its neighbours, warped along the input flow.
        full = cur.output.astype(np.float32)
        wpf = warp(prev.output.astype(np.float32), fp, _OUTPUT_WARP)
        wnf = warp(nxt.output.astype(np.float32), fn, _OUTPUT_WARP)
        rpf, rnf = resize_mask(rp, full.shape[:2])[..., None], resize_mask(rn, full.shape[:2])[..., None]
        weight = rpf + rnf
        rebuilt = np.where(weight > 0.05, (wpf * rpf + wnf * rnf) / np.maximum(weight, 1e-3), (wpf + wnf) / 2)
        # Use the rebuilt pixels where the glitch is (grown and feathered); elsewhere the frame
        # keeps its own detail, which interpolation would only blur.
        area = cv2.dilate(
            (cv2.blur(excess, (block, block)) > o.glitch_threshold / 2).astype(np.float32),
            np.ones((block, block), np.uint8),
        )
        area = resize_mask(cv2.GaussianBlur(area, (0, 0), block / 3), full.shape[:2])[..., None]
        cur.output = np.clip(full + area * (rebuilt - full) + 0.5, 0, 255).astype(np.uint8)
        sy, sx = full.shape[0] / shape[0], full.shape[1] / shape[1]
        half = block // 2
        self.report.glitch_boxes[cur.index] = (
            int((x - half) * sx),
            int((y - half) * sy),
            int(block * sx),
            int(block * sy),
        )

    # -- deflicker -------------------------------------------------------------------------
    def _emit(self, slot: _Slot) -> np.ndarray:
        o = self.options
        out = slot.output
        if o.deflicker and o.strength > 0 and self.prev_out is not None and slot.to_prev is not None:
            out = self._deflicker(slot, out)
        self.prev_out, self.prev_slot = out, slot
        return out

    def _deflicker(self, slot: _Slot, out: np.ndarray) -> np.ndarray:
        """The previous result warped here, blended in where the flow is reliable and the change
        small; only where the drawing was painted anew (what reuse carried is the previous
        result already), on the box around that."""
        o = self.options
        prev_small = self.prev_slot.small_rgb.astype(np.float32)
        reliable = consistent(slot.to_prev, slot.from_prev, motion_boundaries=False)
        resid = np.abs(slot.small_rgb.astype(np.float32) - warp(prev_small, slot.to_prev)).mean(-1)
        reliable *= np.exp(-((resid / o.reliability_sigma) ** 2))
        reliable = cv2.GaussianBlur(reliable, (0, 0), 1.0)
        if slot.fresh is not None:
            reliable *= cv2.GaussianBlur(cv2.dilate(slot.fresh, np.ones((5, 5), np.uint8)), (0, 0), 1.0)
        ys, xs = np.nonzero(reliable > 1e-3)
        if len(ys) == 0:
            self.report.deflicker_skipped += 1
            return out
        h, w = out.shape[:2]
        sy, sx = h / reliable.shape[0], w / reliable.shape[1]
        box = (max(0, int((ys.min() - 1) * sy)), min(h, int(np.ceil((ys.max() + 2) * sy))),
               max(0, int((xs.min() - 1) * sx)), min(w, int(np.ceil((xs.max() + 2) * sx))))  # fmt: skip
        y0, y1, x0, x1 = box
        warped = warp_box(self.prev_out, slot.to_prev, box, _OUTPUT_WARP).astype(np.float32)
        cur = out[y0:y1, x0:x1].astype(np.float32)
        change = cv2.GaussianBlur(np.abs(cur[..., :3] - warped[..., :3]).mean(-1), (0, 0), 1.5)
        gate = np.exp(-((change / o.change_tolerance) ** 2))
        weight = (o.strength * resize_mask(reliable, (h, w))[y0:y1, x0:x1] * gate)[..., None]
        out = out.copy()
        out[y0:y1, x0:x1] = np.clip(cur + weight * (warped - cur) + 0.5, 0, 255).astype(np.uint8)
        return out


def supervise(inputs, outputs, masks=None, options: TemporalOptions | None = None):
    """Convenience for whole sequences (tests, benchmarks): returns (frames, report). With
    options.hold > 1 the inputs are the drawings, each standing for `hold` frames."""
    sup = TemporalSupervisor(options)
    result = []
    for i, (inp, out) in enumerate(zip(inputs, outputs, strict=True)):
        result += sup.push(inp, out, None if masks is None else masks[i])
    result += sup.flush()
    sup.report.frames = len(result) * sup.options.hold
    return result, sup.report
