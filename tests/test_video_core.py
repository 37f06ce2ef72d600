"""Round 2 of the video core (issue 21): cheaper stages around the models. Tiny per-pixel
models give exact expectations; each test counts the work a stage must skip."""

from __future__ import annotations

import numpy as np
import pytest
from test_reuse import H, W, add_person, reuse_models, texture  # noqa: F401 - reuse_models is a fixture

from animefy.image.stylize import Generator, PlainStyle, stylize_regions
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


class CountingStyle(PlainStyle):
    """A face style that counts the faces it draws (inverts them)."""

    name = "count"
    caps = Capabilities("stylize", face_size=64)

    def __init__(self) -> None:
        self.faces = 0

    def draw(self, crops: np.ndarray) -> np.ndarray:
        self.faces += len(crops)
        return 255 - crops


def _face(x: float, track: int | None = 0):
    from animefy.image.faces import Face

    pts = np.float32([[x + 20, 60], [x + 44, 60], [x + 32, 72], [x + 22, 84], [x + 42, 84]])
    return Face((x, 40.0, 64.0, 64.0), pts, 0.9, track)


def test_face_pass_draws_only_faces_whose_pixels_changed():
    from animefy.image.face_pass import FacePass

    style = CountingStyle()
    fp = FacePass(style, same_style=True)
    scene = texture(160, 240, 3)
    frame = scene.copy()
    out1, n1 = fp(frame[None], frame[None], [[_face(60)]], 0.1)
    assert n1 == 1 and style.faces == 1
    out2, n2 = fp(frame[None], frame[None], [[_face(60)]], 0.1)  # the same face again: pasted, not drawn
    assert n2 == 0 and style.faces == 1 and fp.carried == 1 and np.array_equal(out1, out2)
    moved = np.roll(scene, 7, axis=1)  # the face moved 7 px: its aligned crop is the same
    out3, n3 = fp(moved[None], moved[None], [[_face(67)]], 0.1)
    assert n3 == 0 and style.faces == 1
    assert np.abs(out3[0, 50:100, 80:120].astype(int) - np.roll(out1, 7, axis=2)[0, 50:100, 80:120]).mean() < 2
    talking = moved.copy()
    talking[80:90, 88:110] = 255 - talking[80:90, 88:110]  # the mouth changes
    _, n4 = fp(talking[None], talking[None], [[_face(67)]], 0.1)
    assert n4 == 1 and style.faces == 2
    _, n5 = fp(talking[None], talking[None], [[_face(67, track=None)]], 0.1)  # a photo: no track, always drawn
    assert n5 == 1 and style.faces == 3
    fp.reset()
    _, n6 = fp(talking[None], talking[None], [[_face(67)]], 0.1)
    assert n6 == 1 and style.faces == 4


def test_video_matte_runs_on_the_small_frame_and_carries_a_still_one(tmp_path):
    from conftest import person_on_green
    from tiny_models import red_is_person_rvm

    from animefy.image.matte import CARRY_MAX, VIDEO_SIDE, RvmMatter

    matter = RvmMatter(None, red_is_person_rvm(tmp_path / "rvm.onnx"), Settings.from_env())
    seen = []
    run = matter.session.run
    matter.session.run = lambda names, feeds: seen.append((feeds["src"].shape, float(feeds["downsample_ratio"][0]))) \
        or run(names, feeds)  # fmt: skip
    frame = person_on_green(480, 960)
    photo = matter(frame)  # a still: the whole frame, RVM's own downsample ratio
    assert seen[-1] == ((1, 3, 480, 960), 0.53125)
    matter.for_video()
    seen.clear()
    alphas = [matter(frame) for _ in range(CARRY_MAX + 2)]
    assert seen[0] == ((1, 3, VIDEO_SIDE // 2, VIDEO_SIDE), 1.0)  # the small frame, coarse pass only
    assert len(seen) == 2 + matter.settle  # a pass, CARRY_MAX carried, a pass (the state is refreshed)
    assert matter.passes == 3 and matter.frames_seen == CARRY_MAX + 2 + matter.settle
    assert all(a.shape == frame.shape[:2] for a in alphas)
    assert ((alphas[1] > 0.5) == (photo > 0.5)).mean() > 0.99  # the same person, at the frame's size
    moved = np.roll(frame, 40, axis=1)  # the person moved: matted again
    alpha = matter(moved)
    assert len(seen) == 3 + matter.settle and ((alpha > 0.5) == (moved[..., 0] > 200)).mean() > 0.95
    matter.reset()
    matter(frame)
    assert len(seen) == 5 + matter.settle  # a new clip starts with a pass


def test_supervisor_deflickers_only_what_was_painted_anew():
    from animefy.video.clip import Drawing
    from animefy.video.flow import Motion
    from animefy.video.temporal import TemporalOptions, TemporalSupervisor

    scene = texture(96, 128, 2)
    rng = np.random.default_rng(3)
    outs = [np.clip(scene.astype(int) + rng.integers(-12, 13, scene.shape), 0, 255).astype(np.uint8) for _ in range(4)]

    def run(fresh):
        sup, motion, ready = TemporalSupervisor(TemporalOptions(repair_glitches=False)), Motion(side=128), []
        for out in outs:
            d = Drawing.start(motion, scene)
            d.fresh = fresh
            ready += sup.push(scene, out, None, d)
        return ready + sup.flush(), sup.report

    every, _ = run(None)  # no reuse: everything deflickered
    assert all(np.abs(e.astype(int) - o).mean() > 2 for e, o in zip(every[1:], outs[1:], strict=True))
    carried, report = run(np.zeros((96, 128), np.float32))  # all carried: left as it is
    assert all(np.array_equal(c, o) for c, o in zip(carried, outs, strict=True))
    assert report.deflicker_skipped == 3
    part = np.zeros((96, 128), np.float32)
    part[:, 64:] = 1.0  # the right half painted anew
    half, report = run(part)
    assert report.deflicker_skipped == 0
    for h, e, o in zip(half[1:], every[1:], outs[1:], strict=True):
        assert np.array_equal(h[:, :56], o[:, :56])  # carried: untouched
        assert np.abs(h[:, 72:].astype(int) - e[:, 72:]).max() <= 1  # painted: as before


@pytest.mark.usefixtures("reuse_models")
def test_reuse_tells_the_supervisor_what_it_painted():
    from animefy.image.pipeline import Renderer
    from animefy.video.clip import Drawing
    from animefy.video.flow import Motion
    from animefy.video.reuse import ReuseOptions, Reuser

    frame = add_person(texture(H, W, 5), 50)
    renderer = Renderer(VideoRequest(person_style="invert", background_style="darken"), Settings.from_env())
    reuser, motion, fresh = Reuser(renderer, ReuseOptions(max_interval=100)), Motion(side=W), []
    for _ in range(4):  # a still camera, a person holding still
        d = Drawing.start(motion, frame)
        reuser.render(frame[None], [renderer.split(frame, d)], [d])
        fresh.append(d.fresh)
    assert fresh[0] is None  # the first drawing: all painted
    for f in fresh[1:]:  # then only the matte's soft edge is new
        assert f is not None and 0 < (f > 0.5).mean() < 0.15
