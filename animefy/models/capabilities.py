"""What a model can do (a leaf module: only the catalog's data below it): `Capabilities`, made
from a catalog entry by `capabilities`, and the face-crop size of a style."""

from __future__ import annotations

from dataclasses import dataclass

from animefy.models.catalog import ModelSpec

DEFAULT_FACE_SIZE = 256  # AnimeGAN styles draw a face cleanly from a 256 px crop (see animefy/image/face_pass.py)
DCTNET_HEAD_SIZE = 288  # DCT-Net's head model takes 288 x 288 aligned crops


def face_size(spec: ModelSpec) -> int:
    """The working size of a face crop for a style: a fixed-size model's own size, DCT-Net's
    288, else the catalog's `face_size` (default 256), rounded up to the size multiple."""
    if spec.fixed_size:
        return min(spec.fixed_size)
    if spec.format == "dctnet":
        return DCTNET_HEAD_SIZE
    multiple = max(1, spec.size_multiple)
    return -(-(spec.face_size or DEFAULT_FACE_SIZE) // multiple) * multiple


@dataclass(frozen=True)
class Capabilities:
    """What a loaded model can do, from its catalog entry and adapter."""

    role: str
    fixed_size: tuple[int, int] | None = None  # (h, w) the model only takes
    size_multiple: int = 1
    min_side: int = 0  # run at least this short side (stylizers smear small inputs)
    max_side: int = 0  # and at most this long side (0 = no limit)
    heads: bool = False  # redraws aligned faces with a head model of its own (DCT-Net)
    scale: int = 1  # output / input size (upscalers)
    stateful: bool = False  # carries state between video frames (reset() between clips)
    face_size: int = DEFAULT_FACE_SIZE  # side of the square crop faces are redrawn at (the face pass)


def capabilities(spec: ModelSpec) -> Capabilities:
    return Capabilities(
        role=spec.role,
        fixed_size=spec.fixed_size,
        size_multiple=max(1, spec.size_multiple),
        min_side=spec.min_side if spec.role == "stylize" else 0,
        max_side=spec.max_side or 0,
        heads=spec.format == "dctnet",
        scale=spec.scale,
        stateful=spec.role == "matte" and spec.format == "rvm",
        face_size=face_size(spec) if spec.role == "stylize" else DEFAULT_FACE_SIZE,
    )
