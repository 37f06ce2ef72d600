"""Background variations: time of day and season, made to be recognised at a glance.

`apply_variation(rgb, name, t)` grades the background layer: a new sky where the picture has
one (bright, flat regions joined to the top edge), stars and a moon at night, an orange sun
low on one side at dusk, foliage turned orange and red in autumn, snow lying on upward-facing
edges and falling in winter, pink petals and fresh greens in spring, a strong warm sun in
summer, a clear bright day. `relight_person(rgb, alpha, name)` lights the person layer to
match (cool and dark with a moonlit rim at night, warm side light at dusk...), so the person
does not look pasted on.

Video: every random element (stars, flakes, petals, leaves) comes from a fixed seed and the
frame size only, never from the frame's content or a per-frame draw; with the frame index `t`
the falling ones drift a little each frame. Pure functions on uint8 RGB images."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from animefy.errors import InputError
from animefy.image.refine import decontaminate, refine_alpha
from animefy.schema import VARIATIONS  # the schema owns the list

SEED = 1517

# Sky colours (top of the sky, horizon) per variation, 0..1 RGB.
SKIES = {
    "day": ((0.22, 0.47, 0.88), (0.70, 0.84, 0.97)),
    "dusk": ((0.16, 0.14, 0.36), (1.00, 0.58, 0.24)),
    "night": ((0.01, 0.02, 0.07), (0.07, 0.11, 0.26)),
    "spring": ((0.42, 0.63, 0.95), (0.88, 0.90, 0.98)),
    "summer": ((0.08, 0.33, 0.86), (0.55, 0.78, 0.96)),
    "autumn": ((0.50, 0.60, 0.78), (0.98, 0.82, 0.62)),
    "winter": ((0.70, 0.76, 0.85), (0.92, 0.93, 0.95)),
}

# The light on the person: (channel gains, saturation, lift, rim colour, rim strength,
# direction the light comes from as (x, y) with y pointing down, e.g. (-1, 0) = from the left).
LIGHTS = {
    "day": ((1.04, 1.03, 1.02), 1.08, 0.0, (1.0, 1.0, 0.95), 0.10, (0.5, -1.0)),
    "dusk": ((1.02, 0.80, 0.62), 1.05, 0.0, (1.0, 0.55, 0.20), 0.55, (-1.0, -0.15)),
    "night": ((0.42, 0.50, 0.70), 0.60, 0.0, (0.45, 0.60, 1.00), 0.45, (0.6, -0.8)),
    "spring": ((1.04, 1.01, 1.03), 1.05, 0.0, (1.0, 0.85, 0.92), 0.12, (0.5, -1.0)),
    "summer": ((1.10, 1.03, 0.88), 1.12, 0.0, (1.0, 0.90, 0.60), 0.30, (0.8, -0.6)),
    "autumn": ((1.06, 0.95, 0.80), 1.00, 0.0, (1.0, 0.70, 0.35), 0.25, (-0.8, -0.6)),
    "winter": ((0.94, 0.99, 1.07), 0.80, 0.04, (0.85, 0.92, 1.0), 0.20, (0.0, -1.0)),
}


# ---------------------------------------------------------------------------------------------
# Small helpers on float32 RGB in 0..1


def _float(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) * (1.0 / 255.0)


def _uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _lum(x: np.ndarray) -> np.ndarray:
    return x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114


def _saturate(x: np.ndarray, amount: float | np.ndarray) -> np.ndarray:
    grey = _lum(x)[..., None]
    if isinstance(amount, np.ndarray) and amount.ndim == 2:
        amount = amount[..., None]
    return grey + (x - grey) * amount


def _levels(x: np.ndarray, gamma: float, floor: float = 0.04) -> np.ndarray:
    """Stretch the luminance to the full range (1st..99th percentile) and brighten it by
    `gamma`, scaling the colours with it (hues kept, no channel crushed)."""
    lum = _lum(x)
    lo, hi = np.percentile(lum, 1), np.percentile(lum, 99)
    new = np.clip((lum - lo) / max(0.2, hi - lo) * (0.96 - floor) + floor, 0, 1) ** gamma
    # Colours scale with the luminance, at most 2.5x: near-black pixels get the rest as a
    # neutral lift (scaling them up would blow their noise up into saturated colour).
    k = np.minimum(new / np.maximum(lum, 1e-3), 2.5)
    return np.clip(x * k[..., None] + (new - lum * k)[..., None], 0, 1)


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _scale(h: int, w: int) -> float:
    return min(h, w) / 512.0


def _hsv(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)


def _hue_weight(hue: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """1 inside the hue range [lo, hi] (0..255 scale), fading to 0 over 12 steps outside."""
    return np.clip(np.minimum(hue - lo + 12, hi - hue + 12) / 12.0, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Sky


@functools.lru_cache(maxsize=4)
def _rows(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ys.flags.writeable = xs.flags.writeable = False
    return ys, xs


def sky_mask(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    """(soft sky mask float32 (H, W), row of the horizon). The sky is what is bright, flat
    (little texture) and joined to the top edge, above the lower sixth of the frame; its edges
    follow the picture (guided filter). No such region (or a tiny one): all-zero mask and a
    horizon at a third of the height."""
    h, w = rgb.shape[:2]
    s = min(1.0, 384.0 / max(h, w))
    sh, sw = max(8, round(h * s)), max(8, round(w * s))
    small = _float(cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA))
    value = small.max(-1)
    grey = _lum(small)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    texture = cv2.blur(np.sqrt(gx * gx + gy * gy), (5, 5))
    bright = value > max(0.3, float(np.percentile(value, 45)))
    blue = (small[..., 2] > small[..., 0] + 0.03) & (small[..., 2] >= small[..., 1]) & (value > 0.12)
    candidate = ((bright | blue) & (texture < 0.12)).astype(np.uint8)
    candidate[int(sh * 0.85) :] = 0
    _, labels = cv2.connectedComponents(candidate, connectivity=4)
    top = np.unique(labels[0][candidate[0] > 0])
    sky = np.isin(labels, top[top > 0]).astype(np.uint8)
    sky = cv2.morphologyEx(sky, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    if sky.mean() < 0.03:
        return np.zeros((h, w), np.float32), h // 3
    # The texture window stops the sky a few pixels short of whatever stands in front of it:
    # grow it over the neighbouring pixels of the sky's own colour, up to the real edge.
    colour = small[sky > 0].mean(0)
    spread = max(0.04, float(small[sky > 0].std(0).max()) * 2.5)
    near = (np.abs(small - colour).max(-1) < spread).astype(np.uint8)
    for _ in range(3):
        sky = np.maximum(sky, cv2.dilate(sky, np.ones((3, 3), np.uint8)) & near)
    ys = np.nonzero(sky)[0]
    low = int(np.percentile(ys, 97)) + 1
    # Sky seen through gaps (a lattice tower, branches) is not joined to the rest: above the
    # horizon, take any pixel of the sky's colour at that height.
    counts = sky.sum(1)
    sums = (small * sky[..., None]).sum(1)
    rows = np.nonzero(counts >= 3)[0]
    if len(rows) >= 2:
        mean = np.stack([np.interp(np.arange(sh), rows, sums[rows, c] / counts[rows]) for c in range(3)], -1)
        close = np.abs(small - mean[:, None, :]).max(-1) < 0.05
        close[low:] = False
        sky = np.maximum(sky, close.astype(np.uint8))
    horizon = int(round(low / s))
    mask = refine_alpha(rgb, sky.astype(np.float32), eps=1e-4)
    return mask, max(h // 6, min(h, horizon))


def _sky_gradient(h: int, w: int, top: tuple, horizon_colour: tuple, horizon: int) -> np.ndarray:
    ys, _ = _rows(h, w)
    t = np.clip(ys / max(1, horizon), 0.0, 1.0)[..., None] ** 0.8
    return np.array(top, np.float32) * (1 - t) + np.array(horizon_colour, np.float32) * t


def _paint_sky(x: np.ndarray, sky: np.ndarray, horizon: int, name: str, detail: float = 0.5) -> np.ndarray:
    """Replace the sky by the variation's gradient, keeping a share of its clouds' relief."""
    if not sky.any():
        return x
    h, w = sky.shape
    top, low = SKIES[name]
    grad = _sky_gradient(h, w, top, low, horizon)
    # Relief against the sky's own local mean (normalised blur), so the dark things in front
    # of it do not print a bright halo into it.
    lum = _lum(x)
    sigma = max(2.0, 12 * _scale(h, w))
    local = cv2.GaussianBlur(lum * sky, (0, 0), sigma) / (cv2.GaussianBlur(sky, (0, 0), sigma) + 1e-3)
    relief = (lum - local) * (sky > 0.5)
    new = grad + detail * relief[..., None]
    # Where the sky's edge is soft (hair, leaves), take the old sky's colour out of what stands
    # in front of it before the new sky goes behind.
    front = _float(decontaminate(_uint8(x), 1.0 - sky))
    m = sky[..., None]
    return front * (1 - m) + new * m


def _top_band(h: int, w: int, depth: float = 0.4) -> np.ndarray:
    """Soft weight of the upper part of the frame: the sky's stand-in when none is found."""
    ys, _ = _rows(h, w)
    return np.clip(1.0 - ys / (depth * h), 0.0, 1.0) ** 2


def _tint_top(x: np.ndarray, name: str, strength: float) -> np.ndarray:
    h, w = x.shape[:2]
    top, low = SKIES[name]
    grad = _sky_gradient(h, w, top, low, int(0.4 * h))
    m = _top_band(h, w)[..., None] * strength
    return x * (1 - m) + grad * _lum(x)[..., None] * 1.6 * m


# ---------------------------------------------------------------------------------------------
# Deterministic particles (stars, flakes, petals, leaves)


def _particles(
    h: int,
    w: int,
    kind: str,
    count: int,
    size: tuple[float, float],
    palette: list[tuple[float, float, float]],
    t: float = 0.0,
    velocity: tuple[float, float] = (0.0, 0.0),
    elongation: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(colour (H, W, 3), coverage (H, W)) of `count` small ellipses. Positions, sizes,
    angles and colours come from a fixed seed per `kind` and the frame size, so every frame
    of a video gets the same ones; `velocity` (px/frame at 512 px) moves them by t frames,
    wrapping around the frame, with sub-pixel positions so the drift is smooth."""
    rng = np.random.default_rng([SEED, sum(map(ord, kind)), h, w])
    sc = _scale(h, w)
    x0 = rng.uniform(0, w, count)
    y0 = rng.uniform(0, h, count)
    radius = np.maximum(rng.uniform(size[0], size[1], count) * sc, rng.uniform(1.2, 2.0, count))
    angle = rng.uniform(0, 180, count)
    choice = rng.integers(0, len(palette), count)
    phase = rng.uniform(0, 2 * np.pi, count)
    speed = rng.uniform(0.6, 1.4, count)
    vx, vy = velocity[0] * sc, velocity[1] * sc
    xs = np.mod(x0 + t * vx * speed + np.sin(phase + t * 0.05) * 3 * sc * (vx != 0 or vy != 0), w)
    ys = np.mod(y0 + t * vy * speed, h)
    cover = np.zeros((h, w), np.uint8)
    colour = np.zeros((h, w, 3), np.float32)
    shift = 4
    one = 1 << shift
    for i in range(len(palette)):
        layer = np.zeros((h, w), np.uint8)
        for x, y, r, a in zip(xs[choice == i], ys[choice == i], radius[choice == i], angle[choice == i], strict=True):
            axes = (max(1, int(r * one)), max(1, int(r * one / elongation)))
            cv2.ellipse(layer, (int(x * one), int(y * one)), axes, float(a), 0, 360, 255, -1, cv2.LINE_AA, shift)
        colour += layer[..., None].astype(np.float32) * (np.array(palette[i], np.float32) / 255.0**2)
        cover = np.maximum(cover, layer)
    coverage = cover.astype(np.float32) / 255.0
    colour = colour / np.maximum(coverage[..., None], 1e-6)
    return np.clip(colour, 0, 1), coverage


def _stars(h: int, w: int) -> np.ndarray:
    """A fixed star field: brightness (H, W) in 0..1."""
    rng = np.random.default_rng([SEED, 7, h, w])
    n = max(8, int(h * w / 700))
    ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
    bright = rng.uniform(0.25, 1.0, n) ** 2
    field = np.zeros((h, w), np.float32)
    np.maximum.at(field, (ys, xs), bright)
    glow = cv2.GaussianBlur(field, (0, 0), 0.6 * max(1.0, _scale(h, w)))
    return np.clip(np.maximum(field * 0.9, glow * 4.0), 0, 1)


def _over(x: np.ndarray, colour: np.ndarray, coverage: np.ndarray, opacity: float = 1.0) -> np.ndarray:
    m = coverage[..., None] * opacity
    return x * (1 - m) + colour * m


# ---------------------------------------------------------------------------------------------
# The variations


def _day(rgb: np.ndarray, _t: float) -> np.ndarray:  # still: nothing drifts
    x = _float(rgb)
    sky, horizon = sky_mask(rgb)
    x = _levels(x, 0.75, 0.1)  # haze gone, full range, brighter
    x = _saturate(x, 1.3)
    x = x * 0.88 + 0.12 * np.array([0.86, 0.94, 1.0], np.float32)  # fresh, cool daylight fill
    x = _paint_sky(x, sky, horizon, "day", detail=0.9)
    if not sky.any():
        x = _tint_top(x, "day", 0.45)
    return x


def _dusk(rgb: np.ndarray, _t: float) -> np.ndarray:  # still: nothing drifts
    x = _float(rgb)
    h, w = x.shape[:2]
    sky, horizon = sky_mask(rgb)
    x = _saturate(x, 1.1) * np.array([1.0, 0.72, 0.55], np.float32) * 0.8
    ys, xs = _rows(h, w)
    # A low sun on the left: warm light that falls off across the frame.
    side = (1.0 - xs / w) ** 2
    x = x + side[..., None] * (0.25 + _lum(x)[..., None]) * np.array([0.35, 0.16, 0.04], np.float32)
    if sky.any():
        x = _paint_sky(x, sky, horizon, "dusk", detail=0.6)
        # A pink band between the purple top and the orange horizon, and the sun's glow.
        band = np.exp(-(((ys / max(1, horizon)) - 0.55) ** 2) / 0.03)[..., None]
        x = x + sky[..., None] * band * np.array([0.35, 0.05, 0.12], np.float32)
        d2 = ((xs - 0.12 * w) ** 2 + (ys - horizon) ** 2) / (0.3 * max(h, w)) ** 2
        x = x + np.exp(-d2)[..., None] * (0.3 + 0.7 * sky[..., None]) * np.array([0.55, 0.32, 0.08], np.float32)
    else:
        x = _tint_top(x, "dusk", 0.45)
    return x


def _night(rgb: np.ndarray, _t: float) -> np.ndarray:  # still: nothing drifts
    x = _float(rgb)
    h, w = x.shape[:2]
    sky, horizon = sky_mask(rgb)
    lum = _lum(x)
    dark = np.clip(_saturate(x, 0.5), 0, 1) ** 1.3 * 0.4 * np.array([0.62, 0.78, 1.25], np.float32)
    # Small bright things (lamps, windows) stay lit and glow warm.
    k = max(3, int(15 * _scale(h, w))) | 1
    tophat = cv2.morphologyEx(lum, cv2.MORPH_TOPHAT, np.ones((k, k), np.uint8))
    lamps = _smoothstep(0.25, 0.5, tophat) * _smoothstep(0.7, 0.9, lum) * (1 - sky)
    lamps = cv2.GaussianBlur(lamps, (0, 0), max(1.0, 2 * _scale(h, w)))
    x = dark + lamps[..., None] * np.array([1.0, 0.8, 0.45], np.float32)
    if sky.any():
        x = _paint_sky(x, sky, horizon, "night", detail=0.15)
        ys, xs = _rows(h, w)
        # The moon high on the right, with a halo that spills a little onto the skyline.
        r = 0.035 * min(h, w)
        mx, my = _moon_position(sky, horizon, r)
        d = np.sqrt((xs - mx) ** 2 + (ys - my) ** 2)
        disc = np.clip(r + 0.5 - d, 0, 1) * sky
        halo = np.exp(-((d / (5 * r)) ** 2)) * (0.25 + 0.75 * sky) * 0.35
        stars = _stars(h, w) * sky * (1 - np.clip(halo * 4, 0, 1)) * _smoothstep(1.0, 0.5, ys / max(1, horizon))
        x = x + halo[..., None] * np.array([0.45, 0.55, 0.8], np.float32)
        x = x + stars[..., None] * np.array([0.95, 0.97, 1.0], np.float32)
        x = _over(x, np.array([0.97, 0.96, 0.86], np.float32), disc)
    else:
        x = _tint_top(x, "night", 0.5)
    return x


def _moon_position(sky: np.ndarray, horizon: int, r: float) -> tuple[float, float]:
    """The first of a few fixed places (high right first) where the moon is in clear sky, so
    it stays put from frame to frame unless something moves in front of that place."""
    h, w = sky.shape
    top = min(0.18 * h, 0.5 * horizon)
    for fx, fy in ((0.8, 1.0), (0.2, 1.0), (0.5, 0.7), (0.92, 0.6), (0.08, 0.6), (0.65, 1.4), (0.35, 1.4)):
        x, y = fx * w, fy * top
        y0, y1, x0, x1 = int(y - 2 * r), int(y + 2 * r) + 1, int(x - 2 * r), int(x + 2 * r) + 1
        if y0 >= 0 and x0 >= 0 and y1 <= h and x1 <= w and sky[y0:y1, x0:x1].mean() > 0.95:
            return x, y
    return 0.8 * w, top


def _spring(rgb: np.ndarray, t: float, effects: bool = True) -> np.ndarray:
    x = _float(rgb)
    h, w = x.shape[:2]
    sky, horizon = sky_mask(rgb)
    hsv = _hsv(rgb)
    sat = hsv[..., 1] / 255.0
    greens = _hue_weight(hsv[..., 0], 48, 115) * _smoothstep(0.12, 0.3, sat) * effects
    # Fresh greens: yellowish and dull greens become a saturated young green.
    fresh = np.array([0.35, 0.80, 0.25], np.float32) * (0.4 + _lum(x)[..., None] * 1.2)
    x = x * (1 - 0.45 * greens[..., None]) + fresh * 0.45 * greens[..., None]
    x = _saturate(x, 1.0 + 0.5 * greens)
    x = np.clip(x * 0.9 + 0.1, 0, 1) * np.array([1.03, 0.97, 1.02], np.float32)  # airy, pastel
    x = _paint_sky(x, sky, horizon, "spring", detail=0.8)
    if not effects:
        return x
    palette = [(255, 150, 190), (255, 182, 210), (240, 120, 170), (255, 215, 228)]
    colour, cover = _particles(h, w, "petals", max(30, h * w // 900), (2.5, 5.0), palette, t, (0.6, 0.9), 1.8)
    return _over(x, colour, cover, 0.95)


def _summer(rgb: np.ndarray, _t: float) -> np.ndarray:  # still: nothing drifts
    x = _float(rgb)
    h, w = x.shape[:2]
    sky, horizon = sky_mask(rgb)
    x = _levels(x, 0.8)  # full range, bright
    x = np.clip((x - 0.5) * 1.15 + 0.52, 0, 1)  # strong contrast
    x = _saturate(x, 1.5) * np.array([1.14, 1.0, 0.74], np.float32)  # hot, golden: unlike day's cool light
    x = x * 0.88 + 0.12 * np.array([1.0, 0.82, 0.42], np.float32)
    x = _paint_sky(x, sky, horizon, "summer", detail=0.8)
    # The sun high on the right: a warm glare over everything, strongest near it.
    ys, xs = _rows(h, w)
    d2 = ((xs - 0.88 * w) ** 2 + (ys - 0.02 * h) ** 2) / (0.45 * max(h, w)) ** 2
    glare = np.exp(-d2)[..., None]
    x = x + glare * np.array([0.60, 0.45, 0.15], np.float32) * (0.6 + 0.4 * sky[..., None])
    return x


def _autumn(rgb: np.ndarray, t: float, effects: bool = True) -> np.ndarray:
    x = _float(rgb)
    h, w = x.shape[:2]
    sky, horizon = sky_mask(rgb)
    hsv = _hsv(rgb)
    sat = hsv[..., 1] / 255.0
    foliage = _hue_weight(hsv[..., 0], 45, 125) * _smoothstep(0.12, 0.3, sat) * effects
    # Greens and yellows become orange and red (the mix varies slowly across the frame).
    rng = np.random.default_rng([SEED, 3, h, w])
    mix = cv2.resize(rng.uniform(0, 1, (6, 6)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    hue = 6 + 22 * np.clip(mix, 0, 1)
    hsv[..., 0] = hsv[..., 0] + (hue - hsv[..., 0]) * foliage
    hsv[..., 1] = np.clip(hsv[..., 1] * (1 + 0.5 * foliage) + 40 * foliage, 0, 255)
    shifted = _float(cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB_FULL))
    x = x * (1 - foliage[..., None]) + shifted * foliage[..., None]
    x = x * np.array([1.08, 0.94, 0.74], np.float32)  # golden light
    x = _paint_sky(x, sky, horizon, "autumn", detail=0.8)
    if not effects:
        return x
    palette = [(214, 84, 28), (186, 46, 30), (232, 150, 40), (140, 70, 30)]
    colour, cover = _particles(h, w, "leaves", max(10, h * w // 6000), (3.0, 6.0), palette, t, (0.5, 1.2), 2.2)
    return _over(x, colour, cover, 0.95)


def _winter(rgb: np.ndarray, t: float, effects: bool = True) -> np.ndarray:
    x = _float(rgb)
    h, w = x.shape[:2]
    sc = _scale(h, w)
    sky, horizon = sky_mask(rgb)
    hsv = _hsv(rgb)
    greens = _hue_weight(hsv[..., 0], 28, 125) * _smoothstep(0.1, 0.3, hsv[..., 1] / 255.0)
    x = _saturate(x, 0.55) * 0.82 + 0.12
    x = x * np.array([0.93, 0.98, 1.06], np.float32)
    x = _paint_sky(x, sky, horizon, "winter", detail=0.8)
    if not effects:
        return x
    # Snow lies on upward-facing edges: along horizontal edges, on the lower side (the top
    # of whatever is below), a few pixels deep; and on foliage.
    grey = cv2.GaussianBlur(_lum(_float(rgb)), (0, 0), max(0.8, 1.2 * sc))
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    ledge = _smoothstep(0.04, 0.25, np.abs(gy) - 0.6 * np.abs(gx))
    depth = max(3, int(round(6 * sc)))
    kernel = np.ones((depth + 1, 1), np.uint8)
    lying = cv2.dilate(ledge, kernel, anchor=(0, depth))  # spread downwards from the edge
    lying = cv2.GaussianBlur(lying, (0, 0), max(0.7, sc))
    # On foliage, snow covers the leaves that catch the light (brighter than around them).
    lum = _lum(_float(rgb))
    local = cv2.GaussianBlur(lum, (0, 0), max(2.0, 6 * sc))
    on_leaves = greens * np.clip(0.7 + 6.0 * (lum - local), 0, 1)
    snow = np.clip(np.maximum(lying, on_leaves), 0, 1) * (1 - sky)
    x = _over(x, np.array([0.97, 0.98, 1.0], np.float32), snow, 0.92)
    palette = [(255, 255, 255), (240, 245, 255)]
    colour, cover = _particles(h, w, "flakes", max(20, h * w // 1200), (1.0, 2.6), palette, t, (0.4, 1.6))
    return _over(x, colour, cover, 0.9)


_GRADES = {
    "day": _day,
    "dusk": _dusk,
    "night": _night,
    "spring": _spring,
    "summer": _summer,
    "autumn": _autumn,
    "winter": _winter,
}


def _check(variation: str | None) -> str:
    if variation in ("none", "", None):
        return "none"
    if variation not in _GRADES:
        raise InputError(f"Unknown background variation '{variation}'; use one of {', '.join(VARIATIONS)}.")
    return variation


EFFECTS = ("spring", "autumn", "winter")  # seasons that change things, not only the light


def apply_variation(rgb: np.ndarray, variation: str, t: float = 0, effects: bool = True) -> np.ndarray:
    """Grade a background image (uint8 RGB) for a time of day or a season. `t` is the frame
    index in a video: falling snow, petals and leaves drift with it; everything else (and
    every random element's placement) is the same for every frame. `effects=False` keeps the
    light and the sky but not the seasons' snow, petals, leaves and recoloured foliage."""
    name = _check(variation)
    if name == "none":
        return rgb
    rgb = np.ascontiguousarray(rgb[..., :3])
    grade = _GRADES[name]
    return _uint8(grade(rgb, float(t), effects) if name in EFFECTS else grade(rgb, float(t)))


def keep_held_objects(background: np.ndarray, scene: np.ndarray, alpha: np.ndarray, variation: str,
                      t: float = 0) -> np.ndarray:  # fmt: skip
    """What a person holds or touches (a ball, a bag: outside the matte, next to the person)
    keeps its look: around the person the background gets the variation's light but not its
    snow, petals, leaves or recoloured foliage (a held football would turn into a snowball)."""
    name = _check(variation)
    if name not in EFFECTS:
        return background
    h, w = alpha.shape[:2]
    person = (alpha > 0.5).astype(np.uint8)
    if not person.any():
        return background
    reach = max(3, int(round(0.08 * np.hypot(h, w))))  # about an arm's length for a full-body person
    grow = 3 * reach // 2  # the soft edge falls off beyond the reach
    near = cv2.dilate(person, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    near = cv2.GaussianBlur(near.astype(np.float32), (0, 0), reach / 3)[..., None]
    plain = apply_variation(scene, name, t, effects=False)
    return (background * (1 - near) + plain * near).round().astype(np.uint8)


def relight_person(rgb: np.ndarray, alpha: np.ndarray, variation: str) -> np.ndarray:
    """Light the person layer (uint8 RGB) for the variation: its colour balance and level,
    plus a rim of the scene's light along the person's edges on the light's side (moonlight
    from above right at night, the low orange sun from the left at dusk). Only pixels with
    alpha > 0 change, in proportion to alpha."""
    name = _check(variation)
    if name == "none":
        return rgb
    gains, saturation, lift, rim_colour, rim_strength, (lx, ly) = LIGHTS[name]
    h, w = rgb.shape[:2]
    a = np.clip(alpha.astype(np.float32, copy=False), 0.0, 1.0)
    inside = a > 0
    if not inside.any():
        return rgb
    x = _float(rgb)
    lit = np.clip(_saturate(x, saturation), 0, 1) * np.array(gains, np.float32) + lift
    # Rim light: the alpha's outward normal facing the light, within a band inside the edge.
    ys, xs = np.nonzero(inside)
    size = max(8.0, float(np.sqrt((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1))))
    soft = cv2.GaussianBlur(a, (0, 0), max(1.5, 0.02 * size))
    nx = -cv2.Sobel(soft, cv2.CV_32F, 1, 0, ksize=3)
    ny = -cv2.Sobel(soft, cv2.CV_32F, 0, 1, ksize=3)
    norm = np.sqrt(nx * nx + ny * ny) + 1e-6
    length = float(np.hypot(lx, ly))
    facing = np.clip((nx * lx + ny * ly) / (norm * length), 0.0, 1.0)
    edge = np.clip(norm / (norm.max() + 1e-6) * 3.0, 0.0, 1.0)
    rim = (facing * edge * a)[..., None] * rim_strength
    lit = lit + rim * np.array(rim_colour, np.float32) * (0.4 + _lum(x)[..., None])
    if name == "dusk":  # the low sun from the left also warms that side of the person
        x0, x1 = xs.min(), xs.max() + 1
        across = np.clip((_rows(h, w)[1] - x0) / max(1, x1 - x0), 0, 1)
        lit = lit + ((1 - across) ** 2)[..., None] * np.array([0.16, 0.07, 0.0], np.float32)
    m = a[..., None]
    out = _uint8(x * (1 - m) + lit * m)
    out[~inside] = rgb[~inside]
    return out
