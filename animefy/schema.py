"""The one request schema. Every option a user can set, for a photo (`ImageRequest`) or a clip
(`VideoRequest`), is a typed field here with its choices, range, default and help text; the
fields are validated once, when the request is made. The CLI (argparse), the REST API (form
fields in OpenAPI) and the Gradio controls are generated from these fields, so an option added
here appears in all three. Catalog names (styles, matte and upscale models) are checked
against the catalog by `check_names`, since the catalog is data that users can extend."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from animefy.errors import InputError

VARIATIONS = ("none", "day", "dusk", "night", "spring", "summer", "autumn", "winter")
DEFAULT_CHUNK_SECONDS = 5.0  # Ray chunks: see README, "Ray" (balance on few workers vs warm-up share and seams)
DEFAULT_STRENGTH = 0.8  # see animefy/video/temporal.py for the measurements behind it
HEX_COLOUR = r"^#[0-9a-fA-F]{6}$"


class Background(StrEnum):
    keep = "keep"
    transparent = "transparent"
    color = "color"
    image = "image"


Variation = Literal[VARIATIONS]  # type: ignore[valid-type]
Blend = Literal["laplacian", "feather"]
Hold = Annotated[int, Field(ge=1, le=3)]  # 1, 2 or 3 (an int, so "2" from a form or the CLI converts)
TransparentFormat = Literal["webm", "png-zip"]
PICTURE_POSITIONS = ("center", "left", "right", "top", "bottom", "whole")
PicturePosition = Literal[PICTURE_POSITIONS]  # type: ignore[valid-type]
FixedSizeMode = Literal["auto", "letterbox", "tiles"]


def _f(
    default: Any,
    help: str,
    *,
    short: str = "",
    ui: str = "",
    choices: tuple = (),
    when: dict | None = None,
    **kw: Any,
) -> Any:
    """A schema field; `short` is its CLI short flag, `ui` the Gradio group it sits in
    ("main", "advanced", or "" for fields the UI does not show), `choices` the values of a
    number field that takes only a few, `when` the values of other fields under which the
    field matters ({"background": ["color"]}: the UI shows it only then)."""
    extra = {"short": short, "ui": ui, **({"choices": list(choices)} if choices else {}),
             **({"when": {k: list(v) for k, v in when.items()}} if when else {})}  # fmt: skip
    return Field(default, description=help, json_schema_extra=extra, **kw)


class ImageRequest(BaseModel):
    """How to stylize a photo. Empty style names mean the default: the person style falls back
    to the default style, the face and background styles to the person style."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=True, validate_default=True)

    person_style: str = _f("", "style for the person (default: the first available; see `models`)", short="-s",
                           ui="main", max_length=64)  # fmt: skip
    background_style: str = _f("", "style for the background ('' = same as person; 'original' keeps it)",
                               short="-b", ui="main", max_length=64)  # fmt: skip
    face_style: str = _f("", "style for faces ('' = same as person)", short="-f", ui="advanced", max_length=64)
    background: Background = _f(Background.keep, "keep | transparent | color | image (an uploaded picture)", ui="main")
    background_colour: Annotated[str, Field(pattern=HEX_COLOUR)] = _f(
        "#ffffff", "#RRGGBB, with background=color", ui="advanced", when={"background": ["color"]}
    )
    background_variation: Variation = _f("none", "time of day or season for the background", ui="advanced",
                                         when={"background": ["keep", "image"]})  # fmt: skip
    stylize_background_image: bool = _f(True, "stylize a replacement picture too", ui="advanced",
                                        when={"background": ["image"]})  # fmt: skip
    background_position: PicturePosition = _f(
        "center",
        "where a background picture sits: it fills the frame centred, or shows its left / right / top / "
        "bottom part, or 'whole' shows all of it over a blurred copy",
        ui="advanced",
        when={"background": ["image"]},
    )
    blend: Blend = _f("laplacian", "how layers are blended", ui="")
    fixed_size_mode: FixedSizeMode = _f(
        "auto",
        "models that take one size only (e.g. hayao_v3, 512x512) on larger pictures: letterbox = one pass scaled "
        "to fit (faster, less detail), tiles = overlapping tiles at full resolution, auto = letterbox when that "
        "keeps at least 75% of the resolution",
        ui="advanced",
    )
    matte_model: str = _f("rvm", "person matting model (see `models`)", ui="", max_length=64)
    upscale: str = _f("", "super-resolution model, e.g. realesr_animevideov3 ('' = none; needs animefy[sr])",
                      ui="", max_length=64)  # fmt: skip

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InputError(explain(exc)) from None

    # -- derived -----------------------------------------------------------------------------
    @property
    def bg_style(self) -> str:
        return self.background_style or self.person_style

    @property
    def head_style(self) -> str:
        return self.face_style or self.person_style

    @property
    def transparent(self) -> bool:
        return self.background == Background.transparent

    @property
    def needs_matte(self) -> bool:
        return (
            self.background != Background.keep
            or self.bg_style != self.person_style
            or self.head_style != self.person_style
            or self.background_variation != "none"
        )

    def with_defaults(self, default_style: str) -> ImageRequest:
        return self if self.person_style else self.model_copy(update={"person_style": default_style})

    def check(self, picture_given: bool = False) -> None:
        """Rules between fields (the field types check each one alone)."""
        if self.background == Background.image and not picture_given:
            raise InputError("background='image' needs a background picture; upload one or choose another background.")
        if self.background_variation != "none" and self.background in (Background.transparent, Background.color):
            raise InputError(
                "Background variations apply to a kept or replaced background, not to a transparent or solid one."
            )


class VideoRequest(ImageRequest):
    """How to stylize a clip: everything of a photo plus the temporal supervisor and output."""

    strength: float = _f(DEFAULT_STRENGTH, "flicker suppression 0..1 (0 = off)", ge=0.0, le=1.0, ui="main")
    glitch_repair: bool = _f(True, "find one-frame glitches (a flickering eye) and rebuild them", ui="advanced")
    hold: Hold = _f(1, "anime timing: 1 = every frame, 2 = on twos, 3 = on threes", ui="main", choices=(1, 2, 3))
    transparent_format: TransparentFormat = _f("webm", "with background=transparent: WebM with alpha or a zip of PNGs",
                                               ui="advanced", when={"background": ["transparent"]})  # fmt: skip
    max_seconds: float = _f(0.0, "keep only the first N seconds of the clip (0 = all of it); a longer clip trimmed "
                            "this way is accepted when N is within the length limit", ge=0.0, ui="main")  # fmt: skip
    reuse: bool = _f(True, "stylize the background at keyframes and carry it with the camera between them (and "
                     "parts of the person that hold still); off = every frame from scratch", ui="advanced")  # fmt: skip

    ray: bool = _f(False, "run in chunks on Ray (CLI: --ray [ADDRESS], a local Ray without one; a server runs every "
                   "video on its ANIMEFY_RAY_ADDRESS cluster when it has one, and refuses this without)", ui="")  # fmt: skip
    ray_workers: int = _f(0, "with ray: workers (Ray actors, each loads the models once) for this clip; 0 = the cores of "
                          "a local Ray, or the cluster's CPUs (GPUs where there are)", ge=0, le=64, ui="")  # fmt: skip
    chunk_seconds: float = _f(DEFAULT_CHUNK_SECONDS, "with ray: seconds of video per chunk (cut at exact frames; "
                              "each starts with a few warm-up frames that are dropped)", ge=1.0, le=600.0, ui="")  # fmt: skip

    def output_suffix(self) -> str:
        if not self.transparent:
            return ".mp4"
        return ".zip" if self.transparent_format == "png-zip" else ".webm"


def explain(exc: ValidationError) -> str:
    """One readable sentence per invalid field, naming the valid values where there are any."""
    parts = []
    for err in exc.errors():
        name = ".".join(str(x) for x in err.get("loc", ())) or "request"
        ctx = err.get("ctx") or {}
        if err["type"] == "string_pattern_mismatch" and "colour" in name:
            parts.append(f"{name} must be a colour of the form #RRGGBB (for example #00b140)")
        elif err["type"] == "extra_forbidden":
            known = ", ".join(VideoRequest.model_fields)
            parts.append(f"'{name}' is not an option; known options: {known}")
        elif "expected" in ctx:
            parts.append(f"{name} must be {ctx['expected']}")
        else:
            parts.append(f"{name}: {err['msg']}")
    return "; ".join(parts) + "."


def field_info(cls: type[BaseModel], name: str) -> dict:
    """Choices, default, help, range and UI group of a field, for the front-end generators."""
    field = cls.model_fields[name]
    extra = field.json_schema_extra or {}
    annotation = field.annotation
    choices: tuple | None = tuple(extra["choices"]) if extra.get("choices") else None
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        choices = tuple(m.value for m in annotation)
    elif getattr(annotation, "__origin__", None) is Literal:
        choices = annotation.__args__
    bounds = {type(m).__name__: getattr(m, type(m).__name__.lower(), None) for m in field.metadata}
    default = field.default.value if isinstance(field.default, StrEnum) else field.default
    kind = {bool: bool, float: float, int: int}.get(annotation, str)
    return {"name": name, "default": default, "help": field.description or "", "choices": choices, "type": kind,
            "short": extra.get("short", ""), "ui": extra.get("ui", ""), "ge": bounds.get("Ge"),
            "le": bounds.get("Le"), "when": extra.get("when", {})}  # fmt: skip


def fields(cls: type[BaseModel]) -> list[dict]:
    return [field_info(cls, name) for name in cls.model_fields]
