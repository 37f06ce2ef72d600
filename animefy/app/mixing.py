"""The Mix & match tab's files: the grid of animefy.image.mix as full-size PNGs (one per cell,
RGBA where the background is transparent), small previews, and one sheet of the previews
side by side (rows: person styles, columns: backgrounds)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from animefy.app.service import new_output
from animefy.image.io import save_png
from animefy.image.mix import MixResult, columns_for, mix
from animefy.settings import Settings

PREVIEW_SIDE = 256  # the previews' long side


@dataclass
class MixFiles:
    result: MixResult
    cells: list[str]  # full-size PNGs, row by row
    previews: list[str]  # the same, small, transparent areas drawn as a checkerboard
    sheet: str  # the previews in one picture


def _preview(rgb: np.ndarray, alpha: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    h, w = rgb.shape[:2]
    scale = min(1.0, PREVIEW_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return small, None if alpha is None else cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)


def _on_checkerboard(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    if alpha is None:
        return rgb
    yy, xx = np.mgrid[: rgb.shape[0], : rgb.shape[1]]
    board = np.where(((yy // 8 + xx // 8) % 2 == 0)[..., None], 255, 212).astype(np.float32)
    a = alpha.astype(np.float32)[..., None]
    return (rgb * a + board * (1 - a)).round().astype(np.uint8)


def render_mix(
    image: str,
    people: list[str],
    backgrounds: list[str],
    variations: list[str],
    picture: str | None,
    settings: Settings,
    timings=None,
) -> MixFiles:
    """The grid for the photo at `image` (see animefy.image.mix.columns_for for the columns)."""
    columns = columns_for(backgrounds, variations, picture is not None)
    result = mix(image, people, columns, settings, picture, timings)
    cells, previews, tiles = [], [], []
    for row in result.cells:
        line = []
        for frame in row:
            cells.append(str(save_png(new_output(settings, ".png"), frame.rgb, frame.alpha)))
            small = _on_checkerboard(*_preview(frame.rgb, frame.alpha))  # transparency shown on the preview itself
            previews.append(str(save_png(new_output(settings, ".png"), small, None)))
            line.append(np.pad(small, ((4, 4), (4, 4), (0, 0)), constant_values=255))
        tiles.append(np.concatenate(line, axis=1))
    sheet = np.concatenate(tiles, axis=0)
    return MixFiles(result, cells, previews, str(save_png(new_output(settings, ".png"), sheet, None)))
