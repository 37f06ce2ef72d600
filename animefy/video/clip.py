"""The state of one clip, visible like a recurrent network's: a `Drawing` (the frame, its
index, its small grey copy, matte and faces, and the clip's `Motion`) is passed through the
stages of one drawing (matte check, face tracks, reuse, supervisor), and every stage that
keeps state between drawings has `reset()`, called by the streaming loop that owns the clip
(`ClipState`). A stage used on its own (tests, benchmarks) keeps a `Motion` of its own and
makes its drawings with `Drawing.start`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from animefy.video.flow import Motion


class Stateful(Protocol):
    def reset(self) -> None:
        """Forget everything carried from earlier drawings (a new clip)."""
        ...


@dataclass
class Drawing:
    """One drawing on its way through the stages."""

    index: int  # drawings of the clip counted from 0 (on twos: every other frame)
    frame: np.ndarray  # uint8 RGB, full resolution
    motion: Motion
    alpha: np.ndarray | None = None  # the person matte, once the matte stage has run
    faces: list = field(default_factory=list)  # the faces, once the face stage has run
    # What this drawing painted anew (0..1, any resolution), once reuse has run: the rest is
    # carried from earlier drawings and has no flicker of its own. None: all of it is new.
    fresh: np.ndarray | None = None

    @classmethod
    def start(cls, motion: Motion, frame: np.ndarray) -> Drawing:
        """The next drawing of `motion`'s clip (registered with it)."""
        return cls(motion.add(frame), frame, motion)

    @property
    def grey(self) -> np.ndarray:
        """The frame in grey at the clip's motion size."""
        return self.motion.grey(self.index)

    @property
    def has_previous(self) -> bool:
        return self.motion.has(self.index - 1)

    def to_previous(self, shape: tuple[int, int] | None = None) -> np.ndarray:
        """Flow from this drawing to the one before (brings the previous one's maps here)."""
        return self.motion.flow(self.index, self.index - 1, shape)

    def from_previous(self, shape: tuple[int, int] | None = None) -> np.ndarray:
        """Flow from the drawing before to this one."""
        return self.motion.flow(self.index - 1, self.index, shape)


class ClipState:
    """The per-clip state of the streaming loop: the motion and every stateful stage, reset
    together when a clip starts."""

    def __init__(self, motion: Motion, stages: list[Stateful]) -> None:
        self.motion, self.stages = motion, [s for s in stages if s is not None]

    def drawing(self, frame: np.ndarray) -> Drawing:
        return Drawing.start(self.motion, frame)

    def reset(self) -> None:
        self.motion.reset()
        for stage in self.stages:
            stage.reset()
