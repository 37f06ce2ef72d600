"""Gradio app: a thin layer over animefy.app.service. Every failure is shown as a message
(gr.Error), never a traceback, and the server keeps serving. The REST API for mobile clients
is mounted at /api/v1 after launch, so ZeroGPU's start-up path (demo.launch) is kept."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from animefy.app.service import StyleRequest, gpu, render_image, render_video, video_seconds
from animefy.app.ui_text import EN, ZH
from animefy.errors import AnimefyError
from animefy.image.variations import VARIATIONS
from animefy.models.catalog import ORIGINAL, load_catalog
from animefy.models.hub import availability
from animefy.settings import Settings
from animefy.video.temporal import DEFAULT_STRENGTH, TemporalOptions

T = gr.I18n(en=EN, zh=ZH, **{"zh-CN": ZH})
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


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


def _fail(exc: AnimefyError) -> gr.Error:
    return gr.Error(str(exc))


@gpu(duration=60)
def stylize_image(
    image: str,
    person_style: str,
    background_style: str = "",
    face_style: str = "",
    background: str = "keep",
    colour: str = "#ffffff",
    picture: str | None = None,
    variation: str = "none",
    progress=gr.Progress(),
) -> str:  # noqa: ANN001
    """Stylize a photo; returns a PNG (RGBA when background is 'transparent').

    background: keep | transparent | color | image (with `picture`). Styles: see the Models tab;
    'original' keeps a region as photographed; empty = same as the person style.
    """
    if not image:
        raise gr.Error("Upload a photo first.")
    try:
        progress(0.1, desc="matting, faces and stylizing")
        request = StyleRequest(person_style, background_style or "", face_style or "", background, colour, variation)
        png, messages = render_image(image, request, picture, Settings.from_env())
    except AnimefyError as exc:
        raise _fail(exc) from exc
    for message in messages:
        gr.Info(message)
    return png


@gpu(duration=video_seconds)
def stylize_video(
    video: str,
    person_style: str,
    background_style: str = "",
    strength: float = DEFAULT_STRENGTH,
    hold: int = 1,
    transparent: bool = False,
    progress=gr.Progress(),
) -> str:  # noqa: ANN001
    """Stylize a clip; returns an MP4 (WebM with alpha when transparent). Keeps fps and audio."""
    if not video:
        raise gr.Error("Upload a video first.")
    try:
        request = StyleRequest(person_style, background_style or "", "", "transparent" if transparent else "keep")
        temporal = TemporalOptions(strength=float(strength), hold=int(hold))
        result = render_video(
            video,
            request,
            temporal,
            "webm",
            Settings.from_env(),
            progress=lambda done, total: progress((done, total), desc="frames", unit="frames"),
        )
    except AnimefyError as exc:
        raise _fail(exc) from exc
    for message in result.messages:
        gr.Info(message)
    gr.Info(f"Temporal supervisor: {result.report.summary()}")
    return str(result.path)


def _examples(rows: list, inputs: list, headers: list[str], **kwargs) -> gr.Examples:
    """gr.Examples with plain column headers (translated labels would show as raw metadata)."""
    examples = gr.Examples(rows, inputs, label=T("ui.examples"), **kwargs)
    examples.dataset.headers = headers
    return examples


BACKGROUNDS = [("keep", "keep"), ("transparent", "transparent"), ("solid colour", "color"), ("picture", "image")]


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
    default = default_style(settings=settings)
    originals = [("Original (as photographed)", ORIGINAL), *styles]
    same = [("Same as person", ""), *originals]
    missing = any(label.endswith("(not downloaded)") for label, _ in styles)
    with gr.Blocks(title="animefy") as demo:
        gr.Markdown(T("ui.title"))
        if missing:
            gr.Markdown(T("ui.offline_note"))
        with gr.Tab(T("ui.tab_image"), id="image"):
            img_in, img_out = _photo_in_out("image")
            with gr.Row():
                img_style = gr.Dropdown(styles, value=default, label=T("ui.style"))
                img_bg = gr.Radio(BACKGROUNDS[:2], value="keep", label=T("ui.background"), elem_id="image_bg")
            img_btn = gr.Button(T("ui.run_image"), variant="primary", elem_id="image_run")
            img_btn.click(
                lambda image, style, bg: stylize_image(image, style, "", "", bg),
                [img_in, img_style, img_bg],
                img_out,
                api_name="animefy",
            )
            _examples(
                [
                    [str(EXAMPLES / "astronaut.jpg"), default, "keep"],
                    [str(EXAMPLES / "cameraman.jpg"), default, "transparent"],
                ],
                [img_in, img_style, img_bg],
                ["photo", "style", "background"],
                outputs=img_out,
                fn=lambda image, style, bg: stylize_image(image, style, "", "", bg),
                cache_examples=True,
                cache_mode="lazy",
            )
        with gr.Tab(T("ui.tab_video"), id="video"):
            with gr.Row():
                vid_in = gr.Video(label=T("ui.clip"), elem_id="video_in")
                vid_out = gr.Video(label=T("ui.anime_clip"), elem_id="video_out")
            with gr.Row():
                vid_person = gr.Dropdown(styles, value=default, label=T("ui.person_style"))
                vid_bg = gr.Dropdown(same, value="", label=T("ui.background_style"))
            with gr.Row():
                vid_strength = gr.Slider(0, 1, value=DEFAULT_STRENGTH, step=0.05, label=T("ui.strength"))
                vid_hold = gr.Radio(
                    [("every frame", 1), ("on twos", 2), ("on threes", 3)], value=1, label=T("ui.timing")
                )
                vid_transparent = gr.Checkbox(False, label=T("ui.transparent_video"))
            vid_btn = gr.Button(T("ui.run_video"), variant="primary", elem_id="video_run")
            vid_btn.click(
                stylize_video,
                [vid_in, vid_person, vid_bg, vid_strength, vid_hold, vid_transparent],
                vid_out,
                api_name="stylize_video",
            )
            _examples(
                [[str(EXAMPLES / "astronaut_pan.mp4"), default]],
                [vid_in, vid_person],
                ["clip", "style"],
                outputs=vid_out,
                fn=lambda video, style: stylize_video(video, style),
                cache_examples=True,
                cache_mode="lazy",
            )
        with gr.Tab(T("ui.tab_mix"), id="mix"):
            mix_in, mix_out = _photo_in_out("mix")
            with gr.Row():
                mix_person = gr.Dropdown(originals, value=default, label=T("ui.person_style"))
                mix_face = gr.Dropdown(same, value="", label=T("ui.face_style"))
                mix_bg_style = gr.Dropdown(same, value="", label=T("ui.background_style"))
            with gr.Row():
                mix_bg = gr.Radio(BACKGROUNDS, value="keep", label=T("ui.background"), elem_id="mix_bg")
                mix_variation = gr.Dropdown(list(VARIATIONS), value="none", label=T("ui.variation"))
                mix_colour = gr.ColorPicker("#7fb2ff", label=T("ui.colour"))
            mix_picture = gr.Image(type="filepath", label=T("ui.picture"), height=200, elem_id="mix_picture")
            mix_btn = gr.Button(T("ui.run_mix"), variant="primary", elem_id="mix_run")
            mix_btn.click(
                stylize_image,
                [mix_in, mix_person, mix_bg_style, mix_face, mix_bg, mix_colour, mix_picture, mix_variation],
                mix_out,
                api_name="stylize_image",
            )
            _examples(
                [
                    [
                        str(EXAMPLES / "astronaut.jpg"),
                        default,
                        "",
                        "",
                        "image",
                        "#7fb2ff",
                        str(EXAMPLES / "rocket_background.jpg"),
                        "dusk",
                    ]
                ],
                [mix_in, mix_person, mix_bg_style, mix_face, mix_bg, mix_colour, mix_picture, mix_variation],
                ["photo", "person", "background style", "face", "background", "colour", "picture", "variation"],
            )
        with gr.Tab(T("ui.tab_models"), id="models"):
            gr.Markdown(models_markdown(settings))
    return demo


def main() -> None:
    from animefy.app.rest import create_rest_app

    settings = Settings.from_env()
    demo = build_demo(settings)
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=1)
    demo.launch(
        server_name=settings.server_name,
        show_error=True,
        max_file_size=f"{settings.max_upload_mb}mb",
        i18n=T,
        prevent_thread_lock=True,
    )
    demo.app.mount("/api/v1", create_rest_app(settings))
    print("REST API: /api/v1 (docs at /api/v1/docs)")
    demo.block_thread()
