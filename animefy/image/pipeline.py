"""The image pipeline: split (matte, faces, regions) -> stylize each region with its own
model -> compose. `Renderer` holds the loaded models for one request and works on batches of
frames of one size, so the video pipeline reuses it unchanged. Rendering is three named
layer steps (background, person, faces) returning a `Layers` record, then one composite."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from animefy.errors import InputError, ModelLoadError, ModelUnavailableError
from animefy.image.compose import blend, cover, parse_colour, solid
from animefy.image.face_pass import FacePass, drawing_scale, keep_faces
from animefy.image.io import load_image
from animefy.image.refine import decontaminate
from animefy.image.regions import Regions, make_regions, person_boxes, whole_frame_regions
from animefy.image.stylize import stylize_frames, stylize_regions
from animefy.image.variations import apply_variation, keep_held_objects, relight_person
from animefy.models.catalog import ORIGINAL, Catalog, load_catalog
from animefy.models.hub import availability, find_cached
from animefy.models.registry import default_style, load
from animefy.models.roles import FaceDetector
from animefy.schema import Background, ImageRequest
from animefy.settings import Settings
from animefy.timings import Timings
from animefy.video.clip import Drawing
from animefy.video.face_tracks import FaceTracker

log = logging.getLogger(__name__)

StyleOptions = ImageRequest  # the public name of the request for a photo (animefy.StyleOptions)


@dataclass
class Frame:
    """One rendered frame: RGB plus alpha (only when the background is transparent)."""

    rgb: np.ndarray
    alpha: np.ndarray | None = None


@dataclass
class Layers:
    """A batch's layers before compositing. `background` is None when it is transparent;
    `scene` is the background style over the whole frame (kept backgrounds only)."""

    person: np.ndarray
    background: np.ndarray | None
    scene: np.ndarray | None = None


DAMAGED_DETECTOR = (
    "Faces were not redrawn at the style's face size: the face detector's model file ('{name}') is damaged. "
    "Whoever runs animefy: replace it (python -m animefy download {name})."
)


def faces_wanted(options: ImageRequest) -> bool:
    """Whether faces get their own pass: whenever anything of the person is drawn."""
    return options.head_style != ORIGINAL or options.head_style != options.person_style


def faces_required(options: ImageRequest, catalog: Catalog) -> bool:
    """Whether the request cannot be done without the face detector: the user asked for a face
    style of its own, or a style has a head model (DCT-Net)."""
    styles = {options.person_style, options.bg_style, options.head_style} - {ORIGINAL}
    return options.head_style != options.person_style or any(
        catalog.get(s, "stylize").format == "dctnet" for s in styles
    )


def check_request(
    options: ImageRequest, settings: Settings, picture_given: bool, catalog: Catalog | None = None
) -> tuple[ImageRequest, list[tuple[str, str]]]:
    """The request with its defaults filled in, after its cross-field rules and catalog names
    are checked, and the (name, role) of every model it needs. Checked once per request."""
    catalog = catalog or load_catalog(settings)
    options = options.with_defaults(default_style(settings, catalog))
    options.check(picture_given)
    needs = [(s, "stylize") for s in sorted({options.person_style, options.bg_style, options.head_style} - {ORIGINAL})]
    if options.needs_matte:
        needs.append((options.matte_model, "matte"))
    # The face pass runs by default; only an explicit face style (or DCT-Net's head model)
    # makes the detector a hard requirement. Otherwise it is listed when it is on disk, and
    # without it the faces are drawn with the rest of the person (see Renderer).
    if faces_required(options, catalog) or (
        faces_wanted(options) and find_cached(catalog.get("yunet", "face"), settings) is not None
    ):
        needs.append(("yunet", "face"))
    if options.upscale:
        needs.append((options.upscale, "upscale"))
    for name, role in needs:
        catalog.get(name, role)
    return options, needs


class Renderer:
    """Loaded models for one request; `split` and `render` work frame by frame or in batches.
    Not shared between concurrent jobs (the matter carries video state)."""

    def __init__(
        self,
        options: ImageRequest,
        settings: Settings,
        picture: np.ndarray | None = None,
        catalog: Catalog | None = None,
        timings: Timings | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog or load_catalog(settings)
        self.options = o = self._checked(options, picture is not None)
        self.timings = timings or Timings()
        self._picture, self._fitted = picture, None
        self.frames_rendered = 0  # frames drawn since the last reset (the variation's clock)
        self.track_faces = False  # set by the video pipeline: frames come in order, faces become tracks
        self.messages: list[str] = []  # what the user should be told (a damaged face detector)
        self._tracker = None
        with self.timings.stage("load models"):
            self.stylizers = {s: load(s, "stylize", settings, self.catalog) for s in {o.person_style, o.bg_style,
                                                                                       o.head_style}}  # fmt: skip
            self.matter = load(o.matte_model, "matte", settings, self.catalog) if o.needs_matte else None
            self.detector = self._face_detector() if faces_wanted(o) else None
            self.upscaler = load(o.upscale, "upscale", settings, self.catalog) if o.upscale else None
        face_stylizer = self.stylizers[o.head_style]
        self.head_pass = self.detector is not None  # faces are redrawn (face pass or DCT-Net heads)
        self.face_pass = None
        if self.detector is not None and not face_stylizer.caps.heads:
            self.face_pass = FacePass(face_stylizer, same_style=o.head_style == o.person_style,
                                      identity=o.head_style == ORIGINAL)  # fmt: skip

    def _face_detector(self) -> FaceDetector | None:
        """YuNet, or None (with a warning) when it is not available and the request can do
        without it: faces are then drawn with the rest of the person."""
        required = faces_required(self.options, self.catalog)
        spec = self.catalog.get("yunet", "face")
        status = availability(spec, self.settings) if not required and self.settings.offline else None
        if status is not None and not status.available:
            log.warning("face detector '%s' is %s (offline): faces are drawn with the rest of the person, "
                        "not redrawn at the style's face size", spec.name, status.detail)  # fmt: skip
            if status.damaged:
                self.messages.append(DAMAGED_DETECTOR.format(name=spec.name))
            return None
        try:
            return load("yunet", "face", self.settings, self.catalog)
        except (ModelUnavailableError, ModelLoadError) as exc:
            if required:
                raise
            log.warning("face detector unavailable (%s): faces are drawn with the rest of the person", exc)
            if not isinstance(exc, ModelUnavailableError):
                self.messages.append(DAMAGED_DETECTOR.format(name=spec.name))
            return None

    def _checked(self, options: ImageRequest, picture_given: bool) -> ImageRequest:
        return check_request(options, self.settings, picture_given, self.catalog)[0]

    def for_video(self) -> None:
        """Frames of one clip follow, in order: faces become smoothed tracks and the matter
        takes its clip settings."""
        self.track_faces = True
        if self.matter is not None:
            self.matter.for_video()

    def reset(self) -> None:
        self.frames_rendered = 0
        if self.matter is not None:
            self.matter.reset()
        if self._tracker is not None:
            self._tracker.reset()
        if self.face_pass is not None:
            self.face_pass.reset()

    # -- split -------------------------------------------------------------------------------
    def split(self, rgb: np.ndarray, drawing: Drawing | None = None) -> Regions:
        """Matte, faces and regions of a frame; in a clip `drawing` is the frame's context (its
        place, the clip's motion), and gets the matte and faces."""
        if self.matter is None and self.detector is None:
            return whole_frame_regions(rgb.shape[:2])
        alpha = None
        if self.matter is not None:
            with self.timings.stage("matte"):
                alpha = self.matter(rgb, drawing)
        faces = []
        if self.detector is not None:
            with self.timings.stage("faces"):
                faces = self._faces(rgb, alpha, drawing)
        if drawing is not None:
            drawing.alpha, drawing.faces = alpha, faces
        if alpha is None:
            return whole_frame_regions(rgb.shape[:2], faces)
        with self.timings.stage("regions"):
            return make_regions(alpha, faces)

    def _faces(self, rgb: np.ndarray, alpha: np.ndarray | None, drawing: Drawing | None) -> list:
        """Faces of people: detections kept by `keep_faces`; in video (`track_faces`), tracks
        with smoothed landmarks."""
        if not self.track_faces:
            return keep_faces(self.detector(rgb), alpha)
        if self._tracker is None:
            self._tracker = FaceTracker(self.detector)
        return self._tracker(rgb, alpha, drawing)

    # -- layers ------------------------------------------------------------------------------
    def _stylize(self, style: str, frames: np.ndarray) -> np.ndarray:
        if style == ORIGINAL:
            return frames
        with self.timings.stage(f"stylize {style}"):
            return stylize_frames(self.stylizers[style], frames, self.options.fixed_size_mode)

    def _vary(self, rgb: np.ndarray, t: int = 0) -> np.ndarray:
        """The background graded for the variation; `t` (the frame number) lets falling snow,
        petals and leaves drift while everything else stays put."""
        if self.options.background_variation == "none":
            return rgb
        with self.timings.stage(f"variation {self.options.background_variation}"):
            return apply_variation(rgb, self.options.background_variation, t)

    def background_layer(self, frames: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(the background style over the whole frame, which the person layer may reuse; the
        background layer with the variation graded in, None when transparent)."""
        o, shape = self.options, frames.shape[1:3]
        if o.background == Background.transparent:
            return None, None
        if o.background == Background.color:
            return None, np.broadcast_to(solid(shape, parse_colour(o.background_colour)), frames.shape)
        if o.background == Background.image:
            # The same picture sits behind every frame: fit, stylize and grade it once per size.
            if self._fitted is None or self._fitted.shape[:2] != shape:
                fitted = cover(self._picture, shape, o.background_position)
                fitted = self._stylize(o.bg_style, fitted) if o.stylize_background_image else fitted
                self._fitted = self._vary(fitted)
            return None, np.broadcast_to(self._fitted, frames.shape)
        scene = self._stylize(o.bg_style, frames)
        return scene, self.background_from_scene(scene)

    def background_from_scene(self, scene: np.ndarray) -> np.ndarray:
        """The background layer of a kept background from its scene (the variation graded in;
        `t`, the frame number, lets falling snow, petals and leaves drift)."""
        if self.options.background_variation == "none":
            return scene
        return np.stack([self._vary(f, self.frames_rendered + i) for i, f in enumerate(scene)])

    def person_layer(self, frames: np.ndarray, regions: list[Regions], scene: np.ndarray | None) -> np.ndarray:
        """Person style on a crop around each person (with margin), at the scale the whole
        frame would get; outside the crops the frame is left as it was."""
        o = self.options
        if o.person_style == o.bg_style and scene is not None:
            return scene
        if o.person_style == ORIGINAL:
            return frames
        if not o.needs_matte:
            return self._stylize(o.person_style, frames)
        out = frames.copy()
        for i, reg in enumerate(regions):
            boxes = person_boxes(reg.alpha)
            drawn = self.style_regions(o.person_style, frames[i], boxes)
            for (y0, y1, x0, x1), crop in zip(boxes, drawn, strict=True):
                out[i, y0:y1, x0:x1] = crop
        return out

    def face_layer(self, person: np.ndarray, frames: np.ndarray, regions: list[Regions]) -> np.ndarray:
        """The person layer with each face redrawn by the face style at its working size (the
        face pass; "face pass" timings count faces), or by DCT-Net's head model."""
        if not self.head_pass or not any(reg.faces for reg in regions):
            return person
        o = self.options
        stylizer = self.stylizers[o.head_style]
        if self.face_pass is None:  # aligned head model pasted through its own mask
            out = person.copy()
            with self.timings.stage(f"stylize {o.head_style} heads"):
                for i, reg in enumerate(regions):
                    if reg.faces:
                        out[i] = stylizer.paste_heads(frames[i], person[i], reg.faces)
            return out
        scale = drawing_scale(self.stylizers[o.person_style], frames.shape[1:3])
        start = time.perf_counter()
        out, count = self.face_pass(frames, person, [reg.faces for reg in regions], scale)
        if count:
            self.timings.add("face pass", time.perf_counter() - start, calls=count)
        else:  # every face carried: pasting is not a model call
            self.timings.add("face paste", time.perf_counter() - start)
        return out

    @property
    def faces_carried(self) -> int:
        """Tracked faces the face pass pasted again unchanged (no model pass) since the reset."""
        return 0 if self.face_pass is None else self.face_pass.carried

    def faces_to_draw(self, faces: list, frame_hw: tuple[int, int]) -> list:
        """The faces `face_layer` would redraw in a frame of this size (the face pass skips a
        face the frame already draws at its working size)."""
        if not self.head_pass or not faces:
            return []
        if self.face_pass is None:
            return list(faces)
        scale = drawing_scale(self.stylizers[self.options.person_style], frame_hw)
        return [plan.face for plan in self.face_pass.plan([faces], scale)]

    def layers(self, frames: np.ndarray, regions: list[Regions]) -> Layers:
        scene, background = self.background_layer(frames)
        person = self.face_layer(self.person_layer(frames, regions, scene), frames, regions)
        return Layers(person, background, scene)

    # -- hooks for layers carried between video frames (animefy.video.reuse) -----------------
    @property
    def scene_style(self) -> str | None:
        """The style of a scene (the background style over the whole frame) that can be carried
        between frames: None when there is none to carry (a transparent, solid or picture
        background, or the background left as photographed)."""
        o = self.options
        return o.bg_style if o.background == Background.keep and o.bg_style != ORIGINAL else None

    @property
    def person_style(self) -> str | None:
        """The style of a person layer drawn on its own (crops around each person) that can be
        carried; None when the person layer is the scene, the whole frame or the photo."""
        o = self.options
        if not o.needs_matte or o.person_style == ORIGINAL:
            return None
        if o.person_style == o.bg_style and self.scene_style is not None:
            return None
        return o.person_style

    def stage(self, name: str):
        """Time a step of the caller's under `name` in this request's timings."""
        return self.timings.stage(name)

    @property
    def person_separate(self) -> bool:
        """Whether the person is drawn apart from the scene (a matte, and another style than
        the background's): the scene under the person is then not shown."""
        return self.matter is not None and self.options.person_style != self.options.bg_style

    @property
    def has_matte(self) -> bool:
        return self.matter is not None

    def fixed_size(self, style: str) -> bool:
        """Whether `style`'s model takes one input size only (each pass costs a whole frame)."""
        return bool(self.stylizers[style].caps.fixed_size)

    def style_regions(self, style: str, frame: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> list[np.ndarray]:
        """`style` on each frame[y0:y1, x0:x1] at the scale the whole frame is drawn at (in
        one call per bucket of sizes where the model gains from batches)."""
        if not boxes:
            return []
        crops = [np.ascontiguousarray(frame[y0:y1, x0:x1]) for y0, y1, x0, x1 in boxes]
        with self.timings.stage(f"stylize {style}"):
            return stylize_regions(self.stylizers[style], crops, frame.shape[:2], self.options.fixed_size_mode)

    def region_passes(self, style: str, frame_hw: tuple[int, int], box_hw: tuple[int, int] | None = None) -> int:
        """Model passes for `style` on a crop of `box_hw` (the whole frame if None)."""
        stylizer = self.stylizers[style]
        scale = stylizer.plan(*frame_hw).scale
        return stylizer.plan(*(box_hw or frame_hw), scale, self.options.fixed_size_mode).passes

    def fixed_size_notes(self, frame_hw: tuple[int, int]) -> list[str]:
        """How each fixed-size model of the request that runs on whole frames runs at this size."""
        notes = []
        whole = {self.scene_style, None if self.options.needs_matte else self.options.person_style}
        for style in sorted(s for s in whole if s and s != ORIGINAL):
            stylizer = self.stylizers[style]
            choice = stylizer.plan(*frame_hw, fixed_mode=self.options.fixed_size_mode).fixed
            if choice is not None and stylizer.caps.fixed_size:
                notes.append(choice.describe(style, stylizer.caps.fixed_size))
        return notes

    def layers_from(
        self,
        frames: np.ndarray,
        regions: list[Regions],
        scene: np.ndarray | None = None,
        person: np.ndarray | None = None,
        faces: bool = True,
    ) -> Layers:
        """`layers` with a carried scene and/or person layer: only what is not given is
        rendered; faces are drawn unless `faces` is False (a given person layer has them)."""
        if scene is None:
            scene, background = self.background_layer(frames)
        else:
            background = self.background_from_scene(scene)
        if person is None:
            person = self.person_layer(frames, regions, scene)
        return Layers(self.face_layer(person, frames, regions) if faces else person, background, scene)

    # -- compose -----------------------------------------------------------------------------
    def _cut_out(self, person: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """The person layer ready to leave its scene: the old background's colour taken out of
        the soft edge (no light fringe), and relit for the variation (night, dusk, ...)."""
        person = decontaminate(person, alpha)
        if self.options.background_variation != "none":
            person = relight_person(person, alpha, self.options.background_variation)
        return person

    def compose(self, layers: Layers, regions: list[Regions]) -> list[Frame]:
        o = self.options
        if not o.needs_matte:
            results = [Frame(f) for f in layers.person]
        else:
            # Multi-band blending smooths tone seams within one scene; over a replaced or
            # regraded background it would bleed one layer's colours into the other (a halo),
            # so feather there, with the person cut out of its old scene.
            same_scene = o.background == Background.keep and o.background_variation == "none"
            method = o.blend if same_scene else "feather"
            with self.timings.stage("compose"):
                people = layers.person if same_scene else [self._cut_out(p, r.alpha) for p, r in
                                                           zip(layers.person, regions, strict=True)]  # fmt: skip
                if layers.background is None:
                    results = [Frame(people[i], reg.alpha) for i, reg in enumerate(regions)]
                else:
                    background = layers.background
                    if layers.scene is not None and o.background_variation != "none":  # held objects keep their look
                        background = [keep_held_objects(background[i], layers.scene[i], reg.alpha,
                                                        o.background_variation, self.frames_rendered + i)
                                      for i, reg in enumerate(regions)]  # fmt: skip
                    results = [Frame(blend(background[i], people[i], reg.alpha, method))
                               for i, reg in enumerate(regions)]  # fmt: skip
        return [self._upscale(r) for r in results] if self.upscaler is not None else results

    def render(self, frames: np.ndarray, regions: list[Regions]) -> list[Frame]:
        """Stylize and compose a batch (N, H, W, 3) of frames of one size."""
        results = self.compose(self.layers(frames, regions), regions)
        self.frames_rendered += len(frames)
        return results

    def observe(self, rgb: np.ndarray) -> None:
        """A frame that is not drawn (on twos/threes): the matte's video state still sees it."""
        if self.matter is not None:
            with self.timings.stage("matte"):
                self.matter.observe(rgb)

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


@dataclass
class ImageResult:
    rgb: np.ndarray
    alpha: np.ndarray | None
    timings: Timings
    messages: tuple[str, ...] = ()

    def png(self) -> bytes:
        from animefy.image.io import encode_png

        return encode_png(self.rgb, self.alpha)


Picture = str | Path | bytes | np.ndarray


def _is_file(path: str | Path) -> bool:
    try:
        return Path(path).is_file()
    except (OSError, ValueError):  # unreadable, or not a path at all (a NUL byte)
        return False


def _background_argument(background: str | Picture | None) -> tuple[dict, Picture | None]:
    """The Python API's `background` argument as request fields and a picture: 'keep',
    'transparent', '#RRGGBB', or a picture (path, bytes or array). Only the library API takes
    paths here; requests from clients name a background kind and upload the picture."""
    if background is None or (isinstance(background, str) and background in ("keep", "transparent")):
        return {"background": background or "keep"}, None
    if isinstance(background, str) and background.startswith("#"):
        return {"background": "color", "background_colour": background}, None
    if isinstance(background, str | Path) and not _is_file(background):
        raise InputError(
            f"background {str(background)[:40]!r} is neither keep, transparent, a #RRGGBB colour nor a picture file."
        )
    return {"background": "image"}, background


def stylize_image(
    image: Picture,
    person_style: str = "",
    background_style: str = "",
    face_style: str = "",
    background: str | Picture = "keep",
    options: ImageRequest | None = None,
    settings: Settings | None = None,
    picture: Picture | None = None,
    timings: Timings | None = None,
    **extra: object,
) -> ImageResult:
    """Stylize a photo. `background` is 'keep', 'transparent', '#RRGGBB' or a picture (path,
    bytes or array) to put behind the person; or pass a full `options` request (and the
    `picture` for background='image'). Returns the image, its alpha (transparent background
    only), per-stage timings (into `timings` when given) and any messages (e.g. downscaling)."""
    settings = settings or Settings.from_env()
    timings = timings if timings is not None else Timings()
    with timings.stage("decode"):
        loaded = load_image(image, settings)
    if options is None:
        fields, picture = _background_argument(background)
        options = ImageRequest(person_style=person_style or "", background_style=background_style or "",
                               face_style=face_style or "", **fields, **extra)  # fmt: skip
    picture_rgb = None if picture is None else load_image(picture, settings).rgb
    renderer = Renderer(options, settings, picture_rgb, timings=timings)
    frame = renderer(loaded.rgb)
    return ImageResult(frame.rgb, frame.alpha, timings, (*loaded.messages, *renderer.messages))
