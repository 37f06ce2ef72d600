"""What the benchmark scripts share: where ../shared is, and reading its clips."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))


def load_clip(name: str, frames: int) -> list[np.ndarray]:
    """The first `frames` frames of ../shared/media/`name`, as RGB arrays."""
    from animefy.video.io import probe, read_frames

    path = SHARED / "media" / name
    out = []
    for f in read_frames(path, probe(path)):
        out.append(f.copy())
        if len(out) == frames:
            break
    return out
