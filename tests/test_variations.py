"""Background variations: each one visibly different in its own direction, deterministic,
stable from frame to frame in video; the sky finder; relight_person only inside the alpha."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from animefy.errors import InputError
from animefy.image.variations import VARIATIONS, apply_variation, relight_person, sky_mask

H, W = 192, 256


def outdoor_scene() -> np.ndarray:
    """A pale blue sky over the top 40%, a grey building with a flat roof, textured green
    foliage below."""
    rng = np.random.default_rng(0)
    img = np.zeros((H, W, 3), np.float32)
    t = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
    img[:] = np.array([120, 170, 235], np.float32) * (1 - t) + np.array([200, 220, 245], np.float32) * t
    noise = cv2.resize(rng.uniform(-1, 1, (H // 6, W // 6)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
    foliage = np.array([60, 140, 50], np.float32) + noise[..., None] * np.array([25, 45, 20], np.float32)
    img[int(H * 0.4) :] = foliage[int(H * 0.4) :]
    img[50:120, 150:220] = (130, 130, 135)  # a building whose roof is at y = 50
    img[60:110:12, 160:210] = (90, 90, 100)  # window rows
    return np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)


SCENE = outdoor_scene()
SKY = (slice(0, 40), slice(0, 140))
FOLIAGE = (slice(130, 190), slice(0, 140))


def _f(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32)


def _hsv(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)


def test_sky_mask_finds_the_sky_and_only_it():
    mask, horizon = sky_mask(SCENE)
    assert mask.shape == (H, W) and mask.dtype == np.float32
    assert mask[SKY].mean() > 0.95
    assert mask[FOLIAGE].max() < 0.05
    assert mask[60:115, 155:215].mean() < 0.05  # the building is not sky
    assert 0.3 * H <= horizon <= 0.5 * H


def test_no_sky_in_a_picture_without_one():
    rng = np.random.default_rng(1)
    texture = cv2.resize(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), (W, H), interpolation=cv2.INTER_NEAREST)
    mask, _ = sky_mask(texture)
    assert mask.max() == 0


@pytest.mark.parametrize("variation", [v for v in VARIATIONS if v != "none"])
def test_each_variation_is_a_clear_change_and_deterministic(variation):
    out = apply_variation(SCENE, variation)
    assert out.shape == SCENE.shape and out.dtype == np.uint8
    assert np.abs(_f(out) - _f(SCENE)).mean() > 12, variation
    assert np.array_equal(out, apply_variation(SCENE.copy(), variation))  # same call, same picture


@pytest.mark.parametrize("variation", [v for v in VARIATIONS if v != "none"])
def test_variations_are_stable_from_frame_to_frame(variation):
    a, b = apply_variation(SCENE, variation, t=10), apply_variation(SCENE, variation, t=11)
    assert np.abs(_f(a) - _f(b)).mean() < 1.0
    # Falling things drift, but the rest of the frame is the same.
    assert np.median(np.abs(_f(a) - _f(b))) == 0


def test_none_is_the_identity():
    assert apply_variation(SCENE, "none") is SCENE


def test_night_is_dark_and_blue_with_stars_in_the_sky():
    night = _f(apply_variation(SCENE, "night"))
    assert night.mean() < 0.45 * _f(SCENE).mean()
    assert night[..., 2].mean() > night[..., 0].mean() + 10
    sky = night[SKY]
    assert sky.mean() < 60
    assert (sky.max(-1) > 150).sum() >= 3  # stars (or the moon) shine in the sky
    assert (night[FOLIAGE].max(-1) > 150).sum() == 0  # but not in the foliage


def test_dusk_is_warm_with_an_orange_horizon():
    dusk = _f(apply_variation(SCENE, "dusk"))
    scene = _f(SCENE)
    assert (dusk[..., 0] - dusk[..., 2]).mean() > (scene[..., 0] - scene[..., 2]).mean() + 40
    horizon = dusk[60:75, 0:140]  # low sky, just above the foliage
    assert horizon[..., 0].mean() > 200 and horizon[..., 0].mean() > horizon[..., 2].mean() + 80


def _luma(img: np.ndarray) -> float:
    return float(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).mean())


def test_day_is_bright_with_a_blue_sky():
    day = apply_variation(SCENE, "day")
    assert _luma(day[FOLIAGE]) > _luma(SCENE[FOLIAGE]) + 5
    day = _f(day)
    sky = day[SKY]
    assert sky[..., 2].mean() > sky[..., 0].mean() + 80


def test_summer_is_saturated_and_warm():
    summer = apply_variation(SCENE, "summer")
    assert _hsv(summer)[..., 1].mean() > _hsv(SCENE)[..., 1].mean() * 1.2
    building = (slice(65, 70), slice(155, 215))  # grey: its colour is the light's
    s, o = _f(summer)[building], _f(SCENE)[building]
    assert (s[..., 0] - s[..., 2]).mean() > (o[..., 0] - o[..., 2]).mean() + 15
    assert _luma(summer) > _luma(SCENE)


def test_autumn_turns_greens_orange_and_red():
    autumn = apply_variation(SCENE, "autumn")
    before, after = _f(SCENE)[FOLIAGE], _f(autumn)[FOLIAGE]
    assert (before[..., 0] > before[..., 1]).mean() < 0.05
    assert (after[..., 0] > after[..., 1] + 20).mean() > 0.8  # red/orange now dominates
    hue = _hsv(autumn)[FOLIAGE][..., 0]
    assert ((hue < 40) | (hue > 245)).mean() > 0.8


def test_winter_is_bright_with_snow():
    winter = _f(apply_variation(SCENE, "winter"))
    assert winter.mean() > _f(SCENE).mean() + 10
    white = lambda img: (img.min(-1) > 200).mean()  # noqa: E731
    assert white(winter) > white(_f(SCENE)) + 0.1
    assert winter[50:53, 155:215].min(-1).mean() > 200  # snow lies on the roof
    assert white(winter[FOLIAGE]) > 0.3  # and on the foliage


def test_spring_has_pink_petals_and_fresh_greens():
    spring = apply_variation(SCENE, "spring")
    hsv, before = _hsv(spring), _hsv(SCENE)
    pink = lambda h: ((h[..., 0] > 215) & (h[..., 1] > 50) & (h[..., 2] > 150)).mean()  # noqa: E731
    assert pink(hsv) > pink(before) + 0.005
    f = FOLIAGE
    assert hsv[f][..., 1].mean() > before[f][..., 1].mean() * 1.15  # greener, more saturated


def test_petals_and_snow_drift_with_t_but_stay_put_for_a_still():
    a0, a1 = apply_variation(SCENE, "winter"), apply_variation(SCENE, "winter", t=0)
    assert np.array_equal(a0, a1)
    far = apply_variation(SCENE, "winter", t=40)
    assert np.abs(_f(far) - _f(a0)).mean() > 0.5  # the flakes have moved on


def test_unknown_variation():
    with pytest.raises(InputError, match="variation"):
        apply_variation(SCENE, "monsoon")
    with pytest.raises(InputError, match="variation"):
        relight_person(SCENE, np.ones((H, W), np.float32), "monsoon")


def _person() -> tuple[np.ndarray, np.ndarray]:
    rgb = np.full((H, W, 3), (200, 160, 130), np.uint8)
    alpha = np.zeros((H, W), np.float32)
    cv2.ellipse(alpha, (128, 110), (40, 70), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 1.5)
    alpha[alpha < 0.01] = 0
    return rgb, alpha


@pytest.mark.parametrize("variation", [v for v in VARIATIONS if v != "none"])
def test_relight_person_changes_only_inside_the_alpha(variation):
    rgb, alpha = _person()
    out = relight_person(rgb, alpha, variation)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.array_equal(out[alpha == 0], rgb[alpha == 0])
    assert np.abs(_f(out) - _f(rgb))[alpha > 0.99].mean() > 3
    assert np.array_equal(out, relight_person(rgb, alpha, variation))


def test_relight_night_is_cool_and_dark_with_a_rim_on_the_moon_side():
    rgb, alpha = _person()
    night = _f(relight_person(rgb, alpha, "night"))
    core = cv2.erode((alpha > 0.99).astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    assert night[core].mean() < 0.7 * _f(rgb)[core].mean()
    assert night[core][:, 2].mean() > night[core][:, 0].mean() - 40  # the warm skin turns cool
    # The moon is up and to the right: the upper right edge is lit, the lower left is not.
    edge = (alpha > 0.9) & ~core
    ys, xs = np.mgrid[0:H, 0:W]
    upper_right = night[edge & (ys < 110) & (xs > 128)].mean()
    lower_left = night[edge & (ys > 110) & (xs < 128)].mean()
    assert upper_right > lower_left + 10, (upper_right, lower_left)


def test_relight_dusk_is_warm_from_the_left():
    rgb, alpha = _person()
    dusk = _f(relight_person(rgb, alpha, "dusk"))
    left, right = dusk[100:120, 92:100], dusk[100:120, 156:164]
    assert left[..., 0].mean() > right[..., 0].mean() + 10
    assert (dusk[..., 0] - dusk[..., 2])[alpha > 0.99].mean() > (_f(rgb)[..., 0] - _f(rgb)[..., 2]).mean()


def test_relight_none_and_empty_alpha_are_identity():
    rgb, alpha = _person()
    assert relight_person(rgb, alpha, "none") is rgb
    assert np.array_equal(relight_person(rgb, np.zeros_like(alpha), "night"), rgb)


def _delta_e(a: np.ndarray, b: np.ndarray) -> float:
    la, lb = (cv2.cvtColor(x, cv2.COLOR_RGB2LAB).astype(np.float32) for x in (a, b))
    la[..., 0] *= 100 / 255
    lb[..., 0] *= 100 / 255
    return float(np.linalg.norm(la - lb, axis=2).mean())


def test_day_and_summer_are_visibly_different_without_a_sky():
    """A pitch with stands and no sky (the footballer photo's case): Day and Summer each move
    far from "as it is", and apart from each other (cool fresh light / hot golden light)."""
    rng = np.random.default_rng(0)
    pitch = np.zeros((240, 320, 3), np.float32)
    pitch[:] = (70, 150, 60)
    pitch[:60] = (110, 120, 130)
    pitch = (pitch + rng.normal(0, 12, pitch.shape)).clip(0, 255).astype(np.uint8)
    day, summer = apply_variation(pitch, "day"), apply_variation(pitch, "summer")
    assert _delta_e(pitch, day) > 15 and _delta_e(pitch, summer) > 25 and _delta_e(day, summer) > 15
    assert summer[..., 0].mean() - summer[..., 2].mean() > day[..., 0].mean() - day[..., 2].mean() + 40  # warmer


def test_a_held_object_keeps_its_look_in_winter():
    from animefy.image.variations import keep_held_objects

    scene = np.zeros((200, 200, 3), np.uint8)
    scene[:] = (60, 140, 60)  # grass
    scene[60:180, 80:120] = (200, 60, 60)  # the person
    alpha = np.zeros((200, 200), np.float32)
    alpha[60:180, 80:120] = 1
    yy, xx = np.mgrid[:200, :200]
    ball = (yy - 90) ** 2 + (xx - 132) ** 2 < 12**2  # held at the side, outside the matte
    scene[ball] = (150, 90, 40)
    scene[ball & (yy < 84)] = (235, 200, 150)  # its highlight: a ledge that snow would lie on
    winter = apply_variation(scene, "winter")
    kept = keep_held_objects(winter, scene, alpha, "winter")
    plain = apply_variation(scene, "winter", effects=False)
    assert np.abs(kept[ball].astype(int) - plain[ball].astype(int)).mean() < 3  # the light, no snow
    assert np.abs(winter[ball].astype(int) - plain[ball].astype(int)).mean() > 10  # snow without it
    far = (xx < 20) | (xx > 185)
    assert np.array_equal(kept[far], winter[far])  # away from the person, winter as before
    assert keep_held_objects(winter, scene, alpha, "night") is winter  # light-only variations: nothing to keep
