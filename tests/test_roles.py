"""The typed model boundary: one builder per catalog (role, format), every built model follows
its role's protocol, and callers treat any StyleModel alike (no branching on its class)."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_models import affine_stylizer, write_catalog

from animefy.errors import InputError
from animefy.image.stylize import Generator, stylize_region
from animefy.models.capabilities import Capabilities
from animefy.models.catalog import load_catalog
from animefy.models.registry import BUILDERS, builder_key, load
from animefy.models.roles import FaceDetector, HeadStyle, Matter, StyleModel
from animefy.settings import Settings


def test_every_catalog_entry_has_a_builder():
    catalog = load_catalog(Settings())
    missing = {name: builder_key(spec) for name, spec in catalog.models.items() if builder_key(spec) not in BUILDERS}
    assert not missing
    assert {role for role, _ in BUILDERS} == {"stylize", "matte", "face", "upscale"}


def test_built_tiny_models_follow_their_role_protocols(tiny_setup, tmp_path, monkeypatch):
    affine_stylizer(tiny_setup / "modnet.onnx", layout="NCHW")  # any one-input NCHW graph builds a MODNet matter
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(catalog.read_text() + '\n[models.tiny_modnet]\nrole = "matte"\nformat = "modnet"\n'
                       'filename = "modnet.onnx"\nlayout = "NCHW"\nlicence = "test"\n')  # fmt: skip
    settings = Settings.from_env()
    for name in ("invert", "cel", "original"):
        style = load(name, "stylize", settings)
        assert isinstance(style, StyleModel) and style.caps.role == "stylize"
        assert not isinstance(style, HeadStyle)  # only DCT-Net redraws heads itself
        frame = np.full((40, 60, 3), 100, np.uint8)
        assert style(frame, style.plan(40, 60).scale).shape == frame.shape
    for name, stateful in (("rvm", True), ("tiny_modnet", False)):
        matter = load(name, "matte", settings)
        assert isinstance(matter, Matter) and matter.caps.stateful is stateful
        assert not isinstance(matter, StyleModel)


def test_the_face_detector_follows_its_protocol(real_models):
    detector = load("yunet", "face", Settings.from_env())
    assert isinstance(detector, FaceDetector) and detector.caps.role == "face"
    assert detector(np.zeros((64, 64, 3), np.uint8)) == []


def test_a_format_without_a_builder_is_refused_before_any_file_is_looked_for(tmp_path, monkeypatch):
    """Regression: any format of a style used to be run as ONNX (a .pth style failed deep in
    the engine, or offline as 'not downloaded')."""
    write_catalog(tmp_path / "cat.toml", {"mystyle": {"role": "stylize", "filename": "m.pth", "format": "pth"}})
    monkeypatch.setenv("ANIMEFY_CATALOG", str(tmp_path / "cat.toml"))
    monkeypatch.setenv("ANIMEFY_OFFLINE", "1")
    with pytest.raises(InputError, match=r"format 'pth'; supported: onnx, dctnet"):
        load("mystyle", "stylize", Settings.from_env())


class Engine:
    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        self.seen.append(frames.shape[-3:-1])
        return frames


class Wrapper:
    """Any StyleModel that is not a Generator (a counting wrapper, as the tests' fixtures use)."""

    def __init__(self, model: StyleModel) -> None:
        self.model, self.name, self.caps = model, model.name, model.caps

    def __getattr__(self, attr: str):
        return getattr(self.model, attr)

    def __call__(self, frames: np.ndarray, *args, **kw) -> np.ndarray:
        return self.model(frames, *args, **kw)


def test_a_crop_is_drawn_at_its_frames_scale_whatever_the_style_models_class():
    """Regression: only a Generator got the whole frame's scale; any other StyleModel (a
    wrapper around one) ran a small crop through its own size rule, blown up to min_side."""
    engine = Engine()
    style = Wrapper(Generator("g", engine, Capabilities("stylize", min_side=384)))
    assert isinstance(style, StyleModel)
    crop = np.zeros((50, 40, 3), np.uint8)
    out = stylize_region(style, crop, (400, 600))  # the whole frame is drawn at scale 1
    assert out.shape == crop.shape and engine.seen == [(50, 40)]
