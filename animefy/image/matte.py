"""Person matte: a soft alpha in 0..1 at the frame's full resolution, computed from a
downscaled pass (matting does not need full resolution; the alpha is upsampled)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from animefy.models.catalog import ModelSpec
from animefy.models.runtime import session
from animefy.settings import Settings


class Matter(Protocol):
    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB (H, W, 3) -> float32 alpha (H, W) in 0..1."""
        ...

    def reset(self) -> None:
        """Forget state carried between video frames."""
        ...


def work_size(h: int, w: int, max_side: int, multiple: int = 1) -> tuple[int, int]:
    """(height, width) scaled so the long side is at most `max_side`, rounded to `multiple`."""
    scale = min(1.0, max_side / max(h, w))
    rh = max(multiple, round(h * scale / multiple) * multiple)
    rw = max(multiple, round(w * scale / multiple) * multiple)
    return rh, rw


def upsample_alpha(alpha: np.ndarray, h: int, w: int) -> np.ndarray:
    if alpha.shape == (h, w):
        return alpha.astype(np.float32, copy=False)
    return np.clip(cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


class RvmMatter:
    """Robust Video Matting. Carries its recurrent state from call to call (video); for a
    still image, `settle` extra passes let the state adapt to the picture first."""

    def __init__(self, spec: ModelSpec, path: Path, settings: Settings, max_side: int = 640, settle: int = 1) -> None:
        self.session = session(path, settings, spec.name)
        self.max_side = max_side
        self.settle = settle
        self.reset()

    def reset(self) -> None:
        zero = np.zeros((1, 1, 1, 1), np.float32)
        self.state = [zero] * 4
        self.frames_seen = 0

    def _pass(self, src: np.ndarray, ratio: float) -> np.ndarray:
        feeds = {"src": src, "downsample_ratio": np.array([ratio], np.float32)}
        feeds.update({f"r{i + 1}i": s for i, s in enumerate(self.state)})
        pha, *state = self.session.run(["pha", "r1o", "r2o", "r3o", "r4o"], feeds)
        self.state = state
        self.frames_seen += 1
        return pha[0, 0]

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        rh, rw = work_size(h, w, self.max_side)
        small = cv2.resize(rgb, (rw, rh), interpolation=cv2.INTER_AREA) if (rh, rw) != (h, w) else rgb
        src = np.ascontiguousarray(small.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        ratio = min(1.0, 384.0 / max(rh, rw))
        for _ in range(self.settle if self.frames_seen == 0 else 0):
            self._pass(src, ratio)
        return upsample_alpha(self._pass(src, ratio), h, w)


class ModnetMatter:
    """MODNet portrait matting (stateless): short side 512, multiple of 32, input in [-1, 1]."""

    def __init__(self, spec: ModelSpec, path: Path, settings: Settings, max_side: int = 512) -> None:
        self.session = session(path, settings, spec.name)
        self.input_name = self.session.get_inputs()[0].name
        self.max_side = max_side

    def reset(self) -> None:
        pass

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        rh, rw = work_size(h, w, self.max_side, multiple=32)
        small = cv2.resize(rgb, (rw, rh), interpolation=cv2.INTER_AREA)
        x = small.astype(np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0
        alpha = self.session.run(None, {self.input_name: x})[0][0, 0]
        return upsample_alpha(alpha, h, w)


MATTERS = {"rvm": RvmMatter, "modnet": ModnetMatter}
