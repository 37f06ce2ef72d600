"""Gradio app: a thin layer over animefy.pipeline / animefy.video_pipeline. Every failure is
shown as a message (gr.Error), never a traceback, and the server keeps serving."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

try:  # ZeroGPU: `spaces` must be imported before anything that initialises CUDA.
    import spaces  # type: ignore

    gpu = spaces.GPU
except ImportError:  # off Spaces: run unchanged on CPU

    def gpu(fn=None, **_kw):  # noqa: ANN001, ANN202
        return fn if fn is not None else (lambda f: f)


import gradio as gr

from .catalog import ORIGINAL, load_catalog
from .errors import AnimefyError
from .hub import availability
from .settings import Settings

OUTPUT_DIR = Path(os.environ.get("ANIMEFY_OUTPUT_DIR", tempfile.gettempdir())) / "animefy_outputs"


def _out_path(suffix: str) -> Path:
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    return OUTPUT_DIR / f"animefy_{uuid.uuid4().hex[:12]}{suffix}"


def style_choices(settings: Settings) -> list[tuple[str, str]]:
    catalog = load_catalog(settings)
    choices = []
    for name in catalog.styles():
        spec = catalog.get(name)
        status = availability(spec, settings)
        mark = "" if status != "missing" else " (not downloaded)"
        choices.append((spec.label() + mark, name))
    return choices


def models_markdown(settings: Settings) -> str:
    catalog = load_catalog(settings)
    lines = ["| model | role | licence | status |", "|---|---|---|---|"]
    for name, spec in catalog.models.items():
        status = availability(spec, settings)
        shown = "built in" if status == "built-in" else ("missing" if status == "missing" else "available")
        lines.append(f"| {spec.display} (`{name}`) | {spec.role} | {spec.licence} | {shown} |")
    lines.append("")
    lines.append(
        "Missing models download from the Hugging Face Hub on first use. Offline, put the files in a "
        "folder and set `ANIMEFY_MODELS_DIR` to it; the built-in **Cel shading** style always works."
    )
    return "\n".join(lines)


def _options(person, background_style, face_style, background, colour, picture):  # noqa: ANN001, ANN202
    from .pipeline import StyleOptions, background_fields

    given = {"color": colour or "#ffffff", "image": picture or "image"}.get(background, background)
    return StyleOptions(
        person_style=person,
        background_style=background_style or None,
        face_style=face_style or None,
        **background_fields(given),
    )


@gpu(duration=60)
def stylize_image_endpoint(
    image: str,
    person_style: str,
    background_style: str = "",
    face_style: str = "",
    background: str = "keep",
    colour: str = "#ffffff",
    picture: str | None = None,
    progress=gr.Progress(),
) -> str:  # noqa: ANN001, B008
    """Stylize a photo. Returns the path of a PNG (RGBA when background='transparent')."""
    from .images import save_png
    from .pipeline import stylize_image

    if not image:
        raise gr.Error("Upload a photo first.")
    try:
        progress(0.1, desc="splitting and stylizing")
        result = stylize_image(
            image, options=_options(person_style, background_style, face_style, background, colour, picture)
        )
        progress(0.95, desc="saving")
        for message in result.messages:
            gr.Info(message)
        return str(save_png(_out_path(".png"), result.rgb, result.alpha))
    except AnimefyError as exc:
        raise gr.Error(str(exc)) from exc


@gpu(duration=300)
def stylize_video_endpoint(
    video: str,
    person_style: str,
    background_style: str = "",
    strength: float = 0.9,
    hold: int = 1,
    transparent: bool = False,
    progress=gr.Progress(),
) -> str:  # noqa: ANN001, B008
    """Stylize a clip. Returns an MP4 (WebM with alpha when transparent)."""
    from .temporal import TemporalOptions
    from .video_pipeline import stylize_video

    if not video:
        raise gr.Error("Upload a video first.")
    try:
        options = _options(person_style, background_style, "", "transparent" if transparent else "keep", "", None)
        out = _out_path(".webm" if transparent else ".mp4")
        result = stylize_video(
            video,
            out,
            options,
            TemporalOptions(strength=float(strength), hold=int(hold)),
            progress=lambda done, total: progress((done, total), desc="frames", unit="frames"),
        )
        for message in result.messages:
            gr.Info(message)
        gr.Info(f"Temporal supervisor: {result.report.summary()}")
        return str(result.path)
    except AnimefyError as exc:
        raise gr.Error(str(exc)) from exc


BACKGROUND_CHOICES = [
    ("keep (stylized)", "keep"),
    ("transparent", "transparent"),
    ("solid colour", "color"),
    ("picture", "image"),
]


def build_demo(settings: Settings | None = None) -> gr.Blocks:
    from .models import default_style

    settings = settings or Settings.from_env()
    styles = style_choices(settings)
    default = default_style(settings=settings)
    with_original = [("Original (keep as photographed)", ORIGINAL), *styles]
    same = [("Same as person", ""), *with_original]
    with gr.Blocks(title="animefy") as demo:
        gr.Markdown("# animefy\nTurn photos and videos of people into anime, region by region.")
        with gr.Tab("Image"):
            with gr.Row():
                img_in = gr.Image(type="filepath", label="Photo", sources=["upload", "clipboard"])
                img_out = gr.Image(type="filepath", format="png", image_mode="RGBA", label="Anime")
            with gr.Row():
                img_person = gr.Dropdown(styles, value=default, label="Style")
                img_bg = gr.Radio(BACKGROUND_CHOICES[:2], value="keep", label="Background")
            img_btn = gr.Button("Animefy", variant="primary")
            img_btn.click(
                lambda image, style, bg: stylize_image_endpoint(image, style, "", "", bg),
                [img_in, img_person, img_bg],
                img_out,
                api_name="stylize_image_simple",
            )
        with gr.Tab("Video"):
            with gr.Row():
                vid_in = gr.Video(label="Clip")
                vid_out = gr.Video(label="Anime clip")
            with gr.Row():
                vid_person = gr.Dropdown(styles, value=default, label="Person style")
                vid_bg = gr.Dropdown(same, value="", label="Background style")
            with gr.Row():
                vid_strength = gr.Slider(0, 1, value=0.9, step=0.05, label="Flicker suppression strength")
                vid_hold = gr.Radio(
                    [("every frame", 1), ("on twos", 2), ("on threes", 3)], value=1, label="Anime timing"
                )
                vid_transparent = gr.Checkbox(False, label="Transparent background (WebM with alpha)")
            vid_btn = gr.Button("Animefy video", variant="primary")
            vid_btn.click(
                stylize_video_endpoint,
                [vid_in, vid_person, vid_bg, vid_strength, vid_hold, vid_transparent],
                vid_out,
                api_name="stylize_video",
            )
        with gr.Tab("Background mix-and-match"):
            with gr.Row():
                mix_in = gr.Image(type="filepath", label="Photo")
                mix_out = gr.Image(type="filepath", format="png", image_mode="RGBA", label="Result")
            with gr.Row():
                mix_person = gr.Dropdown(with_original, value=default, label="Person style")
                mix_face = gr.Dropdown(same, value="", label="Face style")
                mix_bg_style = gr.Dropdown(same, value="", label="Background style")
            with gr.Row():
                mix_bg = gr.Radio(BACKGROUND_CHOICES, value="keep", label="Background")
                mix_colour = gr.ColorPicker("#7fb2ff", label="Colour")
                mix_picture = gr.Image(type="filepath", label="Background picture")
            mix_btn = gr.Button("Mix", variant="primary")
            mix_btn.click(
                stylize_image_endpoint,
                [mix_in, mix_person, mix_bg_style, mix_face, mix_bg, mix_colour, mix_picture],
                mix_out,
                api_name="stylize_image",
            )
        with gr.Tab("Models"):
            gr.Markdown(models_markdown(settings))
    return demo


def main() -> None:
    demo = build_demo()
    demo.queue(max_size=int(os.environ.get("ANIMEFY_QUEUE_SIZE", "16")))
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), show_error=True)
