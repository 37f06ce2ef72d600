"""Faces: the aligned crop and its paste back, which detections count as faces, the working
size and when the pass is skipped, tracks and One Euro smoothing in video, and the face pass
on every face of the real pictures and clips in ../shared."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from conftest import person_on_green

from animefy.errors import ModelUnavailableError
from animefy.image.face_pass import MARGIN, FacePass, keep_faces, oval_mask
from animefy.image.faces import Face, align_face, crop_scale, face_matrix, face_template, paste_face
from animefy.image.stylize import PlainStyle
from animefy.models.registry import Capabilities
from animefy.video.face_tracks import FaceTracker, OneEuro, landmark_size

SIZE = 256


def _similarity(scale: float, degrees: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    c, s = scale * np.cos(a), scale * np.sin(a)
    return np.array([[c, -s, tx], [s, c, ty]], np.float32)


def _landmarks(face_px: float, degrees: float, cx: float, cy: float) -> np.ndarray:
    """Five landmarks of a face about `face_px` wide (the 112 template, eyes 35 apart in a
    112 px face), turned by `degrees` and centred at (cx, cy)."""
    s = face_px / 112.0
    pts = face_template(112, 1.0) - 56.0
    return cv2.transform(pts[None], _similarity(s, degrees, cx, cy))[0]


def _face(landmarks: np.ndarray, score: float = 0.9, track: int | None = None) -> Face:
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    w, h = (hi - lo) * np.array([1.6, 2.0])
    x, y = lo[0] - 0.3 * (hi - lo)[0], lo[1] - 0.7 * (hi - lo)[1]
    return Face((float(x), float(y), float(w), float(h)), landmarks.astype(np.float32), score, track)


def _dots(shape: tuple[int, int], points: np.ndarray, sigma: float) -> np.ndarray:
    """Grey Gaussian dots on black at sub-pixel positions."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w), np.float32)
    for x, y in points:
        img += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    return np.dstack([np.clip(img * 220, 0, 255)] * 3).astype(np.uint8)


def _centroid(img: np.ndarray, point: np.ndarray, radius: int) -> np.ndarray:
    x0, y0 = int(point[0]) - radius, int(point[1]) - radius
    win = img[y0 : y0 + 2 * radius + 1, x0 : x0 + 2 * radius + 1, 0].astype(np.float64)
    win = np.maximum(win - 8, 0)
    yy, xx = np.mgrid[0 : win.shape[0], 0 : win.shape[1]]
    return np.array([(xx * win).sum() / win.sum() + x0, (yy * win).sum() / win.sum() + y0])


# -- geometry ------------------------------------------------------------------------------
@pytest.mark.parametrize(("face_px", "degrees"), [(30, 0.0), (34, 17.0), (300, -8.0)])
def test_crop_at_working_size_and_paste_back_within_half_a_pixel(face_px, degrees):
    """A 30 px face is cut out at 256 px (8x), a 300 px one at 256 px (reduced); an identity
    'stylizer' pasted back puts every feature where it was, within 0.5 px."""
    shape = (int(face_px * 4), int(face_px * 5))
    landmarks = _landmarks(face_px, degrees, shape[1] * 0.5 + 0.37, shape[0] * 0.5 - 0.21)
    matrix = face_matrix(landmarks, SIZE, MARGIN)
    assert np.abs(cv2.transform(landmarks[None], matrix)[0] - face_template(SIZE, MARGIN)).max() < 0.01
    # Features: the landmarks and points around them (forehead, cheeks, chin) as soft dots.
    extra = np.float32([[-35, -45], [35, -45], [-40, 10], [40, 10], [0, 55]]) * (face_px / 112.0)
    points = np.vstack([landmarks, extra + landmarks.mean(axis=0)])
    sigma = max(1.0, face_px / 40.0)
    img = _dots(shape, points, sigma)
    crop, _ = align_face(img, matrix, SIZE)
    assert crop.shape == (SIZE, SIZE, 3)
    back = paste_face(np.zeros_like(img), crop, matrix, np.ones((SIZE, SIZE), np.float32))
    radius = int(np.ceil(3 * sigma))
    shifts = [np.linalg.norm(_centroid(back, p, radius) - _centroid(img, p, radius)) for p in points]
    assert max(shifts) < 0.5, shifts
    # The inverse of the transform maps the crop's template back onto the landmarks.
    inverse = cv2.invertAffineTransform(matrix)
    assert np.abs(cv2.transform(face_template(SIZE, MARGIN)[None], inverse)[0] - landmarks).max() < 0.01


def test_identity_paste_restores_the_picture_inside_the_mask():
    rng = np.random.default_rng(5)
    img = cv2.resize(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), (320, 240), interpolation=cv2.INTER_CUBIC)
    landmarks = _landmarks(60, 10.0, 160.3, 120.6)
    matrix = face_matrix(landmarks, SIZE, MARGIN)
    crop, _ = align_face(img, matrix, SIZE)
    mask = oval_mask(SIZE)
    back = paste_face(img, crop, matrix, mask)
    inner = cv2.warpAffine(mask, cv2.invertAffineTransform(matrix), (320, 240)) > 0.99
    assert inner.sum() > 1500
    assert np.abs(back.astype(int) - img)[inner].mean() < 2.0
    assert np.array_equal(back[:20, :20], img[:20, :20])  # outside the face: untouched


def test_oval_mask_is_zero_at_the_crop_border_and_one_on_the_face():
    mask = oval_mask(SIZE)
    assert mask[0].max() < 1e-3 and mask[-1].max() < 1e-3 and mask[:, 0].max() < 1e-3 and mask[:, -1].max() < 1e-3
    for x, y in face_template(SIZE, MARGIN):  # eyes, nose, mouth
        assert mask[int(y), int(x)] > 0.99


# -- which detections are faces ------------------------------------------------------------
def _person(shape=(300, 400), x0=150, x1=250, head=(200, 60, 34)) -> np.ndarray:
    alpha = np.zeros(shape, np.float32)
    cv2.circle(alpha, head[:2], head[2], 1.0, -1)
    alpha[head[1] + head[2] - 5 :, x0:x1] = 1.0  # neck, body and legs down to the bottom
    return alpha


def test_detections_outside_the_person_or_low_on_it_are_dropped():
    alpha = _person()
    real = _face(_landmarks(40, 0, 200, 62))
    bow = _face(_landmarks(40, 0, 200, 190))  # on the dress, far below the real face
    neck = _face(_landmarks(36, 0, 203, 110))  # just below the real face, same column
    outside = _face(_landmarks(40, 0, 60, 62))  # on the background
    weak = _face(_landmarks(40, 0, 200, 62), score=0.5)
    back_of_head = Face(real.box, np.float32([[199, 60], [201, 60], [200, 70], [199, 80], [201, 80]]), 0.9)
    assert keep_faces([real, bow, neck, outside, weak, back_of_head], alpha) == [real]
    assert keep_faces([bow], alpha) == []  # alone, still too far below the top of its person


def test_two_people_keep_their_faces_and_no_matte_needs_a_higher_score():
    alpha = np.maximum(_person(x0=50, x1=150, head=(100, 60, 34)), _person(x0=250, x1=350, head=(300, 70, 30)))
    a, b = _face(_landmarks(40, 0, 100, 62)), _face(_landmarks(36, 5, 300, 72))
    assert keep_faces([a, b], alpha) == [a, b]
    assert keep_faces([a, _face(b.landmarks, score=0.75)], None) == [a]  # no matte: score >= 0.8


# -- working size and skipping -------------------------------------------------------------
class Recorder(PlainStyle):
    """A stylizer that records the crop sizes it is given and returns them unchanged (or
    darkened, to see where it was pasted)."""

    name = "recorder"

    def __init__(self, caps: Capabilities, darken: bool = False) -> None:
        self.caps, self.darken, self.seen = caps, darken, []

    def draw(self, frames: np.ndarray) -> np.ndarray:
        self.seen += [f.shape[:2] for f in (frames if frames.ndim == 4 else frames[None])]
        return frames // 2 if self.darken else frames


def test_face_size_comes_from_the_catalog():
    from animefy.models.catalog import load_catalog
    from animefy.models.registry import capabilities
    from animefy.settings import Settings

    catalog = load_catalog(Settings())
    assert capabilities(catalog.get("shinkai_v3")).face_size == 256
    assert capabilities(catalog.get("hayao_v3")).face_size == 512  # fixed-size model: its own size
    assert capabilities(catalog.get("dctnet_anime")).face_size == 288
    from dataclasses import replace

    assert capabilities(replace(catalog.get("shinkai_v3"), face_size=300)).face_size == 320  # multiple of 32


def test_small_faces_are_redrawn_at_the_working_size_and_large_ones_skip():
    img = np.full((400, 600, 3), 128, np.uint8)
    small = _face(_landmarks(30, 0, 150, 150))
    large = _face(_landmarks(200, 0, 420, 200))
    same = Recorder(Capabilities("stylize", face_size=SIZE))
    out, count = FacePass(same, same_style=True)(img[None], img[None], [[small, large]], 1.0)
    assert count == 1 and same.seen == [(SIZE, SIZE)]  # the large face is drawn big enough already
    # The whole-frame drawing's scale counts: at 6x the small face (a 50 px crop) is big enough too.
    assert FacePass(same, same_style=True)(img[None], img[None], [[small]], 6.0)[1] == 0
    # Another face style redraws every face; a large one at its own (larger) size.
    other = Recorder(Capabilities("stylize", face_size=SIZE, size_multiple=32))
    _, count = FacePass(other, same_style=False)(img[None], img[None], [[small, large]], 1.0)
    side = 1000 / crop_scale(face_matrix(large.landmarks, 1000, MARGIN))
    assert count == 2 and sorted(other.seen) == [(SIZE, SIZE), ((int(np.ceil(side / 32)) * 32,) * 2)]
    fixed = Recorder(Capabilities("stylize", fixed_size=(512, 512), face_size=512))
    FacePass(fixed, same_style=False)(img[None], img[None], [[small, large]], 1.0)
    assert fixed.seen == [(512, 512)] * 2


def test_a_different_face_style_takes_the_body_colours_at_the_seam():
    rng = np.random.default_rng(2)
    img = cv2.resize(rng.integers(60, 200, (20, 30, 3), dtype=np.uint8), (300, 200), interpolation=cv2.INTER_CUBIC)
    face = _face(_landmarks(40, 0, 150, 100))
    body = np.clip(img.astype(int) + (40, -20, 10), 0, 255).astype(np.uint8)  # the person style tints
    styl = Recorder(Capabilities("stylize", face_size=SIZE))  # the face style does not
    out, _ = FacePass(styl, same_style=False)(img[None], body[None], [[face]], 1.0)
    m = face_matrix(face.landmarks, SIZE, MARGIN)
    weight = cv2.warpAffine(oval_mask(SIZE), cv2.invertAffineTransform(m), (300, 200))
    ring = (weight > 0.2) & (weight < 0.8)
    inner = weight > 0.99
    tint = (out[0].astype(int) - img)[inner].mean(axis=0)
    assert np.abs(tint - (40, -20, 10)).max() < 8  # matched to the body's colours
    assert np.abs(out[0].astype(int) - body)[ring].mean() < 6  # no seam


# -- video: tracks and smoothing -----------------------------------------------------------
def _crop_centre(landmarks: np.ndarray) -> np.ndarray:
    inverse = cv2.invertAffineTransform(face_matrix(landmarks, SIZE, MARGIN))
    return inverse @ np.array([SIZE / 2, SIZE / 2, 1.0])


def _jitter(centres: list[np.ndarray]) -> float:
    c = np.array(centres)
    return float(np.linalg.norm(c[2:] - 2 * c[1:-1] + c[:-2], axis=1).mean())


def test_one_euro_lowers_jitter_without_lag_on_a_steady_move():
    rng = np.random.default_rng(0)
    true = _landmarks(40, 0, 100, 100)
    f = OneEuro()
    raw, smooth = [], []
    for _ in range(100):  # at rest, 1 px of landmark noise
        noisy = true + rng.normal(0, 1.0, true.shape)
        raw.append(_crop_centre(noisy))
        smooth.append(_crop_centre(f(noisy, landmark_size(noisy))))
    assert _jitter(smooth[10:]) < 0.5 * _jitter(raw[10:])
    f, v = OneEuro(), 1.5  # a steady walk (1.5 px a frame for a 40 px face), no noise
    for t in range(60):
        moving = true + (v * t, 0.3 * v * t)
        out = f(moving, landmark_size(moving))
    lag = np.linalg.norm(out - moving, axis=1).mean()
    assert lag < 0.5 * v  # less than half a frame behind
    assert np.abs(out.mean(axis=0) - moving.mean(axis=0)).max() < 1.0


def _textured(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 255, (h // 6, w // 6, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(img, (0, 0), 1.0)


def test_tracks_keep_their_ids_follow_the_motion_and_smooth_the_crop():
    """Two faces on a panning textured scene; the 'detector' returns their true landmarks
    with 1 px noise. The tracker detects every 3rd frame and follows the flow between."""
    big = _textured(260, 460, 1)
    rng = np.random.default_rng(4)
    calls = []
    truth = {0: _landmarks(40, 0, 120, 120), 1: _landmarks(36, 8, 300, 110)}

    def shift_at(t):
        return np.array([1.3 * t, 0.4 * t])

    def detector(rgb):
        t = len(frames) - 1
        calls.append(t)
        return [_face(p + shift_at(t) + rng.normal(0, 1.0, p.shape)) for p in truth.values()]

    tracker = FaceTracker(detector, every=3)
    frames, raw, smooth, ids = [], {0: [], 1: []}, {0: [], 1: []}, []
    for t in range(40):
        frame = cv2.warpAffine(big, np.float32([[1, 0, shift_at(t)[0]], [0, 1, shift_at(t)[1]]]), (400, 220))
        frames.append(frame)
        faces = tracker(frame)
        ids.append(sorted(f.track for f in faces))
        for f in faces:
            k = 0 if f.landmarks[:, 0].mean() < 210 else 1
            smooth[k].append(_crop_centre(f.landmarks))
            raw[k].append(_crop_centre(truth[k] + shift_at(t) + rng.normal(0, 1.0, (5, 2))))
    assert calls == list(range(0, 40, 3))  # detection every 3rd frame, flow between
    assert all(i == [0, 1] for i in ids)  # stable ids
    for k in (0, 1):
        assert _jitter(smooth[k]) < 0.5 * _jitter(raw[k])
        truth_centre = [_crop_centre(truth[k] + shift_at(t)) for t in range(40)]
        err = np.linalg.norm(np.array(smooth[k][10:]) - np.array(truth_centre[10:]), axis=1).mean()
        assert err < 1.0  # follows the pan (no swim)


def test_a_track_ends_when_its_face_is_gone_and_a_new_face_gets_a_new_id():
    img = _textured(200, 300, 2)
    present = {"on": True}
    lm = _landmarks(40, 0, 150, 100)
    tracker = FaceTracker(lambda rgb: [_face(lm)] if present["on"] else [], every=1, max_missed=1)
    assert [f.track for f in tracker(img)] == [0]
    present["on"] = False
    assert [f.track for f in tracker(img)] == [0]  # one missed round is forgiven
    assert tracker(img) == []
    present["on"] = True
    assert [f.track for f in tracker(img)] == [1]
    tracker.reset()
    assert [f.track for f in tracker(img)] == [0]


# -- the pipeline --------------------------------------------------------------------------
@pytest.fixture
def tiny_and_real(real_models, tmp_path, monkeypatch):
    """Tiny stylizers (invert, darken) through a user catalog, beside the real checkpoints
    (YuNet, RVM)."""
    from tiny_models import affine_stylizer, write_catalog

    affine_stylizer(tmp_path / "tiny" / "invert.onnx", scale=(-1, -1, -1))
    affine_stylizer(tmp_path / "tiny" / "darken.onnx", scale=(0.5, 0.5, 0.5), bias=(-0.5, -0.5, -0.5))
    common = {"role": "stylize", "layout": "NHWC", "color": "RGB", "value_range": [-1, 1], "licence": "test"}
    write_catalog(tmp_path / "catalog.toml", {"invert": {**common, "filename": "invert.onnx"},
                                              "darken": {**common, "filename": "darken.onnx"}})  # fmt: skip
    monkeypatch.setenv("ANIMEFY_MODELS_DIR", os.pathsep.join([str(tmp_path / "tiny"), str(real_models / "models")]))
    monkeypatch.setenv("ANIMEFY_CATALOG", str(tmp_path / "catalog.toml"))
    return real_models


def _clip(path, count: int) -> list[np.ndarray]:
    from animefy.video.io import probe, read_frames

    out = []
    for frame in read_frames(path, probe(path)):
        out.append(frame.copy())
        if len(out) == count:
            return out
    return out


def _media_frames(shared):
    from animefy.image.io import load_image

    out = [(n, load_image(shared / "media" / n).rgb) for n in ("astronaut.png", "basketball.png", "cameraman.png")]
    for name, count in (("carphone.mp4", 1), ("pedestrians.avi", 2)):
        out += [(f"{name}#{i}", frame) for i, frame in enumerate(_clip(shared / "media" / name, count))]
    return out


class Tap:
    """Passes crops on to a stylizer, recording their sizes."""

    def __init__(self, stylizer) -> None:
        self.stylizer, self.caps, self.seen = stylizer, stylizer.caps, []

    def __call__(self, crops: np.ndarray, *args: object) -> np.ndarray:
        self.seen += [c.shape[:2] for c in crops]
        return self.stylizer(crops, *args)


@pytest.mark.real
def test_every_face_of_the_real_media_is_redrawn_at_the_working_size(tiny_and_real):
    from animefy.image.face_pass import drawing_scale
    from animefy.image.pipeline import Renderer
    from animefy.schema import ImageRequest
    from animefy.settings import Settings

    renderer = Renderer(ImageRequest(person_style="invert", face_style="darken"), Settings.from_env())
    assert renderer.detector is not None and renderer.matter is not None
    recorder = Tap(renderer.face_pass.stylizer)
    renderer.face_pass.stylizer = recorder
    found = {}
    for name, frame in _media_frames(tiny_and_real):
        recorder.seen = []
        renderer.reset()
        regions = renderer.split(frame)
        before = renderer.timings.calls.get("face pass", 0)
        out = renderer.render(frame[None], [regions])[0].rgb
        faces = regions.faces
        found[name] = len(faces)
        assert renderer.timings.calls.get("face pass", 0) - before == len(faces)  # calls count faces
        scale = drawing_scale(renderer.stylizers["invert"], frame.shape[:2])
        expected = [renderer.face_pass.working_size(1000 / crop_scale(face_matrix(f.landmarks, 1000, MARGIN)), scale)
                    for f in faces]  # fmt: skip
        assert sorted(recorder.seen) == sorted((s, s) for s in expected), name
        assert all(s >= SIZE for s in expected)
        for f in faces:  # the face layer was applied: inside the face the output follows the
            # picture (darken, colour-matched), not its negative (invert, the person style)
            m = face_matrix(f.landmarks, SIZE, MARGIN)
            inner = cv2.warpAffine(oval_mask(SIZE), cv2.invertAffineTransform(m), frame.shape[1::-1]) > 0.99
            inner &= regions.alpha > 0.99  # (the background layer goes over the rest)
            grey = [cv2.cvtColor(im, cv2.COLOR_RGB2LAB)[..., 0][inner].astype(float) for im in (out, frame)]
            assert np.corrcoef(*grey)[0, 1] > 0.8, name
    assert found == {"astronaut.png": 1, "basketball.png": 1, "cameraman.png": 1, "carphone.mp4#0": 1,
                     "pedestrians.avi#0": 0, "pedestrians.avi#1": 0}  # fmt: skip


@pytest.mark.real
def test_default_request_runs_the_face_pass_with_the_person_style(tiny_and_real):
    from animefy.image.pipeline import Renderer
    from animefy.schema import ImageRequest
    from animefy.settings import Settings

    frames = dict(_media_frames(tiny_and_real))
    renderer = Renderer(ImageRequest(person_style="invert"), Settings.from_env())
    assert renderer.detector is not None and renderer.matter is None  # no matte needed, faces still found
    renderer(frames["basketball.png"])  # a 32 px face: redrawn
    assert renderer.timings.calls["face pass"] == 1
    renderer(frames["carphone.mp4#0"])  # drawn at 2.7x with the whole frame: big enough, skipped
    assert renderer.timings.calls["face pass"] == 1


@pytest.mark.real
def test_video_faces_are_tracks(tiny_and_real):
    from animefy.image.pipeline import Renderer
    from animefy.schema import ImageRequest
    from animefy.settings import Settings

    renderer = Renderer(ImageRequest(person_style="invert"), Settings.from_env())
    renderer.track_faces = True
    clip = _clip(tiny_and_real / "media" / "carphone.mp4", 8)
    tracks = [[f.track for f in renderer.split(frame).faces] for frame in clip]
    assert tracks == [[0]] * 8
    renderer.reset()
    assert [f.track for f in renderer.split(clip[0]).faces] == [0]


def test_without_the_detector_the_default_face_pass_is_skipped_with_a_warning(tiny_setup, caplog):
    from animefy.image.pipeline import Renderer, check_request
    from animefy.schema import ImageRequest
    from animefy.settings import Settings

    settings = Settings.from_env()
    _, needs = check_request(ImageRequest(person_style="invert"), settings, False)
    assert ("yunet", "face") not in needs
    with caplog.at_level("WARNING"):
        renderer = Renderer(ImageRequest(person_style="invert"), settings)
    assert renderer.detector is None and "face detector" in caplog.text
    assert renderer(person_on_green()).rgb.shape == person_on_green().shape
    with pytest.raises(ModelUnavailableError, match="yunet"):  # an explicit face style needs it
        Renderer(ImageRequest(person_style="invert", face_style="darken"), settings)
