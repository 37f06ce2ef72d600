"""What the registry hands out: one protocol per role (`registry.load` is typed to return
them). Every model carries its `Capabilities` from the moment it is built; callers use the
protocol's methods, never the class of the model behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from animefy.models.capabilities import Capabilities

if TYPE_CHECKING:
    from animefy.image.faces import Face
    from animefy.image.matte import Matte
    from animefy.image.stylize import FixedChoice
    from animefy.video.clip import Drawing


@dataclass(frozen=True)
class StylePlan:
    """How a style model draws an (h, w) input: at `scale` (its size rule), and for a
    fixed-size model how it covers the input (`fixed`, None for models of any size)."""

    scale: float = 1.0
    fixed: FixedChoice | None = None

    @property
    def passes(self) -> int:
        """Model passes per input."""
        return 1 if self.fixed is None else self.fixed.passes


@runtime_checkable
class StyleModel(Protocol):
    """uint8 RGB frames (H, W, 3) or (N, H, W, 3) -> frames of the same shape."""

    name: str
    caps: Capabilities

    @property
    def batches(self) -> bool:
        """Whether crops of different sizes are worth padding into one call (`crops`)."""
        ...

    def __call__(self, frames: np.ndarray, scale: float | None = None, fixed_mode: str = "auto") -> np.ndarray:
        """`scale` overrides the model's size rule (e.g. a crop at its whole frame's scale);
        `fixed_mode` (auto | letterbox | tiles) reaches fixed-size models."""
        ...

    def plan(self, h: int, w: int, scale: float | None = None, fixed_mode: str = "auto") -> StylePlan: ...

    def crops(self, crops: list[np.ndarray], scale: float) -> list[np.ndarray]:
        """Crops of any sizes drawn at `scale`, each back at its own size."""
        ...


@runtime_checkable
class HeadStyle(StyleModel, Protocol):
    """A style with a head model of its own (`caps.heads`): redraws aligned faces itself."""

    def paste_heads(self, source: np.ndarray, canvas: np.ndarray, faces: list[Face]) -> np.ndarray: ...


@runtime_checkable
class Matter(Protocol):
    """Person matting; may carry state between the frames of a clip (`caps.stateful`)."""

    caps: Capabilities

    def __call__(self, rgb: np.ndarray, drawing: Drawing | None = None) -> np.ndarray:
        """uint8 RGB (H, W, 3) -> float32 alpha (H, W) in 0..1; in a clip, `drawing` gives the
        frame's place and the clip's motion for the temporal check."""
        ...

    def matte(self, rgb: np.ndarray, foreground: bool = True, drawing: Drawing | None = None) -> Matte:
        """Alpha and decontaminated foreground for one frame."""
        ...

    def observe(self, rgb: np.ndarray) -> None:
        """Feed a frame whose matte is not needed (video drawn on twos): state only."""
        ...

    def reset(self) -> None:
        """Forget state carried between video frames."""
        ...

    def for_video(self) -> None:
        """Frames of a clip follow (the cheaper per-frame settings)."""
        ...


@runtime_checkable
class FaceDetector(Protocol):
    caps: Capabilities

    def __call__(self, rgb: np.ndarray) -> list[Face]:
        """Faces of a uint8 RGB picture, the largest first."""
        ...


@runtime_checkable
class Upscaler(Protocol):
    caps: Capabilities  # caps.scale: output size / input size

    def __call__(self, rgb: np.ndarray) -> np.ndarray: ...


Model = StyleModel | Matter | FaceDetector | Upscaler
