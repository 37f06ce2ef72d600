"""Optional super-resolution with the `spandrel` package (Real-ESRGAN anime models). Off by
default; needs the extra `pip install animefy[sr]` (torch, torchvision, spandrel)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from animefy.errors import AnimefyError
from animefy.models.capabilities import Capabilities
from animefy.models.runtime import run_tiled
from animefy.settings import Settings


class SpandrelUpscaler:
    """Any architecture spandrel recognises from a state dict; runs on CUDA when available,
    in overlapping tiles so memory stays bounded on large images."""

    def __init__(
        self, path: Path, settings: Settings, caps: Capabilities | None = None, tile: int = 256, overlap: int = 16
    ) -> None:
        try:
            import spandrel
            import torch
        except ImportError as exc:
            raise AnimefyError(
                "Super-resolution needs torch, torchvision and spandrel: pip install 'animefy[sr]'."
            ) from exc
        self.torch = torch
        want = settings.device
        self.device = "cuda" if want == "cuda" or (want == "auto" and torch.cuda.is_available()) else "cpu"
        descriptor = spandrel.ModelLoader(device=self.device).load_from_file(str(path))
        if not isinstance(descriptor, spandrel.ImageModelDescriptor):
            raise AnimefyError(f"{path.name} is not an image-to-image model spandrel can run.")
        self.model = descriptor.eval()
        self.scale = int(descriptor.scale)
        self.caps = dataclasses.replace(caps or Capabilities("upscale"), scale=self.scale)  # the file's own scale
        self.tile, self.overlap = tile, overlap

    def _run(self, tile: np.ndarray) -> np.ndarray:
        torch = self.torch
        x = torch.from_numpy(np.ascontiguousarray(tile.transpose(2, 0, 1))[None]).to(self.device)
        with torch.inference_mode():
            y = self.model(x)
        return y[0].clamp(0, 1).permute(1, 2, 0).float().cpu().numpy()

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        x = rgb.astype(np.float32) / 255.0
        h, w = x.shape[:2]
        tile = (min(self.tile, h), min(self.tile, w))
        y = run_tiled(x, tile, min(self.overlap, min(tile) // 4), self._run, scale=self.scale)
        return np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8)
