"""Gradio app: a thin layer over animefy.app.service. The controls and the named endpoints'
parameters are generated from the request schema (animefy/schema.py). Every failure is shown
as a message (gr.Error), never a traceback, and the server keeps serving. The REST API for
mobile clients is mounted at /api/v1 after launch, so ZeroGPU's start-up path (demo.launch)
is kept."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from animefy.app.service import gpu, render_image, render_video, video_seconds
from animefy.app.ui_text import EN, ZH
from animefy.errors import AnimefyError
from animefy.models.catalog import ORIGINAL, load_catalog
from animefy.models.hub import availability
from animefy.schema import ImageRequest, VideoRequest, field_info
from animefy.settings import Settings

log = logging.getLogger(__name__)
T = gr.I18n(en=EN, zh=ZH, **{"zh-CN": ZH})
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
IMAGE_FIELDS = [n for n in ImageRequest.model_fields if field_info(ImageRequest, n)["ui"]]
VIDEO_FIELDS = [n for n in VideoRequest.model_fields if field_info(VideoRequest, n)["ui"]]


def style_choices(settings: Settings) -> list[tuple[str, str]]:
    catalog = load_catalog(settings)
    choices = []
    for name in catalog.styles():
        spec = catalog.get(name)
        missing = availability(spec, settings) == "missing"
        choices.append((spec.label() + (" (not downloaded)" if missing else ""), name))
    return choices


def models_markdown(settings: Settings) -> str:
    catalog = load_catalog(settings)
    lines = ["| model | 模型 | role | licence | status |", "|---|---|---|---|---|"]
    for name, spec in catalog.models.items():
        status = availability(spec, settings)
        shown = {"built-in": "built in"}.get(status, "missing" if status == "missing" else "available")
        lines.append(f"| {spec.display} (`{name}`) | {spec.display_zh} | {spec.role} | {spec.licence} | {shown} |")
    lines += ["", "Missing models download from the Hugging Face Hub (ModelScope as a mirror) on first use. "
              "Offline, put the files in a folder and set `ANIMEFY_MODELS_DIR` to it (`python -m animefy models` "
              "lists the file names). `[NC]` marks weights licensed for non-commercial use only."]  # fmt: skip
    return "\n".join(lines)


def _colour(value: str | None) -> str:
    """Gradio's colour picker may answer 'rgba(r, g, b, a)'; the schema takes #RRGGBB."""
    if value and value.startswith("rgb"):
        r, g, b = (round(float(v)) for v in value[value.index("(") + 1 : -1].split(",")[:3])
        return f"#{r:02x}{g:02x}{b:02x}"
    return value or "#ffffff"


def _request(cls: type[ImageRequest], names: list[str], values: tuple) -> ImageRequest:
    given = {n: v for n, v in zip(names, values, strict=True) if v is not None}
    if "background_colour" in given:
        given["background_colour"] = _colour(given["background_colour"])
    return cls(**given)


def endpoint(media: list[str], cls: type[ImageRequest], names: list[str], run: Callable) -> Callable:
    """A Gradio handler whose parameters are the `media` inputs, then the schema fields `names`
    with the schema's defaults, then an optional picture: gradio_client sees the schema's names."""

    def handler(*values):
        progress = values[-1] if values and isinstance(values[-1], gr.Progress) else None
        values = values[:-1] if progress is not None else values
        inputs, fields, extra = values[: len(media)], values[len(media) : len(media) + len(names)], values[
            len(media) + len(names) :]  # fmt: skip
        if not inputs[0]:
            raise gr.Error("Upload a photo or clip first.")
        try:
            return run(*inputs, _request(cls, names, fields), *extra, progress=progress)
        except AnimefyError as exc:
            log.info("request refused: %s", exc)
            raise gr.Error(str(exc)) from None

    P = inspect.Parameter
    params = [P(m, P.POSITIONAL_OR_KEYWORD, annotation=str) for m in media]
    params += [P(n, P.POSITIONAL_OR_KEYWORD, default=field_info(cls, n)["default"]) for n in names]
    params += [P("picture", P.POSITIONAL_OR_KEYWORD, default=None, annotation=str | None)]
    params += [P("progress", P.POSITIONAL_OR_KEYWORD, default=gr.Progress())]
    handler.__signature__ = inspect.Signature(params)
    handler.__doc__ = f"Stylize {media[0]}; fields as in the request schema ({cls.__name__})."
    return handler


def _image_runner(settings: Settings) -> Callable:
    @gpu(duration=60)
    def run(image: str, request: ImageRequest, picture: str | None = None, progress=None) -> str:
        if progress is not None:
            progress(0.1, desc="matting, faces and stylizing")
        png, messages = render_image(image, request, picture, settings)
        for message in messages:
            gr.Info(message)
        return png

    return run


def _video_runner(settings: Settings) -> Callable:
    @gpu(duration=video_seconds)
    def run(video: str, request: VideoRequest, picture: str | None = None, progress=None) -> str:
        def report(done: int, total: int) -> None:
            if progress is not None:
                progress((done, total), desc="frames", unit="frames")

        result = render_video(video, request, settings, picture, report)
        for message in result.messages:
            gr.Info(message)
        gr.Info(f"Temporal supervisor: {result.report.summary()}")
        return str(result.path)

    return run


BACKGROUND_LABELS = {"keep": "keep", "transparent": "transparent", "color": "solid colour", "image": "picture"}


def control(
    cls: type[ImageRequest], name: str, styles: list[tuple[str, str]], default_style: str, **kw
) -> gr.Component:
    """The Gradio control for one schema field (choices, default, range and label from it)."""
    f = field_info(cls, name)
    label = T(f"field.{name}")
    if name.endswith("_style"):
        same = [("Same as person", "")] if name != "person_style" else []
        original = [("Original (as photographed)", ORIGINAL)] if name != "person_style" else []
        value = default_style if name == "person_style" else ""
        return gr.Dropdown([*same, *original, *styles], value=value, label=label, **kw)
    if name == "background_colour":
        return gr.ColorPicker(f["default"], label=label, **kw)
    if f["type"] is bool:
        return gr.Checkbox(f["default"], label=label, **kw)
    if f["type"] is float:
        return gr.Slider(f["ge"], f["le"], value=f["default"], step=0.05, label=label, **kw)
    if f["choices"]:
        choices = [(BACKGROUND_LABELS.get(str(c), str(c)), c) for c in f["choices"]]
        widget = gr.Radio if len(choices) <= 4 else gr.Dropdown
        return widget(choices, value=f["default"], label=label, **kw)
    return gr.Textbox(f["default"], label=label, **kw)


def _controls(cls: type[ImageRequest], names: list[str], styles, default: str, prefix: str) -> list[gr.Component]:
    main = [n for n in names if field_info(cls, n)["ui"] == "main"]
    advanced = [n for n in names if field_info(cls, n)["ui"] == "advanced"]
    made = {}
    with gr.Row():
        for n in main:
            made[n] = control(cls, n, styles, default, elem_id=f"{prefix}_{n}")
    with gr.Accordion(T("ui.advanced"), open=False):
        with gr.Row():
            for n in advanced:
                made[n] = control(cls, n, styles, default, elem_id=f"{prefix}_{n}")
    return [made[n] for n in names]


def _examples(rows: list, inputs: list, headers: list[str], **kwargs) -> gr.Examples:
    """gr.Examples with plain column headers (translated labels would show as raw metadata)."""
    examples = gr.Examples(rows, inputs, label=T("ui.examples"), **kwargs)
    examples.dataset.headers = headers
    return examples


def _photo_in_out(prefix: str) -> tuple[gr.Image, gr.Image]:
    """A photo upload and its PNG result side by side (RGBA, so transparency survives)."""
    with gr.Row():
        photo = gr.Image(type="filepath", label=T("ui.photo"), elem_id=f"{prefix}_in")
        result = gr.Image(
            type="filepath", format="png", image_mode="RGBA", label=T("ui.result"), elem_id=f"{prefix}_out"
        )
    return photo, result


def build_demo(settings: Settings | None = None) -> gr.Blocks:
    from animefy.models.registry import default_style

    settings = settings or Settings.from_env()
    styles = style_choices(settings)
    default = default_style(settings)
    run_image, run_video = _image_runner(settings), _video_runner(settings)
    stylize_image = endpoint(["image"], ImageRequest, IMAGE_FIELDS, run_image)
    stylize_video = endpoint(["video"], VideoRequest, VIDEO_FIELDS, run_video)
    quick = endpoint(["image"], ImageRequest, ["person_style", "background"], run_image)
    missing = any(label.endswith("(not downloaded)") for label, _ in styles)
    with gr.Blocks(title="animefy", delete_cache=(600, settings.result_ttl)) as demo:
        gr.Markdown(T("ui.title"))
        if missing:
            gr.Markdown(T("ui.offline_note"))
        with gr.Tab(T("ui.tab_image"), id="image"):
            img_in, img_out = _photo_in_out("image")
            with gr.Row():
                img_style = control(ImageRequest, "person_style", styles, default)
                img_bg = gr.Radio([("keep", "keep"), ("transparent", "transparent")], value="keep",
                                  label=T("field.background"), elem_id="image_bg")  # fmt: skip
            img_btn = gr.Button(T("ui.run_image"), variant="primary", elem_id="image_run")
            img_btn.click(quick, [img_in, img_style, img_bg], img_out, api_name="animefy",
                          api_description="Quick photo: a style and keep/transparent background.")  # fmt: skip
            _examples([[str(EXAMPLES / "astronaut.jpg"), default, "keep"],
                       [str(EXAMPLES / "cameraman.jpg"), default, "transparent"]],
                      [img_in, img_style, img_bg], ["photo", "style", "background"], outputs=img_out, fn=quick,
                      cache_examples=True, cache_mode="lazy")  # fmt: skip
        with gr.Tab(T("ui.tab_video"), id="video"):
            with gr.Row():
                vid_in = gr.Video(label=T("ui.clip"), elem_id="video_in")
                vid_out = gr.Video(label=T("ui.anime_clip"), elem_id="video_out")
            vid_controls = _controls(VideoRequest, VIDEO_FIELDS, styles, default, "video")
            vid_picture = gr.Image(type="filepath", label=T("ui.picture"), height=160, elem_id="video_picture")
            vid_btn = gr.Button(T("ui.run_video"), variant="primary", elem_id="video_run")
            vid_btn.click(stylize_video, [vid_in, *vid_controls, vid_picture], vid_out, api_name="stylize_video")
            _examples([[str(EXAMPLES / "astronaut_pan.mp4"), default]], [vid_in, vid_controls[0]], ["clip", "style"],
                      outputs=vid_out, fn=lambda video, style: stylize_video(video, style), cache_examples=True,
                      cache_mode="lazy")  # fmt: skip
        with gr.Tab(T("ui.tab_mix"), id="mix"):
            mix_in, mix_out = _photo_in_out("mix")
            mix_controls = _controls(ImageRequest, IMAGE_FIELDS, styles, default, "mix")
            mix_picture = gr.Image(type="filepath", label=T("ui.picture"), height=200, elem_id="mix_picture")
            mix_btn = gr.Button(T("ui.run_mix"), variant="primary", elem_id="mix_run")
            mix_btn.click(stylize_image, [mix_in, *mix_controls, mix_picture], mix_out, api_name="stylize_image")
            example = {"person_style": default, "background": "image", "background_variation": "dusk"}
            _examples([[str(EXAMPLES / "astronaut.jpg"),
                        *[example.get(n, field_info(ImageRequest, n)["default"]) for n in IMAGE_FIELDS],
                        str(EXAMPLES / "rocket_background.jpg")]],
                      [mix_in, *mix_controls, mix_picture], ["photo", *IMAGE_FIELDS, "picture"])  # fmt: skip
        with gr.Tab(T("ui.tab_models"), id="models"):
            gr.Markdown(models_markdown(settings))
    return demo


def main() -> None:
    from animefy.app.rest import create_rest_app
    from animefy.app.storage import Sweeper

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    Sweeper(settings)
    demo = build_demo(settings)
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=1)
    demo.launch(
        server_name=settings.server_name,
        show_error=True,
        max_file_size=f"{settings.max_upload_mb}mb",
        i18n=T,
        allowed_paths=[str(settings.output_dir)],
        prevent_thread_lock=True,
    )
    demo.app.mount("/api/v1", create_rest_app(settings))
    print("REST API: /api/v1 (docs at /api/v1/docs)", flush=True)
    demo.block_thread()
