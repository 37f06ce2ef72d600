"""Round 2 of the video core (issue 21): cheaper stages around the models. Tiny per-pixel
models give exact expectations; each test counts the work a stage must skip."""

from __future__ import annotations

import numpy as np
import pytest
from test_reuse import H, W, add_person, reuse_models, texture  # noqa: F401 - reuse_models is a fixture

from animefy.image.stylize import Generator, stylize_regions
from animefy.models.capabilities import Capabilities
from animefy.schema import VideoRequest
from animefy.settings import Settings


class Invert:
    """A per-pixel model (so padding cannot change what a crop gets) that counts its calls."""

    def __init__(self, batchable: bool) -> None:
        self.batchable, self.calls = batchable, []

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        self.calls.append(frames.shape)
        return 255 - frames


def _crops() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, shape, np.uint8) for shape in [(50, 40, 3), (60, 64, 3), (100, 30, 3)]]


def test_crops_of_a_drawing_share_one_call_per_bucket_when_the_model_batches():
    crops = _crops()
    batching = Invert(batchable=True)
    out = stylize_regions(Generator("inv", batching, Capabilities("stylize", size_multiple=32)), crops, (200, 300))
    # 50x40 and 60x64 pad into one 64x64 bucket, 100x30 into 128x64: two calls for three crops
    assert sorted(batching.calls) == [(1, 128, 64, 3), (2, 64, 64, 3)]
    for crop, drawn in zip(crops, out, strict=True):
        assert drawn.shape == crop.shape and np.array_equal(drawn, 255 - crop)
    single = Invert(batchable=False)  # on CPU batches do not pay: one call per crop, as before
    out_single = stylize_regions(Generator("inv", single, Capabilities("stylize", size_multiple=32)), crops, (200, 300))
    assert len(single.calls) == 3
    assert all(np.array_equal(a, b) for a, b in zip(out, out_single, strict=True))
    fixed = Invert(batchable=True)  # a fixed-size model never batches crops (each is a whole pass)
    stylize_regions(Generator("inv", fixed, Capabilities("stylize", fixed_size=(64, 64))), crops, (200, 300))
    assert len(fixed.calls) == 3


@pytest.mark.usefixtures("reuse_models")
def test_people_of_one_drawing_are_stylized_in_one_engine_call():
    from animefy.image.pipeline import Renderer

    frame = add_person(add_person(texture(H, W, 5), 8), W - 40)  # two people far apart
    renderer = Renderer(VideoRequest(person_style="invert", background_style="darken"), Settings.from_env())
    regions = renderer.split(frame)
    expected = renderer.person_layer(frame[None], [regions], None)[0]  # CPU: one call per person
    model = renderer.stylizers["invert"].model
    calls = []
    infer = model._infer
    model._infer = lambda x: calls.append(len(x)) or infer(x)
    assert len(renderer.style_regions("invert", frame, [(0, 40, 0, 40), (0, 40, 60, 100)])) == 2
    assert calls == [1, 1]
    calls.clear()
    model.batchable = True  # what a GPU session with a dynamic batch says
    out = renderer.person_layer(frame[None], [regions], None)[0]
    assert calls == [2]  # both people, one call
    assert np.abs(out.astype(int) - expected).max() <= 1
