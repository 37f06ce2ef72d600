"""The image pipeline: split (matte, faces, regions) -> stylize each region with its own
model -> compose. `Renderer` holds the loaded models for one set of options and works on
batches of frames, so the video pipeline reuses it unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from animefy.errors import InputError
from animefy.image.compose import blend, cover, parse_colour, solid
from animefy.image.io import load_image
from animefy.image.regions import Regions, make_regions, person_boxes, whole_frame_regions
from animefy.image.stylize import Stylizer, stylize_region
from animefy.image.variations import VARIATIONS, apply_variation
from animefy.models.catalog import ORIGINAL, Catalog, load_catalog
from animefy.models.registry import load_face_detector, load_matter, load_stylizer
from animefy.settings import Settings
from animefy.timings import Timings

BACKGROUNDS = ("keep", "transparent", "color", "image")


@dataclass(frozen=True)
class StyleOptions:
    """What to do with each region. Style names come from the catalog; 'original' keeps a
    region as photographed. face_style / background_style None = same as person_style."""

    person_style: str = "shinkai"
    background_style: str | None = None
    face_style: str | None = None
    background: str = "keep"  # keep | transparent | color | image
    background_colour: str = "#ffffff"
    background_image: np.ndarray | None = field(default=None, compare=False, repr=False)
    stylize_background_image: bool = True
    blend: str = "laplacian"
    background_variation: str = "none"  # day | dusk | night | spring | summer | autumn | winter
    matte_model: str = "rvm"
    face_model: str = "yunet"
    upscale: str | None = None

    @property
    def bg_style(self) -> str:
        return self.background_style or self.person_style

    @property
    def head_style(self) -> str:
        return self.face_style or self.person_style

    @property
    def needs_matte(self) -> bool:
        return (
            self.background != "keep"
            or self.bg_style != self.person_style
            or self.needs_faces
            or self.background_variation != "none"
        )

    @property
    def needs_faces(self) -> bool:
        return self.head_style != self.person_style

    def validate(self, catalog: Catalog) -> StyleOptions:
        for style in {self.person_style, self.bg_style, self.head_style} - {ORIGINAL}:
            catalog.get(style, "stylize")
        if self.background not in BACKGROUNDS:
            raise InputError(f"background must be one of {BACKGROUNDS}, not '{self.background}'.")
        if self.background == "color":
            parse_colour(self.background_colour)
        if self.background == "image" and self.background_image is None:
            raise InputError("background='image' needs a background picture; upload one or choose another background.")
        if self.background_variation not in VARIATIONS:
            raise InputError(
                f"Unknown background variation '{self.background_variation}'; use one of {', '.join(VARIATIONS)}."
            )
        if self.background_variation != "none" and self.background in ("transparent", "color"):
            raise InputError(
                "Background variations apply to a kept or replaced background, not to a transparent or solid one."
            )
        if self.blend not in ("laplacian", "feather"):
            raise InputError(f"blend must be 'laplacian' or 'feather', not '{self.blend}'.")
        if self.needs_matte:
            catalog.get(self.matte_model, "matte")
        if self.needs_faces:
            catalog.get(self.face_model, "face")
        if self.upscale:
            catalog.get(self.upscale, "upscale")
        return self


@dataclass
class Frame:
    """One rendered frame: RGB plus alpha (only when the background is transparent)."""

    rgb: np.ndarray
    alpha: np.ndarray | None = None


def _paste(canvas: np.ndarray, patch: np.ndarray, box: tuple[int, int, int, int]) -> None:
    y0, y1, x0, x1 = box
    canvas[y0:y1, x0:x1] = patch


def _face_box(face, shape: tuple[int, int]) -> tuple[int, int, int, int]:  # noqa: ANN001
    x, y, w, h = face.box
    cx, cy, half = x + w / 2, y + h * 0.45, 1.05 * max(w, h)
    return (
        max(0, int(cy - half)),
        min(shape[0], int(cy + half)),
        max(0, int(cx - half)),
        min(shape[1], int(cx + half)),
    )


def _stylize_face(stylizer: Stylizer, crop: np.ndarray) -> np.ndarray:
    """Face crops go to fixed-size models at the model's own size (not tiled)."""
    fixed = getattr(getattr(stylizer, "inner", stylizer), "fixed_size", None)
    if not fixed:
        return stylizer(crop)
    h, w = crop.shape[:2]
    big = cv2.resize(crop, (fixed[1], fixed[0]), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(stylizer(big), (w, h), interpolation=cv2.INTER_AREA)


class Renderer:
    """Loaded models for one StyleOptions; `split` and `render` work frame by frame or in
    batches. Not shared between concurrent jobs (the matter carries video state)."""

    def __init__(
        self,
        options: StyleOptions,
        catalog: Catalog | None = None,
        settings: Settings | None = None,
        timings: Timings | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.catalog = catalog or load_catalog(self.settings)
        self.options = options.validate(self.catalog)
        self.timings = timings or Timings()
        o = self.options
        self._picture: np.ndarray | None = None
        styles = {o.person_style, o.bg_style, o.head_style}
        with self.timings.stage("load models"):
            self.stylizers = {s: load_stylizer(s, self.catalog, self.settings) for s in styles}
            # Faces get their own pass when they have their own style, or when the style has a
            # dedicated head model (DCT-Net) even if it is also the person's style.
            self.head_pass = o.needs_faces or hasattr(self.stylizers[o.head_style], "paste_heads")
            self.matter = load_matter(o.matte_model, self.catalog, self.settings) if o.needs_matte else None
            self.detector = load_face_detector(o.face_model, self.catalog, self.settings) if self.head_pass else None
            self.upscaler = None
            if o.upscale:
                from animefy.models.upscale import load_upscaler

                self.upscaler = load_upscaler(o.upscale, self.catalog, self.settings)

    def reset(self) -> None:
        if self.matter is not None:
            self.matter.reset()

    def split(self, rgb: np.ndarray) -> Regions:
        if self.matter is None and self.detector is None:
            return whole_frame_regions(rgb.shape[:2])
        if self.matter is None:
            alpha = np.ones(rgb.shape[:2], np.float32)
        else:
            with self.timings.stage("matte"):
                alpha = self.matter(rgb)
        faces = []
        if self.detector is not None:
            with self.timings.stage("faces"):
                faces = self.detector(rgb)
        with self.timings.stage("regions"):
            return make_regions(alpha, faces)

    def _stylize(self, style: str, frames: np.ndarray) -> np.ndarray:
        if style == ORIGINAL:
            return frames
        with self.timings.stage(f"stylize {style}"):
            return self.stylizers[style](frames)

    def _background(self, frames: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(the stylized scene, which the person layer may reuse; the background layer, with the
        variation graded in). The layer is None for a transparent background."""
        o, shape = self.options, frames.shape[1:3]
        if o.background == "transparent":
            return None, None
        if o.background == "color":
            return None, np.broadcast_to(solid(shape, parse_colour(o.background_colour)), frames.shape)
        if o.background == "image":
            # The same picture sits behind every frame: fit, stylize and grade it once per size.
            if self._picture is None or self._picture.shape[:2] != shape:
                picture = cover(o.background_image, shape)
                picture = self._stylize(o.bg_style, picture) if o.stylize_background_image else picture
                self._picture = self._vary(picture)
            return None, np.broadcast_to(self._picture, frames.shape)
        scene = self._stylize(o.bg_style, frames)
        if o.background_variation == "none":
            return scene, scene
        return scene, np.stack([self._vary(f) for f in scene])

    def _vary(self, rgb: np.ndarray) -> np.ndarray:
        if self.options.background_variation == "none":
            return rgb
        with self.timings.stage(f"variation {self.options.background_variation}"):
            return apply_variation(rgb, self.options.background_variation)

    def _person(self, frames: np.ndarray, regions: list[Regions], scene: np.ndarray | None) -> np.ndarray:
        """Person style on a crop around each person (with margin), at the scale the whole
        frame would get; outside the crops the frame is left as it was."""
        o = self.options
        if o.person_style == o.bg_style and scene is not None:
            return scene
        if o.person_style == ORIGINAL:
            return frames
        out = frames.copy()
        stylizer, frame_hw = self.stylizers[o.person_style], frames.shape[1:3]
        with self.timings.stage(f"stylize {o.person_style}"):
            for i, reg in enumerate(regions):
                for y0, y1, x0, x1 in person_boxes(reg.alpha):
                    crop = np.ascontiguousarray(frames[i, y0:y1, x0:x1])
                    out[i, y0:y1, x0:x1] = stylize_region(stylizer, crop, frame_hw)
        return out

    def _faces(self, person: np.ndarray, frames: np.ndarray, regions: list[Regions]) -> np.ndarray:
        o = self.options
        if not self.head_pass:
            return person
        out = person.copy()
        stylizer = self.stylizers.get(o.head_style)
        for i, reg in enumerate(regions):
            if not reg.faces:
                continue
            if hasattr(stylizer, "paste_heads"):  # aligned head model pasted through its own mask
                with self.timings.stage(f"stylize {o.head_style} heads"):
                    out[i] = stylizer.paste_heads(frames[i], person[i], reg.faces)
                continue
            face_layer = person[i].copy()
            for face in reg.faces:
                box = _face_box(face, frames.shape[1:3])
                y0, y1, x0, x1 = box
                if y1 - y0 < 8 or x1 - x0 < 8:
                    continue
                crop = np.ascontiguousarray(frames[i, y0:y1, x0:x1])
                with self.timings.stage(f"stylize {o.head_style}"):
                    styled = crop if o.head_style == ORIGINAL else _stylize_face(self.stylizers[o.head_style], crop)
                _paste(face_layer, styled, box)
            with self.timings.stage("compose"):
                out[i] = blend(person[i], face_layer, reg.face_share, o.blend)
        return out

    def render(self, frames: np.ndarray, regions: list[Regions]) -> list[Frame]:
        """Stylize and compose a batch (N, H, W, 3) of frames of one size."""
        o = self.options
        if not o.needs_matte:
            styled = self._faces(self._stylize(o.person_style, frames), frames, regions)
            results = [Frame(f) for f in styled]
        else:
            scene, background = self._background(frames)
            person = self._faces(self._person(frames, regions, scene), frames, regions)
            # Multi-band blending smooths tone seams within one scene; over a replaced or
            # regraded background it would bleed one layer's colours into the other (a halo),
            # so feather there.
            same_scene = o.background == "keep" and o.background_variation == "none"
            method = o.blend if same_scene else "feather"
            with self.timings.stage("compose"):
                if background is None:
                    results = [Frame(person[i], reg.alpha) for i, reg in enumerate(regions)]
                else:
                    results = [
                        Frame(blend(background[i], person[i], reg.alpha, method)) for i, reg in enumerate(regions)
                    ]
        return [self._upscale(r) for r in results] if self.upscaler is not None else results

    def _upscale(self, frame: Frame) -> Frame:
        with self.timings.stage(f"upscale {self.options.upscale}"):
            big = self.upscaler(frame.rgb)
            alpha = frame.alpha
            if alpha is not None:
                alpha = cv2.resize(alpha, (big.shape[1], big.shape[0]), interpolation=cv2.INTER_CUBIC).clip(0, 1)
        return Frame(big, alpha)

    def __call__(self, rgb: np.ndarray) -> Frame:
        regions = self.split(rgb)
        return self.render(rgb[None], [regions])[0]


def background_fields(background: str | Path | bytes | np.ndarray | None, settings: Settings | None = None) -> dict:
    """StyleOptions fields for a background given the way users give it: 'keep',
    'transparent', '#RRGGBB' (or 'color' for white), or a picture (path, bytes or array).
    Shared by the Python API, the CLI and the UI."""
    if background is None or (isinstance(background, str) and background in ("keep", "transparent", "image")):
        return {"background": background or "keep"}
    if isinstance(background, str) and (background.startswith("#") or background == "color"):
        return {"background": "color", "background_colour": background if background.startswith("#") else "#ffffff"}
    if isinstance(background, (str, Path)) and not _is_file(background):
        raise InputError(
            f"{str(background)[:60]!r} is not an image file or a known background value. Use keep, transparent, "
            "a colour such as #ff0000, or the path of a picture."
        )
    return {"background": "image", "background_image": load_image(background, settings).rgb}


def _is_file(path: str | Path) -> bool:
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


@dataclass
class ImageResult:
    rgb: np.ndarray
    alpha: np.ndarray | None
    timings: Timings
    messages: tuple[str, ...] = ()

    def png(self) -> bytes:
        from animefy.image.io import encode_png

        return encode_png(self.rgb, self.alpha)


def stylize_image(
    image: str | Path | bytes | np.ndarray,
    person_style: str = "shinkai",
    background_style: str | None = None,
    face_style: str | None = None,
    background: str | np.ndarray = "keep",
    options: StyleOptions | None = None,
    settings: Settings | None = None,
    **extra: object,
) -> ImageResult:
    """Stylize a photo. `background` is 'keep', 'transparent', '#RRGGBB' or a picture (path,
    bytes or array) to put behind the person. Returns the image, its alpha (transparent
    background only), per-stage timings and any messages (e.g. downscaling)."""
    settings = settings or Settings.from_env()
    timings = Timings()
    with timings.stage("decode"):
        loaded = load_image(image, settings)
    if options is None:
        options = StyleOptions(
            person_style=person_style,
            background_style=background_style,
            face_style=face_style,
            **background_fields(background, settings),
            **extra,
        )
    renderer = Renderer(options, settings=settings, timings=timings)
    frame = renderer(loaded.rgb)
    return ImageResult(frame.rgb, frame.alpha, timings, loaded.messages)
