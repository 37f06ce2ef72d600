"""Super-resolution through spandrel with a tiny Compact (realesr-animevideov3 family) model
made here. Skips when torch or spandrel are not installed (the optional extra animefy[sr])."""

from __future__ import annotations

import enum
import sys
import types

import cv2
import numpy as np
import pytest
from conftest import missing
from tiny_models import write_catalog


@pytest.fixture
def spandrel_module(monkeypatch):
    torch = pytest.importorskip("torch", reason=missing("torch", "the extra animefy[sr]"))
    try:
        import torchvision.transforms.functional  # noqa: F401
    except Exception:  # noqa: BLE001 - no usable torchvision (e.g. CPU torch with a CUDA torchvision)
        # spandrel imports two torchvision names at import time for architectures we do not
        # use (LaMa, RestoreFormer). Give it just those so the Compact architecture can load.
        fn = types.ModuleType("torchvision.transforms.functional")
        fn.InterpolationMode = enum.Enum("InterpolationMode", "NEAREST BILINEAR BICUBIC")
        fn.rotate = fn.normalize = lambda *a, **k: (_ for _ in ()).throw(NotImplementedError())
        tv, tr = types.ModuleType("torchvision"), types.ModuleType("torchvision.transforms")
        tv.transforms, tr.functional = tr, fn
        for name, mod in {
            "torchvision": tv,
            "torchvision.transforms": tr,
            "torchvision.transforms.functional": fn,
        }.items():
            monkeypatch.setitem(sys.modules, name, mod)
    spandrel = pytest.importorskip("spandrel", reason=missing("spandrel", "the extra animefy[sr]"))
    return torch, spandrel


def test_spandrel_upscaler_through_the_pipeline(spandrel_module, tmp_path, monkeypatch):
    torch, _ = spandrel_module
    from spandrel.architectures.Compact import Compact as SRVGGNetCompact

    torch.manual_seed(0)
    net = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=4)
    with torch.no_grad():  # last conv zeroed: the output is exactly the nearest-upscaled input
        last = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        last.weight.zero_()
        last.bias.zero_()
    models = tmp_path / "models"
    models.mkdir()
    torch.save(net.state_dict(), models / "tiny_sr.pth")
    write_catalog(
        tmp_path / "cat.toml",
        {"tiny_sr": {"role": "upscale", "filename": "tiny_sr.pth", "format": "pth", "licence": "test"}},
    )
    monkeypatch.setenv("ANIMEFY_MODELS_DIR", str(models))
    monkeypatch.setenv("ANIMEFY_CATALOG", str(tmp_path / "cat.toml"))

    from animefy.models.registry import load
    from animefy.settings import Settings

    up = load("tiny_sr", "upscale", Settings.from_env())
    from animefy.models.roles import Upscaler

    assert isinstance(up, Upscaler) and up.caps.role == "upscale" and up.caps.scale == 4  # the file's own scale
    up.tile, up.overlap = 16, 4  # force several tiles
    img = np.random.default_rng(1).integers(0, 256, (40, 52, 3), dtype=np.uint8)
    out = up(img)
    assert out.shape == (160, 208, 3) and up.scale == 4
    expected = cv2.resize(img, (208, 160), interpolation=cv2.INTER_NEAREST)
    assert np.abs(out.astype(int) - expected).max() <= 1

    from animefy.image.pipeline import stylize_image

    res = stylize_image(img, person_style="cel", upscale="tiny_sr")
    assert res.rgb.shape == (160, 208, 3)
