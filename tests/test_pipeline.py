"""The image pipeline: regions, per-region styles, backgrounds and compositing. Tiny models
give exact expectations; the real checkpoints in ../shared check real behaviour."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import person_on_green

from animefy.errors import InputError, ModelUnavailableError
from animefy.image.compose import feather_blend, laplacian_blend
from animefy.image.faces import Face
from animefy.image.pipeline import StyleOptions, stylize_image
from animefy.image.regions import make_regions


def test_offline_builtin_style_needs_no_models():
    img = person_on_green()
    result = stylize_image(img, person_style="cel")
    assert result.rgb.shape == img.shape and result.alpha is None
    assert np.abs(result.rgb.astype(int) - img).mean() > 3  # it did something


def test_missing_matte_model_is_explained():
    with pytest.raises(ModelUnavailableError, match="rvm"):
        stylize_image(person_on_green(), person_style="cel", background="transparent")


def test_regions_sum_to_one_and_face_inside_person():
    alpha = np.zeros((80, 80), np.float32)
    alpha[10:80, 20:60] = 1.0
    alpha = cv2.GaussianBlur(alpha, (0, 0), 2)
    face = Face((28.0, 12.0, 24.0, 28.0), np.array([[34, 22], [46, 22], [40, 28], [35, 34], [45, 34]], np.float32), 0.9)
    reg = make_regions(alpha, [face])
    total = reg.face + reg.body + reg.background
    assert np.allclose(total, 1.0, atol=1e-6)
    assert reg.face.max() > 0.9 and (reg.face <= reg.alpha + 1e-6).all() and reg.body.min() >= -1e-6
    assert reg.face[25, 40] > 0.9 and reg.face[70, 40] < 0.01


def test_person_and_background_styles_land_in_their_regions(tiny_setup):
    img = person_on_green()
    out = stylize_image(img, person_style="invert", background_style="darken").rgb
    inside, outside = (slice(50, 90), slice(56, 72)), (slice(0, 10), slice(0, 30))
    assert np.abs(out[inside].astype(int) - (255 - img[inside].astype(int))).max() <= 2
    assert np.abs(out[outside].astype(int) - img[outside] // 2).max() <= 2


def test_person_only_and_background_only(tiny_setup):
    img = person_on_green()
    inside, outside = (slice(50, 90), slice(56, 72)), (slice(0, 10), slice(0, 30))
    person_only = stylize_image(img, person_style="invert", background_style="original").rgb
    assert np.array_equal(person_only[outside], img[outside])
    assert np.abs(person_only[inside].astype(int) - (255 - img[inside].astype(int))).max() <= 2
    bg_only = stylize_image(img, person_style="original", background_style="invert").rgb
    assert np.array_equal(bg_only[inside], img[inside])


def test_transparent_colour_and_replaced_background(tiny_setup):
    img = person_on_green()
    t = stylize_image(img, person_style="invert", background="transparent")
    assert t.alpha is not None and t.alpha[60, 64] > 0.99 and t.alpha[5, 5] < 0.01
    png = cv2.imdecode(np.frombuffer(t.png(), np.uint8), cv2.IMREAD_UNCHANGED)
    assert png.shape == (*img.shape[:2], 4) and png[60, 64, 3] == 255 and png[5, 5, 3] == 0

    c = stylize_image(img, person_style="invert", background="#0000ff").rgb
    assert tuple(c[5, 5]) == (0, 0, 255)

    picture = np.full((30, 40, 3), (200, 100, 50), np.uint8)
    r = stylize_image(img, person_style="invert", background=picture, stylize_background_image=False).rgb
    assert tuple(r[5, 5]) == (200, 100, 50)
    rs = stylize_image(img, person_style="invert", background=picture, background_style="invert").rgb
    assert tuple(rs[5, 5]) == (55, 155, 205)


def test_wrong_parameters_are_clear(tiny_setup):
    with pytest.raises(InputError, match="Did you mean 'invert'"):
        stylize_image(person_on_green(), person_style="invrt")
    with pytest.raises(InputError, match="#RRGGBB"):
        stylize_image(
            person_on_green(), options=StyleOptions(person_style="invert", background="color", background_colour="blue")
        )
    with pytest.raises(InputError, match="blend"):
        stylize_image(person_on_green(), person_style="invert", background="transparent", blend="poisson")


def test_laplacian_blend_is_seamless_and_exact_far_from_edge():
    a = np.full((64, 96, 3), 60, np.uint8)
    b = np.full((64, 96, 3), 200, np.uint8)
    mask = np.zeros((64, 96), np.float32)
    mask[:, 48:] = 1.0
    lap, hard = laplacian_blend(a, b, mask), feather_blend(a, b, mask)
    assert np.abs(np.diff(lap[32, :, 0].astype(int))).max() < np.abs(np.diff(hard[32, :, 0].astype(int))).max() / 3
    assert lap[32, 2, 0] == 60 and lap[32, 93, 0] == 200


# --- real checkpoints ---------------------------------------------------------------


@pytest.fixture
def astronaut(real_models):
    from animefy.image.io import load_image

    return load_image(real_models / "media" / "astronaut.png").rgb


@pytest.mark.real
def test_real_matte_and_transparent_output(astronaut):
    t = stylize_image(astronaut, person_style="shinkai_v3", background="transparent")
    assert t.rgb.shape == astronaut.shape
    a = t.alpha
    assert a[120:150, 230:260].min() > 0.9  # face centre
    for corner in (a[:20, :20], a[:20, -20:]):
        assert corner.max() < 0.1
    png = cv2.imdecode(np.frombuffer(t.png(), np.uint8), cv2.IMREAD_UNCHANGED)
    assert png.shape[2] == 4 and png[135, 245, 3] > 230 and png[5, 5, 3] < 26


@pytest.mark.real
def test_real_two_style_output_matches_each_single_style_in_its_region(astronaut):
    mix = stylize_image(astronaut, person_style="shinkai_v3", background_style="hayao_v3")
    only_shinkai = stylize_image(astronaut, person_style="shinkai_v3").rgb.astype(int)
    only_hayao = stylize_image(astronaut, person_style="hayao_v3").rgb.astype(int)
    t = stylize_image(astronaut, person_style="shinkai_v3", background="transparent").alpha
    inside = cv2.erode((t > 0.99).astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    outside = cv2.erode((t < 0.01).astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
    assert inside.sum() > 20000 and outside.sum() > 5000
    m = mix.rgb.astype(int)
    assert np.abs(m - only_shinkai)[inside].mean() < 3 < np.abs(m - only_hayao)[inside].mean()
    assert np.abs(m - only_hayao)[outside].mean() < 2 < np.abs(m - only_shinkai)[outside].mean()
    assert mix.rgb.shape == astronaut.shape


@pytest.mark.real
def test_real_face_style_changes_only_the_face(astronaut):
    base = stylize_image(astronaut, person_style="shinkai_v3").rgb.astype(int)
    faced = stylize_image(astronaut, person_style="shinkai_v3", face_style="cute_v3").rgb.astype(int)
    diff = np.abs(base - faced).sum(axis=2)
    assert diff[110:170, 210:280].mean() > 10  # face
    assert diff[400:, :].mean() < 2  # suit and lower background


@pytest.mark.parametrize("variation", ["day", "dusk", "night", "spring", "summer", "autumn", "winter"])
def test_background_variation_grades_the_background_and_relights_the_person(tiny_setup, variation):
    from animefy.image.variations import relight_person

    img = person_on_green()
    inside, outside = (slice(50, 90), slice(56, 72)), (slice(0, 10), slice(0, 30))
    plain = stylize_image(img, person_style="invert").rgb
    varied = stylize_image(img, person_style="invert", background_variation=variation).rgb.astype(int)
    assert np.abs(varied - plain)[outside].mean() > 4
    # The person is not graded like the background: only relit (same light as relight_person).
    relit = relight_person(plain, np.ones(plain.shape[:2], np.float32), variation).astype(int)
    assert np.abs(varied - relit)[inside].mean() <= 3


def test_variation_directions():
    from animefy.image.variations import apply_variation

    y, x = np.mgrid[0:64, 0:64]
    scene = np.dstack([x * 2 + 40, 150 + y, 90 + x]).astype(np.uint8)  # greenish
    night, dusk = apply_variation(scene, "night"), apply_variation(scene, "dusk")
    autumn, winter = apply_variation(scene, "autumn"), apply_variation(scene, "winter")
    assert night.mean() < scene.mean() * 0.6 and night[..., 2].mean() > night[..., 0].mean()
    assert dusk[..., 0].mean() - dusk[..., 2].mean() > scene[..., 0].mean() - scene[..., 2].mean()
    assert autumn[..., 0].mean() > scene[..., 0].mean() + 10  # greens turn orange
    sat = lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2HSV)[..., 1].mean()  # noqa: E731
    assert sat(winter) < sat(scene) * 0.7


def test_variation_errors(tiny_setup):
    with pytest.raises(InputError, match="variation"):
        stylize_image(person_on_green(), person_style="invert", background_variation="monsoon")
    with pytest.raises(InputError, match="transparent"):
        stylize_image(person_on_green(), person_style="invert", background="transparent", background_variation="night")


def test_person_boxes_one_per_person_and_merged_when_touching():
    from animefy.image.regions import person_boxes

    mask = np.zeros((200, 300), np.float32)
    mask[20:80, 20:50] = 1.0  # person A
    mask[100:190, 200:240] = 1.0  # person B, far away
    boxes = sorted(person_boxes(mask, min_margin=4, margin=0.1))
    assert len(boxes) == 2
    (ay0, ay1, ax0, ax1), (by0, by1, bx0, bx1) = boxes
    assert ay0 <= 20 and ay1 >= 80 and ax0 <= 20 and ax1 >= 50 and ax1 < 200
    assert (ay1 - ay0) * (ax1 - ax0) + (by1 - by0) * (bx1 - bx0) < 0.25 * mask.size
    mask[60:120, 45:205] = 1.0  # a bridge joins them
    assert len(person_boxes(mask)) == 1
    assert person_boxes(np.zeros((10, 10), np.float32)) == []


def test_crops_run_at_their_frame_scale():
    from animefy.image.stylize import Generator, stylize_region
    from animefy.models.registry import Capabilities

    seen = []

    class Probe:
        name = "probe"

        def __call__(self, frames):
            seen.append(frames.shape[-3:-1])
            return frames

    styl = Generator("probe", Probe(), Capabilities("stylize", min_side=384))
    crop = np.zeros((100, 60, 3), np.uint8)
    stylize_region(styl, crop, (360, 480))  # the frame would be scaled by 384/360
    stylize_region(styl, crop, (768, 1024))  # the frame is large enough: no scaling
    styl(crop)  # alone, the crop would be blown up to a 384 px short side
    assert seen == [(107, 64), (100, 60), (640, 384)]
