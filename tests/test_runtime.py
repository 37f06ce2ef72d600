"""The inference layer: layout, colour order, value range, size multiples and tiling of
fixed-size models, checked with tiny models whose output is known exactly."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_models import affine_stylizer

from animefy.models.catalog import ModelSpec
from animefy.models.runtime import OnnxGenerator, run_tiled, tile_starts
from animefy.settings import Settings


def _gen(path, **spec_fields) -> OnnxGenerator:
    fields = {"name": "t", "role": "stylize", "display": "t", "filename": path.name}
    fields.update(spec_fields)
    return OnnxGenerator(ModelSpec(**fields), path, Settings())


def _photo(h=37, w=53, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("value_range", [(-1.0, 1.0), (0.0, 1.0), (0.0, 255.0)])
def test_invert_model_round_trips_every_layout_and_range(tmp_path, layout, value_range):
    lo, hi = value_range
    # y = lo + hi - x inverts within any range.
    path = affine_stylizer(tmp_path / "inv.onnx", layout=layout, scale=(-1, -1, -1), bias=(lo + hi,) * 3)
    img = _photo()
    out = _gen(path, layout=layout, value_range=value_range)(img)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - (255 - img.astype(int))).max() <= 1


@pytest.mark.parametrize("color", ["RGB", "BGR"])
def test_colour_order_reaches_the_model(tmp_path, color):
    # The model keeps its own channel 0 and zeroes the others: R for an RGB model, B for BGR.
    path = affine_stylizer(tmp_path / "c0.onnx", scale=(1, 0, 0), bias=(0, -1, -1))
    img = _photo()
    out = _gen(path, color=color)(img)
    kept = 0 if color == "RGB" else 2
    assert np.abs(out[..., kept].astype(int) - img[..., kept]).max() <= 1
    assert out[..., [c for c in range(3) if c != kept]].max() == 0


def test_size_multiple_pads_and_crops_back(tmp_path):
    path = affine_stylizer(tmp_path / "m32.onnx", multiple=32)
    img = _photo(45, 70)
    gen = _gen(path, size_multiple=32)
    out = gen(img)
    assert out.shape == img.shape
    assert np.abs(out.astype(int) - img).max() <= 1
    from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

    with pytest.raises(InvalidArgument, match="multiple of block_size"):  # the tiny model enforces the rule
        _gen(path, size_multiple=1)(img)


def test_batches_of_frames(tmp_path):
    path = affine_stylizer(tmp_path / "inv.onnx", scale=(-1, -1, -1))
    frames = np.stack([_photo(seed=i) for i in range(3)])
    out = _gen(path)(frames)
    assert out.shape == frames.shape
    assert np.abs(out.astype(int) - (255 - frames.astype(int))).max() <= 1


def test_fixed_size_model_is_tiled_without_squashing(tmp_path):
    path = affine_stylizer(tmp_path / "fixed.onnx", fixed=(32, 32), batch=1, scale=(-1, -1, -1))
    gen = _gen(path, fixed_size=(32, 32))
    for h, w in [(32, 32), (90, 47), (150, 100)]:  # tiled: exact
        img = _photo(h, w)
        out = gen(img)
        assert out.shape == img.shape
        assert np.abs(out.astype(int) - (255 - img.astype(int))).max() <= 1, (h, w)


def test_small_frame_fills_one_tile_with_aspect_kept(tmp_path):
    path = affine_stylizer(tmp_path / "fixed.onnx", fixed=(32, 32), batch=1, scale=(-1, -1, -1))
    y, x = np.mgrid[0:12, 0:25]
    img = np.dstack([x * 10, y * 20, x * 5 + y * 5]).astype(np.uint8)  # smooth, not square
    out = _gen(path, fixed_size=(32, 32))(img)
    assert out.shape == img.shape
    assert np.abs(out.astype(int) - (255 - img.astype(int))).max() <= 3


def test_tiles_blend_seamlessly():
    # A per-tile function whose output depends on the tile (its mean): the blend must not
    # leave a step between tiles larger than the steps inside the image.
    img = np.tile(np.linspace(0, 1, 200, dtype=np.float32)[None, :, None], (64, 1, 3))
    out = run_tiled(img, (64, 64), 16, lambda t: t * 0 + t.mean())
    steps = np.abs(np.diff(out[32, :, 0]))
    assert steps.max() < 0.05
    assert tile_starts(200, 64, 16)[-1] == 136 and tile_starts(50, 64, 16) == [0]
