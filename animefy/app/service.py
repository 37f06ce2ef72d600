"""One request schema and the GPU-bound calls shared by the web UI and the REST API.
The shells (ui.py, rest.py) wrap their entry points in `gpu(...)`; only picklable values
(strings, numbers, frozen dataclasses) cross it, so a progress callback is passed only where
no ZeroGPU boundary is in the way."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

try:  # On a ZeroGPU Space, `spaces` is installed and must be imported before CUDA starts.
    import spaces  # type: ignore

    gpu = spaces.GPU
except ImportError:  # anywhere else the decorator does nothing and the app runs on CPU

    def gpu(fn=None, **_kw):  # noqa: ANN001, ANN202
        return fn if fn is not None else (lambda f: f)


from animefy.errors import InputError
from animefy.image.compose import parse_colour
from animefy.image.pipeline import StyleOptions, background_fields
from animefy.settings import Settings
from animefy.video.temporal import TemporalOptions


def output_dir(settings: Settings) -> Path:
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    return settings.output_dir


def new_output(settings: Settings, suffix: str) -> Path:
    """A fresh file name for a result: results never overwrite anything."""
    return output_dir(settings) / f"animefy_{uuid.uuid4().hex[:12]}{suffix}"


CLIENT_BACKGROUNDS = ("keep", "transparent", "color", "image")


@dataclass(frozen=True)
class StyleRequest:
    """What a client asks for. Empty strings mean 'same as the person style'."""

    person_style: str
    background_style: str = ""
    face_style: str = ""
    background: str = "keep"  # keep | transparent | color | image
    colour: str = "#ffffff"
    variation: str = "none"

    def options(self, picture: str | None = None, settings: Settings | None = None) -> StyleOptions:
        # A client's string is never a server path: only the documented values are accepted,
        # and a picture comes only as an upload (`picture`, a path the server itself made).
        if self.background not in CLIENT_BACKGROUNDS:
            raise InputError(
                f"background must be one of {', '.join(CLIENT_BACKGROUNDS)} (with 'image', upload a picture)."
            )
        colour = "#{:02x}{:02x}{:02x}".format(*parse_colour(self.colour or "#ffffff"))  # only #RRGGBB
        given = {"color": colour, "image": picture or "image"}.get(self.background, self.background)
        return StyleOptions(
            person_style=self.person_style,
            background_style=self.background_style or None,
            face_style=self.face_style or None,
            background_variation=self.variation or "none",
            **background_fields(given, settings),
        )


def render_image(image: str, request: StyleRequest, picture: str | None, settings: Settings) -> tuple[str, list[str]]:
    """Stylize the photo at `image`; returns (PNG path, messages)."""
    from animefy.image.io import save_png
    from animefy.image.pipeline import stylize_image

    result = stylize_image(image, options=request.options(picture, settings), settings=settings)
    return str(save_png(new_output(settings, ".png"), result.rgb, result.alpha)), list(result.messages)


def video_seconds(video: str, *_args: object, **_kw: object) -> int:
    """ZeroGPU duration estimate from the clip's length: about 0.5 s per frame on a GPU."""
    from animefy.video.io import probe

    try:
        info = probe(video)
    except Exception:  # noqa: BLE001 - a bad file fails properly inside the call; estimate low
        return 60
    return int(min(600, 30 + 0.5 * info.frame_estimate))


def render_video(
    video: str,
    request: StyleRequest,
    temporal: TemporalOptions,
    transparent_format: str,
    settings: Settings,
    progress: Callable[[int, int], None] | None = None,
):  # noqa: ANN201 - VideoResult
    """Stylize the clip at `video` into a new file (.mp4, or .webm/.zip when transparent)."""
    from animefy.video.pipeline import stylize_video

    transparent = request.background == "transparent"
    suffix = (".zip" if transparent_format == "png-zip" else ".webm") if transparent else ".mp4"
    return stylize_video(
        video,
        new_output(settings, suffix),
        request.options(settings=settings),
        temporal,
        settings,
        transparent_format=transparent_format,
        progress=progress,
    )
