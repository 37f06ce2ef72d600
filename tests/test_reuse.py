"""Issue 13: stylize only what changed. Synthetic clips with known motion (a sub-pixel pan, a
still camera with one moving object, a hard cut, a person who holds still) through tiny
per-pixel stylizers, so the carried result can be compared with the exact per-frame one."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from tiny_models import affine_stylizer, red_is_person_rvm, write_catalog

from animefy.image.stylize import Generator
from animefy.models.registry import Capabilities
from animefy.schema import VideoRequest
from animefy.settings import Settings
from animefy.video.reuse import ReuseOptions, Reuser, apply_colours, block_boxes, fit_colours, match_tone

H, W = 96, 128


@pytest.fixture
def reuse_models(tmp_path, monkeypatch):
    """Per-pixel tiny stylizers (output known exactly for any crop): darken (x/2), invert,
    darken512 (the same, fixed 64x64 only) and the red-is-person matter."""
    d = tmp_path / "models"
    affine_stylizer(d / "darken.onnx", scale=(0.5, 0.5, 0.5), bias=(-0.5, -0.5, -0.5))
    affine_stylizer(d / "invert.onnx", scale=(-1, -1, -1))
    affine_stylizer(d / "darken64.onnx", scale=(0.5, 0.5, 0.5), bias=(-0.5, -0.5, -0.5), fixed=(64, 64), batch=1)
    red_is_person_rvm(d / "tiny_rvm.onnx")
    common = {"role": "stylize", "layout": "NHWC", "color": "RGB", "value_range": [-1, 1], "licence": "test",
              "min_side": 0}  # fmt: skip
    write_catalog(tmp_path / "catalog.toml", {
        "darken": {**common, "filename": "darken.onnx"},
        "invert": {**common, "filename": "invert.onnx"},
        "darken64": {**common, "filename": "darken64.onnx", "fixed_size": [64, 64]},
        "rvm": {"role": "matte", "format": "rvm", "filename": "tiny_rvm.onnx", "layout": "NCHW",
                "value_range": [0, 1], "licence": "test"},
    })  # fmt: skip
    monkeypatch.setenv("ANIMEFY_MODELS_DIR", str(d))
    monkeypatch.setenv("ANIMEFY_CATALOG", str(tmp_path / "catalog.toml"))
    return d


def texture(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth random texture with red kept below the tiny matter's person threshold."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 6 + 2, w // 6 + 2, 3)).astype(np.float32)
    img = cv2.GaussianBlur(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 1.0)
    img[..., 0] *= 0.4
    return np.clip(img, 0, 255).astype(np.uint8)


def pan_clip(frames: int, speed: float, seed: int = 0) -> list[np.ndarray]:
    """A camera panning right by `speed` px per frame over a larger textured scene."""
    big = texture(H + 8, W + int(frames * speed) + 16, seed)
    out = []
    for t in range(frames):
        shift = np.float32([[1, 0, -(4 + t * speed)], [0, 1, -4]])
        out.append(cv2.warpAffine(big, shift, (W, H), flags=cv2.INTER_CUBIC))
    return out


def add_person(frame: np.ndarray, x: int, y: int = 30, size: tuple[int, int] = (24, 50)) -> np.ndarray:
    out = frame.copy()
    out[y : y + size[1], x : x + size[0]] = (230, 60, 60)
    out[y + 10 : y + 14, x + 6 : x + 18] = (240, 20, 20)  # some texture for the flow
    return out


class Counting(Generator):
    """A generator that counts the pixels it stylizes (the work reuse must skip)."""

    def __init__(self, inner: Generator) -> None:
        super().__init__(inner.name, inner.model, inner.caps)
        self.pixels = 0
        self.calls = 0

    def __call__(self, frames, scale=None, fixed_mode="auto"):
        self.calls += 1
        self.pixels += int(np.prod(frames.shape[-3:-1])) * (1 if frames.ndim == 3 else len(frames))
        return super().__call__(frames, scale, fixed_mode)


def run(frames, person="invert", bg_style="darken", options=None, picture=None, **request):
    """Each frame through split and the Reuser (no supervisor, no encoder): (outputs, reuser, renderer)."""
    from animefy.image.pipeline import Renderer

    request = VideoRequest(person_style=person, background_style=bg_style, **request)
    renderer = Renderer(request, Settings.from_env(), picture)
    for name in list(renderer.stylizers):
        if isinstance(renderer.stylizers[name], Generator):
            renderer.stylizers[name] = Counting(renderer.stylizers[name])
    reuser = Reuser(renderer, options or ReuseOptions())
    outs = []
    for f in frames:
        reg = renderer.split(f)
        outs.append(reuser.render(f[None], [reg])[0].rgb)
    return outs, reuser, renderer


def interior(img: np.ndarray, m: int = 12) -> np.ndarray:
    return img[m:-m, m:-m].astype(np.float32)


# -- the scene plate -----------------------------------------------------------------------------


def test_pan_keyframes_at_the_interval_and_carried_frames_match_the_warped_keyframe(reuse_models):
    clip = pan_clip(20, speed=1.5)
    outs, reuser, renderer = run(clip, options=ReuseOptions(max_interval=8))
    report = reuser.report
    assert report.keyframes == [0, 8, 16]
    assert report.reasons == {"start": 1, "interval": 2}
    # Between keyframes only the strip entering at the right edge is redrawn (as crops).
    carried = [t for t in report.trace if t["scene"] in ("carried", "partial")]
    assert len(carried) == 17 and all(t["redrawn"] < 0.35 for t in carried)
    assert all(t["stale"]["edges"] > 0 for t in carried)
    # A carried frame is the keyframe's output moved by the camera: x/2 of this frame.
    key = clip[0].astype(np.float32) / 2
    for t in (3, 7, 11):
        expected = clip[t].astype(np.float32) / 2
        assert np.abs(interior(outs[t]) - interior(expected)).mean() < 1.5, t
    # ... and warping the keyframe's own output by the known shift gives the same picture.
    shift = np.float32([[1, 0, -1.5 * 5], [0, 1, 0]])  # frame 5 shows frame 0 moved 7.5 px left
    warped = cv2.warpAffine(key, shift, (W, H), flags=cv2.INTER_CUBIC)
    assert np.abs(interior(outs[5])[:, :-20] - interior(warped)[:, :-20]).mean() < 1.5


def test_still_camera_redraws_only_the_moving_object(reuse_models):
    bg = texture(H, W, 3)
    blob = texture(20, 20, 9)
    clip = []
    for t in range(16):
        f = bg.copy()
        x = 10 + 5 * t
        f[60:80, x : x + 20] = blob
        clip.append(f)
    outs, reuser, renderer = run(clip, options=ReuseOptions(max_interval=100))
    report = reuser.report
    assert report.keyframes == [0]
    assert report.partial >= 14  # the object is redrawn as it moves ...
    for t in (5, 10, 15):  # ... so it is where it is, not frozen or smeared
        x = 10 + 5 * t
        region = (slice(60, 80), slice(x, x + 20))
        assert np.abs(outs[t][region].astype(np.float32) - clip[t][region] / 2).mean() < 2.0, t
        assert np.abs(outs[t].astype(np.float32) - clip[t] / 2).mean() < 1.5
    # The stylizer proves the skipped work: one whole frame, then crops around the object.
    darken = renderer.stylizers["darken"]
    assert darken.pixels < 0.5 * 16 * H * W
    assert report.scene_area / report.scene_drawings < 0.3


def test_a_hard_cut_refreshes_everything(reuse_models):
    a, b = pan_clip(10, 1.0, seed=1), pan_clip(10, 1.0, seed=2)
    clip = a + b
    outs, reuser, _ = run(clip, options=ReuseOptions(max_interval=100))
    assert reuser.report.keyframes == [0, 10]
    assert reuser.report.reasons["cut"] == 1
    assert np.abs(outs[10].astype(np.float32) - clip[10] / 2).max() <= 2  # nothing of the old scene


def test_fixed_size_scene_model_redraws_the_whole_plate(reuse_models):
    clip = pan_clip(12, speed=1.0)
    outs, reuser, renderer = run(clip, bg_style="darken64", options=ReuseOptions(max_interval=100))
    report = reuser.report
    assert report.partial == 0  # never crops: every pass costs a whole frame
    assert len(report.keyframes) >= 2 and set(report.reasons) <= {"start", "edges"}
    assert report.keyframes[1] > 1  # a thin entering strip is bridged for a few frames first
    for t in range(12):  # the bridged strip is filled from the input with the plate's colours
        assert np.abs(interior(outs[t], 2) - interior(clip[t] / 2, 2)).mean() < 2.0, t


def test_person_that_holds_still_is_carried_and_a_moving_one_redrawn(reuse_models):
    bg = texture(H, W, 5)
    still = [add_person(bg, 50) for _ in range(8)]
    per_frame, _, _ = run(still, options=ReuseOptions(enabled=False))
    outs, reuser, renderer = run(still, options=ReuseOptions(max_interval=100))
    trace = reuser.report.trace
    assert trace[0]["person"] == 1.0 and all(t["person"] == 0.0 for t in trace[1:5])
    invert = renderer.stylizers["invert"]
    assert invert.calls == 1 + sum(1 for t in trace[1:] if t["person"] > 0)
    away = np.ones((H, W), bool)
    away[30 - 10 : 80 + 10, 50 - 10 : 74 + 10] = False  # the person and the blend's reach around it
    for t in (3, 6):
        diff = np.abs(outs[t].astype(np.float32) - per_frame[t])
        assert diff[away].mean() < 0.5 and diff.mean() < 3.0
        # Inside, the person is the person style all the way down the blend's bands.
        inside = (slice(36, 74), slice(56, 68))
        assert np.abs(outs[t][inside].astype(np.float32) - (255 - still[t][inside].astype(np.float32))).mean() < 2

    moving = [add_person(bg, 20 + 6 * t) for t in range(8)]
    per_frame, _, _ = run(moving, options=ReuseOptions(enabled=False))
    outs, reuser, _ = run(moving, options=ReuseOptions(max_interval=100))
    assert all(t["person"] > 0.2 for t in reuser.report.trace[1:])
    for t in (3, 7):  # redrawn where it is now, and the background behind it where it was
        x = 20 + 6 * t
        inside = (slice(36, 74), slice(x + 6, x + 18))
        assert np.abs(outs[t][inside].astype(np.float32) - (255 - moving[t][inside].astype(np.float32))).mean() < 3
        away = np.ones((H, W), bool)
        away[20:90, x - 10 : x + 34] = False
        assert np.abs(outs[t].astype(np.float32) - per_frame[t])[away].mean() < 1.0, t


def test_reuse_off_renders_every_frame(reuse_models):
    clip = pan_clip(6, 1.0)
    outs, reuser, renderer = run(clip, options=ReuseOptions(enabled=False))
    assert renderer.stylizers["darken"].calls == 6 and renderer.stylizers["invert"].calls == 0  # no person
    assert "reuse off" in reuser.report.summary()


@pytest.mark.parametrize("background", ["transparent", "color", "image"])
def test_other_backgrounds_carry_only_the_person(reuse_models, background):
    clip = [add_person(texture(H, W, 5), 50) for _ in range(5)]
    picture = texture(60, 80, 9) if background == "image" else None
    bg_style = "darken" if background == "image" else ""  # a new background, drawn in a style
    outs, reuser, renderer = run(clip, bg_style=bg_style, background=background, picture=picture)
    assert reuser.scene is None and reuser.person is not None
    assert renderer.stylizers["invert"].calls == 1
    if background == "image":
        assert renderer.stylizers["darken"].calls == 1  # the picture is drawn once for the clip
        backdrop = outs[-1][:, :30].astype(np.float32)  # left of the person
        assert backdrop.std() > 3 and np.abs(backdrop - clip[-1][:, :30]).mean() > 20  # the picture, not the input


# -- pieces ------------------------------------------------------------------------------------


def test_fixed_size_mode_letterbox_or_tiles(reuse_models):
    from animefy.models.registry import load
    from animefy.models.runtime import counting_passes

    gen = load("darken64", "stylize", Settings.from_env())
    frame = texture(90, 150, 1)
    auto = gen.fixed_choice(90, 150)
    assert auto.mode == "tiles" and auto.passes == auto.tiles > 1  # a letterbox would keep 43%
    assert gen.fixed_choice(70, 80).mode == "letterbox"  # keeps 80%: one pass instead of 4 tiles
    for mode, passes in (("tiles", auto.tiles), ("letterbox", 1)):
        with counting_passes() as counter:
            out = gen(frame, fixed_mode=mode)
        assert counter["darken64"] == passes
        assert np.abs(out.astype(np.float32) - frame / 2).mean() < (1.0 if mode == "tiles" else 4.0)


def test_block_boxes_cover_the_stale_pixels():
    stale = np.zeros((64, 96), bool)
    stale[5:9, 5:9] = True
    stale[40:60, 70:90] = True
    boxes = block_boxes(stale, 16)
    assert boxes == [(0, 16, 0, 16), (32, 64, 64, 96)]


def test_tone_and_colour_fits():
    rng = np.random.default_rng(0)
    src = rng.integers(0, 200, (40, 40, 3)).astype(np.uint8)
    target = np.clip(src * 1.1 + 8, 0, 255).astype(np.uint8)
    ring = np.ones((40, 40), bool)
    assert np.abs(match_tone(src, target, ring).astype(int) - target).mean() < 1.5
    a = fit_colours(src.astype(np.float32), target.astype(np.float32), ring)
    assert np.abs(src.reshape(-1, 3) @ a[:3] + a[3] - target.reshape(-1, 3)).mean() < 1.5
    assert Capabilities("stylize").fixed_size is None
    # Fitted on a flat ring (pavement) the slope is not known: it stays near the identity, so a
    # dark walker filled in through the map stays dark (a free fit made the slope 0.5: light grey).
    flat = np.clip(180 + rng.normal(0, 3, (40, 40, 3)), 0, 255).astype(np.float32)
    a = fit_colours(flat, flat * 0.5 + 100, ring)
    assert np.abs(np.diag(a[:3]) - 1).max() < 0.2
    assert (apply_colours(np.full((2, 2, 3), 30, np.uint8), a) < 70).all()


def test_on_twos_keyframes_count_output_frames(reuse_models):
    from animefy.image.pipeline import Renderer

    clip = pan_clip(24, speed=1.0)
    renderer = Renderer(VideoRequest(person_style="invert", background_style="darken"), Settings.from_env())
    reuser = Reuser(renderer, ReuseOptions(max_interval=8), hold=2)
    for f in clip[::2]:  # the drawings, each standing for two frames
        reuser.render(f[None], [renderer.split(f)])
    assert reuser.report.keyframes == [0, 8, 16]  # output frames: every 4th drawing
    assert reuser.report.frames == 24


def test_video_reports_what_was_carried(reuse_models, tmp_path):
    from fractions import Fraction

    from animefy.video.io import VideoWriter
    from animefy.video.pipeline import stylize_video

    src = tmp_path / "pan.mp4"
    writer = VideoWriter(src, W, H, Fraction(25))
    for f in pan_clip(12, 1.0):
        writer.write(add_person(f, 50))
    writer.close()
    request = VideoRequest(person_style="invert", background_style="darken")
    result = stylize_video(src, tmp_path / "out.mp4", request)
    reuse = result.reuse
    assert reuse is result.report.reuse and reuse.keyframes == [0] and reuse.drawings == 12
    summary = result.report.summary()
    assert "Reuse: background carried on 11 of 12 drawings" in summary and "model passes per drawing" in summary
    data = result.report.as_dict()["reuse"]
    assert data["keyframes"] == [0] and data["model_passes"]["darken"] >= 1 and data["enabled"]
    off = stylize_video(src, tmp_path / "off.mp4", request.model_copy(update={"reuse": False}))
    assert "reuse off" in off.report.summary()
    assert off.reuse.passes["darken"] == 12 and off.reuse.passes["invert"] == 12  # one crop per frame
    assert off.reuse.passes.pixels["darken"] == 12 * H * W
    # More, smaller passes (crops at the entering edge, around the person's outline), far fewer pixels.
    assert reuse.megapixels_per_frame() < 0.5 * off.reuse.megapixels_per_frame()


def test_front_ends_offer_the_options():
    from animefy.app.cli import build_parser
    from animefy.schema import ImageRequest, fields

    args = build_parser().parse_args(["video", "in.mp4", "-o", "out.mp4", "--no-reuse", "--fixed-size-mode", "tiles"])
    assert args.reuse is False and args.fixed_size_mode == "tiles"
    names = {f["name"]: f for f in fields(VideoRequest)}
    assert names["reuse"]["default"] is True and names["reuse"]["ui"] == "advanced"
    assert names["fixed_size_mode"]["choices"] == ("auto", "letterbox", "tiles")
    assert "fixed_size_mode" in ImageRequest.model_fields and "reuse" not in ImageRequest.model_fields


class Glitchy(Counting):
    """Paints a dark blob on the person (the red pixels of its input) while `armed`: a one-frame
    glitch of the generator, as in a flickering eye."""

    armed = False

    def __call__(self, frames, scale=None, fixed_mode="auto"):
        out = super().__call__(frames, scale, fixed_mode)
        if self.armed:
            for f, o in zip(frames[None] if frames.ndim == 3 else frames, out[None] if out.ndim == 3 else out,
                            strict=True):  # fmt: skip
                ys, xs = np.nonzero((f[..., 0] > 200) & (f[..., 1] < 100))
                if len(ys):
                    y, x = int(ys.mean()), int(xs.mean())
                    o[y - 5 : y + 5, x - 5 : x + 5] = 0
        return out


def test_glitch_repair_still_finds_a_one_frame_glitch(reuse_models):
    """A glitch the generator makes on a redrawn person lasts one frame with reuse on too (it is
    not carried into the next drawings), so the supervisor finds and rebuilds it."""
    from animefy.image.pipeline import Renderer
    from animefy.video.temporal import TemporalOptions, supervise

    bg = texture(H, W, 5)
    clip = [add_person(bg, 20 + 3 * t) for t in range(12)]
    renderer = Renderer(VideoRequest(person_style="invert", background_style="darken"), Settings.from_env())
    glitchy = renderer.stylizers["invert"] = Glitchy(renderer.stylizers["invert"])
    reuser = Reuser(renderer, ReuseOptions())
    outs, masks = [], []
    for t, f in enumerate(clip):
        reg = renderer.split(f)
        glitchy.armed = t == 6
        outs.append(reuser.render(f[None], [reg])[0].rgb)
        masks.append(reg.alpha)
    dark = [int((o[30:80] < 10).all(-1).sum()) for o in outs]
    assert dark[6] >= 80 and max(dark[:6] + dark[7:]) < 20, dark  # in frame 6 only
    repaired, report = supervise(clip, outs, masks, TemporalOptions(deflicker=False))
    assert report.rebuilt == [6]
    assert (repaired[6][30:80] < 10).all(-1).sum() < 20


def test_faces_are_carried_with_a_person_who_holds_still(reuse_models):
    """The face pass runs where the person layer was redrawn around a face; a still face is
    carried with the layer (the face pass is the costliest step on a talking head)."""
    from animefy.image.faces import Face
    from animefy.image.pipeline import Renderer
    from animefy.image.regions import Regions

    def face_run(clip, xs):
        renderer = Renderer(VideoRequest(person_style="invert", background_style="darken"), Settings.from_env())
        calls = []

        def face_layer(person, frames, regions):  # a face pass that paints the face box green
            out = person.copy()
            for i, reg in enumerate(regions):
                for f in reg.faces:
                    x, y, w, h = (int(v) for v in f.box)
                    out[i, y : y + h, x : x + w] = (0, 255, 0)
                    calls.append(f.box)
            return out

        renderer.head_pass, renderer.face_layer = True, face_layer
        reuser = Reuser(renderer, ReuseOptions(max_interval=100))
        outs = []
        for f, x in zip(clip, xs, strict=True):
            reg = Regions(
                renderer.split(f).alpha, [Face((x + 6.0, 34.0, 12.0, 12.0), np.zeros((5, 2), np.float32), 0.9)]
            )
            outs.append(reuser.render(f[None], [reg])[0].rgb)
        return outs, reuser.report, calls

    bg = texture(H, W, 5)
    xs = [50] * 6
    outs, report, calls = face_run([add_person(bg, x) for x in xs], xs)
    assert report.faces == 6 and report.faces_redrawn == len(calls) == 1
    green = outs[5][37:43, 59:65].astype(int)
    assert (green[..., 1] > 200).all() and (green[..., 0] < 60).all()  # carried, not lost
    assert "faces drawn 1 of 6 times" in report.summary() and report.as_dict()["faces_redrawn"] == 1
    xs = [20 + 6 * t for t in range(6)]
    outs, report, calls = face_run([add_person(bg, x) for x in xs], xs)
    assert report.faces_redrawn == len(calls) == 6  # a moving face is drawn every time
    assert (outs[5][37:43, xs[5] + 9 : xs[5] + 15, 1] > 200).all()


def test_one_motion_estimate_per_pair_of_drawings(reuse_models, tmp_path, monkeypatch):
    """Issue 21: the matte's check, the person plate and the supervisor share one flow per pair
    of drawings and preset (the clip's Motion); only the scene plate's prediction (a picture,
    not a drawing) is estimated apart. A counting estimator sees every estimate."""
    import hashlib
    from fractions import Fraction

    import animefy.video.flow as flow
    from animefy.video.io import VideoWriter
    from animefy.video.pipeline import stylize_video

    real, calls = flow.FlowEstimator, []

    class CountingFlow:
        def __init__(self, preset: int = flow.MEDIUM) -> None:
            self.preset, self.inner = preset, real(preset)

        def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
            digest = [hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest() for x in (a, b)]
            calls.append((self.preset, *digest))
            return self.inner(a, b)

    monkeypatch.setattr(flow, "FlowEstimator", CountingFlow)
    src = tmp_path / "pan.mp4"
    writer = VideoWriter(src, W, H, Fraction(25))
    for t, f in enumerate(pan_clip(10, 1.0)):
        writer.write(add_person(f, 30 + 3 * t))  # a walker: the person plate needs the motion too
    writer.close()
    result = stylize_video(src, tmp_path / "out.mp4", VideoRequest(person_style="invert", background_style="darken"))
    assert result.reuse.person_drawings > 1
    pairs = [c for c in calls if c[0] == flow.MEDIUM]
    assert len(pairs) == len(set(pairs))  # no pair of pictures estimated twice
    assert len(pairs) == 2 * (10 - 1)  # forward and backward between neighbours: the supervisor's, shared
    assert {c[0] for c in calls} <= {flow.MEDIUM, flow.FAST}  # the matte's check asks the shared motion
    assert len(calls) - len(pairs) <= 9  # the scene plate's prediction, one per carried drawing
