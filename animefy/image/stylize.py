"""Stylizers: every style is a callable from uint8 RGB frames (H, W, 3) or (N, H, W, 3) to
frames of the same shape. ONNX generators come from the catalog; `cel` is built in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from animefy.models.capabilities import Capabilities
from animefy.models.roles import StyleModel, StylePlan
from animefy.models.runtime import count_passes

FIXED_MODES = ("auto", "letterbox", "tiles")
# "auto" letterboxes a fixed-size model's input when one scaled pass keeps at least this share
# of the input's resolution (linear), else tiles it. A 360x640 frame in hayao_v3 (512x512)
# keeps 80%: one pass instead of two tiles (2.3 s vs 5.0 s on 2 busy cores, 88% of the tiles'
# line detail, no seam); at 1280x720 a letterbox would keep 40% (tiles: 6 passes).
LETTERBOX_KEEPS = 0.75
# Bounds on what a generator is run on, whatever the input's shape: the min_side rule scales a
# small input up, but never past UPSCALE_MAX_SIDE on the long side, and no working size has
# more than WORK_MAX_PIXELS (an 8000x100 photo, shrunk to 2048x26, ran at 30247x384: 17 GB).
UPSCALE_MAX_SIDE = 4096
WORK_MAX_PIXELS = 2048 * 2048
# The crops of one drawing go through a model that runs a batch in one call (a dynamic size
# and batch on a GPU) padded up to sides that are multiples of this, so crops of about one size
# share a call and the engine's fixed cost per call is paid once per bucket, not per crop.
# On CPU a batch is no faster than its frames one by one (shinkai_v3, 2 cores: 6 crops of 96 px
# 0.42 s either way, 3 of 256 px 2.3 s apart vs 3.5 s batched), so there crops go one by one.
CROP_BUCKET = 64


Stylizer = StyleModel  # the style role's protocol (animefy.models.roles)


def cel_shade(rgb: np.ndarray, levels: int = 7, line_strength: float = 0.75) -> np.ndarray:
    """Classical cartoon look with no weights: edge-preserving smoothing at a working
    resolution, quantized lightness (flat cel tones), boosted colour, and dark line art."""
    h, w = rgb.shape[:2]
    scale = min(1.0, 720.0 / max(h, w))
    small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    smooth = small
    for _ in range(2):
        smooth = cv2.bilateralFilter(smooth, 9, 40, 7)
    lab = cv2.cvtColor(smooth, cv2.COLOR_RGB2LAB).astype(np.float32)
    step = 255.0 / levels
    lightness = lab[..., 0]
    flat = np.round(lightness / step) * step
    lab[..., 0] = 0.65 * flat + 0.35 * lightness  # flat tones that keep a hint of shading
    lab[..., 1:] = (lab[..., 1:] - 128.0) * 1.2 + 128.0
    toned = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    gray = cv2.medianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), 5)
    lines = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 4)
    ink = 1.0 - line_strength * (1.0 - cv2.GaussianBlur(lines, (3, 3), 0).astype(np.float32) / 255.0)
    out = np.clip(toned.astype(np.float32) * ink[..., None] + 0.5, 0, 255).astype(np.uint8)
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_CUBIC) if scale < 1 else out


class PlainStyle:
    """The StyleModel protocol for a model with no size rule of its own: it draws what it is
    given at that size (its plan's scale is 1, so `scale` and `fixed_mode` change nothing),
    crops one by one. Subclasses define `draw(frames)`."""

    name: str
    caps: Capabilities
    batches = False

    def draw(self, frames: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, frames: np.ndarray, scale: float | None = None, fixed_mode: str = "auto") -> np.ndarray:  # noqa: ARG002
        return self.draw(frames)

    def plan(self, h: int, w: int, scale: float | None = None, fixed_mode: str = "auto") -> StylePlan:  # noqa: ARG002
        return StylePlan()

    def crops(self, crops: list[np.ndarray], scale: float) -> list[np.ndarray]:  # noqa: ARG002
        return [self.draw(crop) for crop in crops]


class CelStylizer(PlainStyle):
    name = "cel"
    caps = Capabilities("stylize")

    def draw(self, frames: np.ndarray) -> np.ndarray:
        count_passes(self.name, 1 if frames.ndim == 3 else len(frames), int(np.prod(frames.shape[:-1])))
        if frames.ndim == 3:
            return cel_shade(frames)
        return np.stack([cel_shade(f) for f in frames])


class IdentityStylizer(PlainStyle):
    """The 'original' pseudo-style: the region stays as photographed."""

    name = "original"
    caps = Capabilities("stylize")

    def draw(self, frames: np.ndarray) -> np.ndarray:
        return frames


@dataclass(frozen=True)
class FixedChoice:
    """How a fixed-size model runs on one frame: `mode` "one" (fits in one pass), "letterbox"
    (scaled down into one pass) or "tiles"; model `passes` per frame; `keeps`, the share of
    the working resolution (linear) the model sees; `tiles`, the passes tiling would take."""

    mode: str
    passes: int
    keeps: float
    tiles: int

    def describe(self, name: str, size: tuple[int, int]) -> str:
        fixed = f"{name} ({size[1]}x{size[0]} only)"
        if self.mode == "one":
            return f"{fixed}: one pass per frame"
        if self.mode == "letterbox":
            return (
                f"{fixed}: one letterboxed pass per frame at {self.keeps:.0%} resolution instead of {self.tiles} tiles"
            )
        return (
            f"{fixed}: {self.tiles} overlapping tiles per frame at full resolution (a letterbox keeps {self.keeps:.0%})"
        )


class Generator:
    """A catalog image-to-image model (an `OnnxGenerator` on any engine) run at a size it works
    well at: small inputs are scaled up so the short side is at least `caps.min_side` (GAN
    stylizers smear faces at low resolution), large ones down so the long side is at most
    `caps.max_side`; the output is resized back to the input's size. Fixed-size models on a
    larger working size run as tiles or one letterboxed pass (`fixed_mode`, see FixedChoice)."""

    def __init__(self, name: str, model: Callable[[np.ndarray], np.ndarray], caps: Capabilities) -> None:
        self.name, self.model, self.caps = name, model, caps

    def scale_for(self, h: int, w: int) -> float:
        """The scale the model runs an (h, w) input at: up to the min_side, down to the
        max_side, bounded by UPSCALE_MAX_SIDE (when scaling up) and WORK_MAX_PIXELS."""
        s = max(1.0, self.caps.min_side / min(h, w)) if self.caps.min_side else 1.0
        if s > 1.0:
            s = max(1.0, min(s, UPSCALE_MAX_SIDE / max(h, w)))
        if self.caps.max_side and max(h, w) * s > self.caps.max_side:
            s = self.caps.max_side / max(h, w)
        return min(s, (WORK_MAX_PIXELS / (h * w)) ** 0.5)

    @property
    def batches(self) -> bool:
        """Whether crops of different sizes are worth padding into one call (see CROP_BUCKET)."""
        return not self.caps.fixed_size and bool(getattr(self.model, "batchable", False))

    def crops(self, crops: list[np.ndarray], scale: float) -> list[np.ndarray]:
        """Crops (uint8 RGB, any sizes) at `scale`, padded by reflection into buckets of
        CROP_BUCKET-multiple sides: one model call per bucket. Each comes back at its own size."""
        bucket = max(CROP_BUCKET, self.caps.size_multiple)
        groups: dict[tuple[int, int], list[int]] = {}
        scaled = []
        for i, crop in enumerate(crops):
            h, w = crop.shape[:2]
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            there = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
            small = crop if size == (w, h) else cv2.resize(crop, size, interpolation=there)
            scaled.append(small)
            key = (-(-size[1] // bucket) * bucket, -(-size[0] // bucket) * bucket)
            groups.setdefault(key, []).append(i)
        out: list[np.ndarray] = [crop for crop in crops]
        for (bh, bw), members in groups.items():
            batch = np.stack([np.pad(scaled[i], ((0, bh - scaled[i].shape[0]), (0, bw - scaled[i].shape[1]), (0, 0)),
                                     mode="reflect" if min(scaled[i].shape[:2]) > 1 else "edge")
                              for i in members])  # fmt: skip
            drawn = self.model(batch)
            for i, y in zip(members, drawn, strict=True):
                sh, sw = scaled[i].shape[:2]
                y, (h, w) = y[:sh, :sw], crops[i].shape[:2]
                back = cv2.INTER_AREA if scale > 1 else cv2.INTER_CUBIC
                out[i] = y if (sh, sw) == (h, w) else cv2.resize(np.ascontiguousarray(y), (w, h), interpolation=back)
        return out

    def fixed_choice(self, h: int, w: int, scale: float | None = None, mode: str = "auto") -> FixedChoice | None:
        """The plan for a fixed-size model on an (h, w) input (None for other models)."""
        if not self.caps.fixed_size or not hasattr(self.model, "fixed_plan"):  # an engine without tiling
            return None
        s = self.scale_for(h, w) if scale is None else scale
        sh, sw = round(h * s), round(w * s)
        th, tw = self.caps.fixed_size
        # Resolution a letterbox keeps, relative to the input's own pixels (the min_side rule's
        # upscaling adds none) or to the max_side rule's working size.
        keeps = min(1.0, min(th / sh, tw / sw) * max(s, 1.0))
        tiles = self.model.fixed_plan(sh, sw, "tiles")[1]
        if tiles == 1 and keeps >= 1.0:
            return FixedChoice("one", 1, 1.0, 1)
        if mode == "auto":
            mode = "letterbox" if keeps >= LETTERBOX_KEEPS else "tiles"
        return FixedChoice(mode, 1 if mode == "letterbox" else tiles, keeps, tiles)

    def plan(self, h: int, w: int, scale: float | None = None, fixed_mode: str = "auto") -> StylePlan:
        """The size rule's scale for an (h, w) input (or `scale`) and a fixed-size model's choice."""
        s = self.scale_for(h, w) if scale is None else scale
        return StylePlan(s, self.fixed_choice(h, w, s, fixed_mode))

    def __call__(self, frames: np.ndarray, scale: float | None = None, fixed_mode: str = "auto") -> np.ndarray:
        """`scale` overrides the size rule, e.g. to run a crop at the scale of its whole frame;
        `fixed_mode` (auto | letterbox | tiles) applies to fixed-size models only."""
        h, w = frames.shape[-3:-1]
        choice = self.fixed_choice(h, w, scale, fixed_mode)
        if choice is not None and choice.mode == "letterbox":
            return self.model(frames, fixed_mode="letterbox")  # one resize, straight into the model's size
        s = self.scale_for(h, w) if scale is None else scale
        if abs(s - 1.0) < 1e-3:
            return self.model(frames)
        size = (round(w * s), round(h * s))
        batch = frames[None] if frames.ndim == 3 else frames
        there = cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA
        back = cv2.INTER_AREA if s > 1 else cv2.INTER_CUBIC
        resized = np.stack([cv2.resize(f, size, interpolation=there) for f in batch])
        out = np.stack([cv2.resize(f, (w, h), interpolation=back) for f in self.model(resized)])
        return out[0] if frames.ndim == 3 else out


def stylize_frames(stylizer: StyleModel, frames: np.ndarray, fixed_mode: str = "auto") -> np.ndarray:
    """Whole frames through any stylizer; `fixed_mode` reaches fixed-size generators."""
    return stylizer(frames, fixed_mode=fixed_mode)


def stylize_regions(
    stylizer: StyleModel, crops: list[np.ndarray], frame_hw: tuple[int, int], fixed_mode: str = "auto"
) -> list[np.ndarray]:
    """The crops of one frame, each as `stylize_region` draws it; batched into a call per
    bucket of sizes where the model gains from it (`StyleModel.batches`)."""
    if stylizer.batches and len(crops) > 1:
        return stylizer.crops(crops, stylizer.plan(*frame_hw).scale)
    return [stylize_region(stylizer, crop, frame_hw, fixed_mode) for crop in crops]


def stylize_region(
    stylizer: StyleModel, crop: np.ndarray, frame_hw: tuple[int, int], fixed_mode: str = "auto"
) -> np.ndarray:
    """Stylize a crop at the scale its whole frame would be stylized at, so a small crop is not
    blown up on its own and every region of a frame is drawn at one scale."""
    return stylizer(crop, stylizer.plan(*frame_hw).scale, fixed_mode)
