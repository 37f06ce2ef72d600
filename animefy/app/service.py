"""The library calls the web UI and the REST API share. The shells wrap them in `zerogpu.gpu(...)`
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



def check_output_folder(settings: Settings) -> Path:
    """At start-up: the output folder exists (created if needed) and a file can be written in
    it, else a ConfigError naming the folder (for whoever starts the server; never sent to a
    client). The web UI and the REST app call it before anything else."""
    import tempfile

    from animefy.errors import ConfigError

    folder = settings.output_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".animefy_write_check_"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"The output folder {folder} cannot be written ({exc.strerror or type(exc).__name__}). Set "
            "ANIMEFY_OUTPUT_DIR to a folder this user can write, or fix its permissions."
        ) from None
    return folder


def startup_check(settings: Settings) -> None:
    """check_output_folder for a server's start: one line on stderr and exit status 1
    instead of a traceback."""
    from animefy.errors import ConfigError

    try:
        check_output_folder(settings)
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None


def output_dir(settings: Settings) -> Path:
    """The output folder, created if needed; a failure is logged with the folder and raised
    without it (the message may reach a client)."""
    try:
        settings.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from animefy.errors import ConfigError

        log.error("the output folder %s cannot be created: %s", settings.output_dir, exc)
        raise ConfigError("The server's output folder cannot be written; whoever runs animefy must fix "
                          "ANIMEFY_OUTPUT_DIR.") from None  # fmt: skip
    return settings.output_dir


def new_output(settings: Settings, suffix: str) -> Path:
    """A fresh file name for a result: results never overwrite anything."""
    return output_dir(settings) / f"animefy_{uuid.uuid4().hex[:12]}{suffix}"


def render_image(
    image: str, request: ImageRequest, picture: str | None, settings: Settings, timings=None
) -> tuple[str, list[str]]:
    """Stylize the photo at `image` (and `picture` behind the person for background='image');
    returns (PNG path, messages). `timings` (a Timings) sees each stage as it starts."""
    from animefy.image.io import save_png
    from animefy.image.pipeline import stylize_image

    result = stylize_image(image, options=request, settings=settings, picture=picture, timings=timings)
    return str(save_png(new_output(settings, ".png"), result.rgb, result.alpha)), list(result.messages)


def render_video(
    video: str,
    request: VideoRequest,
    settings: Settings,
    picture: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    out: str | None = None,
):
    """Stylize the clip at `video` into a new file (.mp4, or .webm/.zip when transparent), or
    into `out` when given (a fresh name the caller chose); on the server's Ray cluster in chunks
    when it has one (ANIMEFY_RAY_ADDRESS). On a ZeroGPU Space it runs as several GPU calls
    (animefy/app/zerogpu.py): call it from outside any `gpu(...)` wrapper there."""
    out = out or str(new_output(settings, request.output_suffix()))
    if settings.on_zerogpu:
        from animefy.app import zerogpu

        return zerogpu.render_video(video, request, settings, picture, progress, out=out)
    from animefy.image.io import load_image
    from animefy.video.pipeline import stylize_video

    picture_rgb = load_image(picture, settings).rgb if picture else None
    if uses_ray(request, settings):
        from animefy.video.ray_chunks import stylize_on_ray

        return stylize_on_ray(video, out, request, settings, address=settings.ray_address, progress=progress,
                              picture=picture_rgb, public=True, keep=True)  # fmt: skip
    return stylize_video(video, out, request, settings=settings, progress=progress, picture=picture_rgb)


def uses_ray(request: VideoRequest, settings: Settings) -> bool:
    """Whether a server runs this video on Ray: always when it has a cluster; a request that
    asks for Ray on a server without one is refused (503), never run on a local Ray."""
    if settings.ray_address:
        return True
    if request.ray:
        from animefy.video.ray_chunks import RayUnavailableError

        raise RayUnavailableError("This server has no Ray cluster; send the video without ray.")
    return False


def check_video(video: str, request: VideoRequest, settings: Settings, picture_given: bool) -> int:
    """Everything that can fail before the first frame, checked before a job is queued: the
    clip (readable, within the limits), the request, and that every model it needs is on disk
    or can be fetched, and that the first frame decodes. Returns the expected number of frames."""
    from animefy.image.pipeline import check_request
    from animefy.models.catalog import load_catalog
    from animefy.models.hub import resolve_model
    from animefy.video.io import check_decodable, check_limits, probe
    from animefy.video.pipeline import trimmed

    info = trimmed(probe(video, settings), request)  # a trimmed clip is checked as trimmed
    check_limits(info, settings)
    if uses_ray(request, settings):
        from animefy.video.chunks import check_chunked
        from animefy.video.ray_chunks import cluster_answers

        check_chunked(Path(video), new_output(settings, request.output_suffix()), request, settings)
        cluster_answers(settings.ray_address)
    catalog = load_catalog(settings)
    _, needs = check_request(request, settings, picture_given, catalog)
    for name, role in needs:
        spec = catalog.get(name, role)
        if not spec.builtin:
            resolve_model(spec, settings)
    check_decodable(video, info)
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
