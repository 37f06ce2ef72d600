"""The library calls the web UI and the REST API share. The shells wrap them in `gpu(...)`
(ZeroGPU's `spaces.GPU` on a Space, nothing elsewhere); only picklable values (paths as
strings, the pydantic request, the frozen Settings) cross it, and a progress callback only
where no ZeroGPU boundary is in the way."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path

from animefy.schema import ImageRequest, VideoRequest
from animefy.settings import Settings

log = logging.getLogger(__name__)

try:  # On a ZeroGPU Space, `spaces` is installed and must be imported before CUDA starts.
    import spaces  # type: ignore

    gpu = spaces.GPU
except ImportError:  # anywhere else the decorator does nothing and the app runs on CPU

    def gpu(fn=None, **_kw):
        return fn if fn is not None else (lambda f: f)


def output_dir(settings: Settings) -> Path:
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    return settings.output_dir


def new_output(settings: Settings, suffix: str) -> Path:
    """A fresh file name for a result: results never overwrite anything."""
    return output_dir(settings) / f"animefy_{uuid.uuid4().hex[:12]}{suffix}"


def render_image(image: str, request: ImageRequest, picture: str | None, settings: Settings) -> tuple[str, list[str]]:
    """Stylize the photo at `image` (and `picture` behind the person for background='image');
    returns (PNG path, messages)."""
    from animefy.image.io import save_png
    from animefy.image.pipeline import stylize_image

    result = stylize_image(image, options=request, settings=settings, picture=picture)
    return str(save_png(new_output(settings, ".png"), result.rgb, result.alpha)), list(result.messages)


def render_video(
    video: str,
    request: VideoRequest,
    settings: Settings,
    picture: str | None = None,
    progress: Callable[[int, int], None] | None = None,
):
    """Stylize the clip at `video` into a new file (.mp4, or .webm/.zip when transparent).
    On a ZeroGPU Space it runs as several GPU calls (animefy/app/zerogpu.py): call it from
    outside any `gpu(...)` wrapper there."""
    if settings.on_zerogpu:
        from animefy.app import zerogpu

        return zerogpu.render_video(video, request, settings, picture, progress)
    from animefy.image.io import load_image
    from animefy.video.pipeline import stylize_video

    picture_rgb = load_image(picture, settings).rgb if picture else None
    out = new_output(settings, request.output_suffix())
    return stylize_video(video, out, request, settings=settings, progress=progress, picture=picture_rgb)


def check_video(video: str, request: VideoRequest, settings: Settings, picture_given: bool) -> int:
    """Everything that can fail before the first frame, checked before a job is queued: the
    clip (readable, within the limits), the request, and that every model it needs is on disk
    or can be fetched. Returns the expected number of frames."""
    from animefy.image.pipeline import check_request
    from animefy.models.catalog import load_catalog
    from animefy.models.hub import resolve_model
    from animefy.video.io import check_limits, probe

    info = probe(video)
    check_limits(info, settings)
    catalog = load_catalog(settings)
    _, needs = check_request(request, settings, picture_given, catalog)
    for name, role in needs:
        spec = catalog.get(name, role)
        if not spec.builtin:
            resolve_model(spec, settings)
    return info.frame_estimate


def video_seconds(video: str, *args: object, **kw: object) -> int:
    """GPU seconds a clip will ask for in all (the sum of its GPU calls' durations, from the
    per-frame cost table: animefy/app/zerogpu.py); 60 when the clip cannot be read (the run
    reports that properly)."""
    from animefy.app.zerogpu import gpu_plan
    from animefy.errors import AnimefyError

    settings = next((a for a in (*args, *kw.values()) if isinstance(a, Settings)), None) or Settings.from_env()
    request = next((a for a in (*args, *kw.values()) if isinstance(a, VideoRequest)), None) or VideoRequest()
    try:
        return gpu_plan(video, request, settings).gpu_seconds
    except AnimefyError:
        return 60
