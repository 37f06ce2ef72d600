"""Person matte: a soft alpha in 0..1 at the frame's full resolution, and the person's
foreground colours without the old background's fringe.

RVM runs on the frame itself up to `max_side` (its refiner is cheap) with its internal
`downsample_ratio` chosen for the frame size as RVM's authors recommend (the coarse pass sees
about 512 px). The alpha is then brought to the full frame with a fast guided filter so its
edges follow the picture, checked over time in video (one-frame holes and blobs removed),
and the foreground is decontaminated in the semi-transparent band (see refine.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from animefy.image.refine import AlphaStabilizer, decontaminate, refine_alpha
from animefy.models.capabilities import Capabilities, capabilities
from animefy.models.catalog import ModelSpec
from animefy.models.runtime import session
from animefy.settings import Settings

if TYPE_CHECKING:
    from animefy.video.clip import Drawing


@dataclass
class Matte:
    """A person matte: float32 alpha (H, W) in 0..1, and, when computed, the uint8 RGB
    foreground (H, W, 3) to composite with it (equal to the frame where alpha is 1; in the
    soft band the old background's colour is removed)."""

    alpha: np.ndarray
    foreground: np.ndarray | None = None


def work_size(h: int, w: int, max_side: int, multiple: int = 1) -> tuple[int, int]:
    """(height, width) scaled so the long side is at most `max_side`, rounded to `multiple`."""
    scale = min(1.0, max_side / max(h, w))
    rh = max(multiple, round(h * scale / multiple) * multiple)
    rw = max(multiple, round(w * scale / multiple) * multiple)
    return rh, rw


def rvm_downsample_ratio(h: int, w: int, internal: int = 512) -> float:
    """RVM's `downsample_ratio` for an input of (h, w): its coarse pass should see 256..512 px
    (RVM README: 1 up to 512 px, ~0.4 at 720p, ~0.25 at 1080p). Rounded to 1/64."""
    ratio = min(1.0, internal / max(h, w))
    return max(1 / 64, round(ratio * 64) / 64)


@dataclass(frozen=True)
class InputConvention:
    """How a model wants its picture, from its catalog entry: colour order, value range,
    layout and the size multiple its side lengths must have."""

    value_range: tuple[float, float] = (0.0, 1.0)
    layout: str = "NCHW"
    color: str = "RGB"
    multiple: int = 1

    @classmethod
    def of(cls, spec: ModelSpec | None, default: InputConvention) -> InputConvention:
        """The catalog entry's convention (`default` when there is no entry, e.g. a bare file)."""
        if spec is None:
            return default
        return cls(tuple(spec.value_range), spec.layout, spec.color, max(1, spec.size_multiple))

    def tensor(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB (H, W, 3) -> the model's float32 input (a batch of one unless HWC)."""
        x = rgb[..., ::-1] if self.color == "BGR" else rgb
        lo, hi = self.value_range
        x = x.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)
        if self.layout == "NCHW":
            x = x.transpose(2, 0, 1)
        return np.ascontiguousarray(x if self.layout == "HWC" else x[None])


def upsample_alpha(alpha: np.ndarray, h: int, w: int) -> np.ndarray:
    if alpha.shape == (h, w):
        return alpha.astype(np.float32, copy=False)
    return np.clip(cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


class _Refining:
    """What every matter does after its model: guided-filter refinement at full resolution,
    the temporal check, and the decontaminated foreground."""

    refine: bool
    stabilizer: AlphaStabilizer | None
    last_foreground: np.ndarray | None
    caps: Capabilities

    def for_video(self) -> None:
        """Frames of a clip follow: nothing changes unless the matter says so."""

    def _model_alpha(self, rgb: np.ndarray) -> np.ndarray:  # the model's alpha at its working size
        raise NotImplementedError

    def _finish(self, rgb: np.ndarray, small_alpha: np.ndarray, drawing: Drawing | None = None) -> np.ndarray:
        h, w = rgb.shape[:2]
        if self.refine:
            alpha = refine_alpha(rgb, small_alpha)
        else:
            alpha = upsample_alpha(small_alpha, h, w)
        if self.stabilizer is not None:
            alpha = np.clip(self.stabilizer.push(rgb, alpha, drawing), 0.0, 1.0)
        return alpha

    def matte(self, rgb: np.ndarray, foreground: bool = True, drawing: Drawing | None = None) -> Matte:
        """Full result for one frame: refined (and, in video, temporally checked) alpha, and
        the decontaminated foreground unless `foreground=False`."""
        alpha = self._finish(rgb, self._model_alpha(rgb), drawing)
        fg = decontaminate(rgb, alpha) if foreground else None
        self.last_foreground = fg
        return Matte(alpha, fg)

    def __call__(self, rgb: np.ndarray, drawing: Drawing | None = None) -> np.ndarray:
        """Alpha only (the Matter protocol); `matte()` also gives the foreground."""
        return self.matte(rgb, foreground=False, drawing=drawing).alpha


# In a clip (`for_video`) RVM runs on the small frame itself, the long side at VIDEO_SIDE, at
# downsample ratio 1 (its coarse pass only; the guided filter brings the alpha to the frame's
# edges, as for every matter). On the 360x640 dancer, 16 frames, against the full-frame pass at
# ratio 0.8: 0.5x the time (1.12 vs 2.24 s a frame on 2 busy cores), alpha IoU 0.979, mean
# difference 0.007 (at 512: 0.94x the time; at 320: 0.36x, IoU 0.973).
VIDEO_SIDE = 384
# ... and where the small frame has not changed since the last model pass (no pixel of it off
# by more than CARRY_LEVELS in any channel, blurred, 0..255), the alpha of that pass is carried (refined
# against the new frame) for at most CARRY_MAX drawings in a row: a person holding still in
# front of a still camera is matted once.
CARRY_LEVELS = 6.0
CARRY_MAX = 4


class RvmMatter(_Refining):
    """Robust Video Matting. Carries its recurrent state from call to call (video); for a
    still image, `settle` extra passes let the state adapt to the picture first.

    Video drawn on twos: feed every input frame, `observe(rgb)` for the frames that are not
    drawn (updates the recurrent state only) and `matte(rgb)` / `__call__` for drawn ones.
    `for_video()` switches to the clip settings (VIDEO_SIDE, carrying a still matte)."""

    def __init__(
        self,
        spec: ModelSpec | None,
        path: Path,
        settings: Settings,
        max_side: int = 1280,
        internal: int = 512,
        settle: int = 1,
        refine: bool = True,
        stabilize: bool = True,
    ) -> None:
        self.session = session(path, settings, spec.name if spec is not None else Path(path).name)
        self.caps = capabilities(spec) if spec is not None else Capabilities("matte", stateful=True)
        self.convention = InputConvention.of(spec, InputConvention((0.0, 1.0), "NCHW"))
        self.max_side = max_side
        self.internal = internal
        self.settle = settle
        self.refine = refine
        self.stabilizer = AlphaStabilizer() if stabilize else None
        self.video = False
        self.reset()

    def for_video(self) -> None:
        self.video = True
        self.reset()

    def reset(self) -> None:
        zero = np.zeros((1, 1, 1, 1), np.float32)
        self.state = [zero] * 4
        self.frames_seen = 0
        self.passes = 0  # model passes (frames_seen also counts the carried ones)
        self.shape: tuple[int, int] | None = None
        self.last_foreground = None
        self._held: tuple[np.ndarray, np.ndarray] | None = None  # (small frame blurred, alpha) of the last pass
        self._carried = 0
        if self.stabilizer is not None:
            self.stabilizer.reset()

    def _pass(self, src: np.ndarray, ratio: float) -> np.ndarray:
        feeds = {"src": src, "downsample_ratio": np.array([ratio], np.float32)}
        feeds.update({f"r{i + 1}i": s for i, s in enumerate(self.state)})
        pha, *state = self.session.run(["pha", "r1o", "r2o", "r3o", "r4o"], feeds)
        self.state = state
        self.frames_seen += 1
        self.passes += 1
        return pha[0, 0]

    def _model_alpha(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        if self.shape != (h, w):  # a new size is a new clip: the recurrent state no longer fits
            if self.shape is not None:
                self.reset()
            self.shape = (h, w)
        rh, rw = work_size(h, w, min(self.max_side, VIDEO_SIDE) if self.video else self.max_side,
                           self.convention.multiple)  # fmt: skip
        small = cv2.resize(rgb, (rw, rh), interpolation=cv2.INTER_AREA) if (rh, rw) != (h, w) else rgb
        blurred = cv2.GaussianBlur(small, (0, 0), 1.0) if self.video else None
        if blurred is not None and self._held is not None and self._carried < CARRY_MAX:
            if cv2.absdiff(blurred, self._held[0]).max() <= CARRY_LEVELS:
                self._carried += 1
                self.frames_seen += 1
                return self._held[1]
        src = self.convention.tensor(small)
        ratio = 1.0 if self.video else rvm_downsample_ratio(rh, rw, self.internal)
        for _ in range(self.settle if self.frames_seen == 0 else 0):
            self._pass(src, ratio)
        alpha = self._pass(src, ratio)
        if blurred is not None:
            self._held, self._carried = (blurred, alpha), 0
        return alpha

    def observe(self, rgb: np.ndarray) -> None:
        """Update the recurrent state with a frame whose matte is not needed (a frame between
        drawings): the model pass only, no refinement, no foreground, no temporal check."""
        self._model_alpha(rgb)


class ModnetMatter(_Refining):
    """MODNet portrait matting (stateless): long side 512; its input convention (multiple of
    32, values in [-1, 1]) comes from the catalog."""

    def __init__(
        self,
        spec: ModelSpec | None,
        path: Path,
        settings: Settings,
        max_side: int = 512,
        refine: bool = True,
        stabilize: bool = True,
    ) -> None:
        self.session = session(path, settings, spec.name if spec is not None else Path(path).name)
        self.input_name = self.session.get_inputs()[0].name
        self.caps = capabilities(spec) if spec is not None else Capabilities("matte")
        self.convention = InputConvention.of(spec, InputConvention((-1.0, 1.0), "NCHW", multiple=32))
        self.max_side = max_side
        self.refine = refine
        self.stabilizer = AlphaStabilizer() if stabilize else None
        self.last_foreground = None

    def reset(self) -> None:
        self.last_foreground = None
        if self.stabilizer is not None:
            self.stabilizer.reset()

    def _model_alpha(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        rh, rw = work_size(h, w, self.max_side, self.convention.multiple)
        small = cv2.resize(rgb, (rw, rh), interpolation=cv2.INTER_AREA)
        return self.session.run(None, {self.input_name: self.convention.tensor(small)})[0][0, 0]

    def observe(self, rgb: np.ndarray) -> None:
        """MODNet has no state: nothing to update."""
