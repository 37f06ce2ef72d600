"""Gradio app: a thin layer over animefy.app.service. The controls and the named endpoints'
parameters are generated from the request schema (animefy/schema.py): a field's `ui` group
says where it sits, its `when` says under which choice it appears. Every failure is shown as
a message in the browser's language (gr.Error), never a traceback, and the server keeps
serving. The REST API for mobile clients is mounted at /api/v1 before the server starts, so it
answers as soon as the app does; ZeroGPU's start-up path (demo.launch) is kept."""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable

import gradio as gr
from PIL import Image

from animefy.app import looks as looks_mod
from animefy.app.service import gpu, render_image, render_video
from animefy.app.ui_text import EN, ZH, duration, library_message, say
from animefy.errors import AnimefyError, ModelLoadError, ModelUnavailableError, UnknownNameError
from animefy.models.catalog import ORIGINAL, Catalog, load_catalog
from animefy.schema import ImageRequest, VideoRequest, field_info
from animefy.settings import Settings

log = logging.getLogger(__name__)
T = gr.I18n(en=EN, zh=ZH, **{"zh-CN": ZH})
EXAMPLES = looks_mod.EXAMPLES
IMAGE_FIELDS = [n for n in ImageRequest.model_fields if field_info(ImageRequest, n)["ui"]]
VIDEO_FIELDS = [n for n in VideoRequest.model_fields if field_info(VideoRequest, n)["ui"]]
ROLE_NAMES = {
    "en": {"stylize": "style", "matte": "person cut-out", "face": "face finder", "upscale": "upscaler"},
    "zh": {"stylize": "风格", "matte": "人物抠图", "face": "人脸检测", "upscale": "超分辨率放大"},
}

# A checkerboard behind results shows what is transparent; on phones the columns stack and
# nothing is wider than the screen.
CSS = """
#image_out img, #video_out video, #image_looks img {
  background: conic-gradient(#d4d4d4 25%, #fff 0 50%, #d4d4d4 0 75%, #fff 0) 0 0 / 16px 16px !important;
}
.gradio-container { overflow-x: hidden; }
.gradio-container .secondary-wrap { min-width: 0; }
.gradio-container input[role="combobox"] { padding-right: 2.2rem; text-overflow: ellipsis; min-width: 0; }
#image_looks .fixed-height { min-height: 0 !important; max-height: none !important; }
#image_looks .grid-container {
  grid-template-columns: repeat(var(--grid-cols), minmax(0, 1fr)); grid-template-rows: none; grid-auto-rows: auto;
  padding-top: 30px;
}
#image_looks .thumbnail-item { aspect-ratio: auto; height: auto; display: flex; flex-direction: column; }
#image_looks .thumbnail-item img { aspect-ratio: 1; width: 100%; height: auto; object-fit: cover; }
#image_looks .caption-label {
  position: static; max-width: none; white-space: normal; text-overflow: clip; border: none; border-radius: 0;
  text-align: center; line-height: 1.25; font-size: 12px; padding: 4px 2px; opacity: 1;
}
#models_table ul { padding-left: 1.1em; }
#image_on_choice:not(:has(.block)), #video_on_choice:not(:has(.block)) { display: none; }
#video_status.running { min-height: 120px; }  /* room for the progress bar next to the button */
#video_status .progress-text { display: none; }  /* the bar says frame and time left */
@media (max-width: 640px) {
  .gradio-container { padding-left: 8px !important; padding-right: 8px !important; }
  #image_looks .grid-container { --grid-cols: 3 !important; }
}
"""

# Before a run: close old error messages, show where the result will appear.
SCROLL_JS = """() => {
  document.querySelectorAll('.toast-body.error .toast-close').forEach(b => b.click());
  setTimeout(() => document.getElementById('%s')?.scrollIntoView({behavior: 'smooth', block: 'nearest'}), 300);
}"""

# Gradio titles its toasts with the untranslated message type ("Error", "Info"): translated
# here for a Chinese browser, as gr.I18n picks the language (navigator.language).
TOAST_JS = """() => {
  if (!(navigator.language || '').toLowerCase().startsWith('zh')) return;
  const words = {Error: '出错了', Info: '提示', Warning: '注意', Success: '完成'};
  const fix = () => document.querySelectorAll('.toast-title').forEach(el => {
    for (const node of el.childNodes) {
      const word = words[node.textContent.trim()];
      if (node.nodeType === 3 && word) node.textContent = word + ' ';
    }
  });
  new MutationObserver(fix).observe(document.body, {childList: true, subtree: true});
}"""

CANCELLED: set[str] = set()  # sessions whose video run was stopped
_cancel_lock = threading.Lock()


class Stopped(Exception):
    """The person pressed Stop: the video run ends at the next frame."""


def lang_of(request: gr.Request | None) -> str:
    """'zh' when the browser asks for Chinese first (as gr.I18n picks), else 'en'."""
    headers = getattr(request, "headers", None) or {}
    first = (headers.get("accept-language") or "").split(",")[0].strip().lower()
    return "zh" if first.startswith("zh") else "en"


# -- styles and models ----------------------------------------------------------------------
def _label(spec, lang: str) -> str:
    return spec.display_zh if lang == "zh" and spec.display_zh else spec.display


def style_choices(settings: Settings, catalog: Catalog | None = None) -> list[tuple[gr.I18nData, str]]:
    """The style dropdown's choices, labels translated: styles on disk (and built in) first,
    then, when online, those that download on first use, marked so. Styles this server cannot
    get are listed only in the Models tab."""
    from animefy.models.hub import find_cached

    catalog = catalog or load_catalog(settings)
    ready, later = [], []
    for name in catalog.styles():
        spec = catalog.get(name)
        EN[f"style.{name}"], ZH[f"style.{name}"] = _label(spec, "en"), _label(spec, "zh")
        if spec.builtin or find_cached(spec, settings) is not None:
            ready.append((T(f"style.{name}"), name))
        elif spec.sources and not settings.offline:
            EN[f"style.{name}.later"] = EN["style.later"].format(name=_label(spec, "en"))
            ZH[f"style.{name}.later"] = ZH["style.later"].format(name=_label(spec, "zh"))
            later.append((T(f"style.{name}.later"), name))
    return ready + later


def models_markdown(settings: Settings, lang: str = "en") -> str:
    """The Models tab: what is ready, what downloads on first use, what this server lacks;
    role and licence in plain words, in one language."""
    from animefy.models.hub import availability
    from animefy.models.runtime import engine_info

    zh = lang == "zh"
    catalog = load_catalog(settings)
    groups: dict[str, list[str]] = {"ready": [], "later": [], "missing": []}
    for name, spec in catalog.models.items():
        status = availability(spec, settings)
        role = ROLE_NAMES[lang].get(spec.role, spec.role)
        if spec.builtin:
            licence = "内置，可商用" if zh else "built in, free to use"
        elif spec.commercial:
            licence = f"可商用（{spec.licence.split(' (')[0]}）" if zh else f"commercial use allowed ({spec.licence})"
        else:
            licence = "仅限非商业用途" if zh else "non-commercial use only"
        line = f"- **{_label(spec, lang)}** · {role} · {licence} · `{name}`"
        if status != "missing":
            groups["ready"].append(line)
        elif spec.sources and not settings.offline:
            groups["later"].append(line)
        else:
            groups["missing"].append(line)
    titles = {
        "ready": "### 已就绪" if zh else "### Ready",
        "later": "### 首次使用时下载" if zh else "### Downloads on first use",
        "missing": "### 本服务器没有" if zh else "### Not on this server",
    }
    parts = [EN["ui.models_intro"] if not zh else ZH["ui.models_intro"], "", f"`{engine_info(settings)}`"]
    for key, lines in groups.items():
        if lines:
            parts += ["", titles[key], *lines]
    if zh:
        parts += ["", "<small>运行本应用的人：把缺少的模型文件放进 ANIMEFY_MODELS_DIR 指定的文件夹，或在联网时运行 "
                  "`python -m animefy download 名称`；`python -m animefy models` 会列出文件名。</small>"]  # fmt: skip
    else:
        parts += ["", "<small>For whoever runs this app: put missing model files in the folder named by "
                  "ANIMEFY_MODELS_DIR, or run `python -m animefy download NAME` with internet access; "
                  "`python -m animefy models` lists the file names.</small>"]  # fmt: skip
    return "\n".join(parts)


def missing_models(settings: Settings) -> list[str]:
    from animefy.models.hub import availability

    catalog = load_catalog(settings)
    return [n for n, s in catalog.models.items() if availability(s, settings) == "missing"]


# -- errors and messages --------------------------------------------------------------------
def friendly(exc: AnimefyError, lang: str, settings: Settings) -> str:
    """What the person sees for a refused request: plain words, no server paths or commands."""
    if isinstance(exc, ModelUnavailableError | ModelLoadError):
        name = getattr(exc, "model", None) or ""
        try:
            spec = load_catalog(settings).get(name) if name else None
        except AnimefyError:
            spec = None
        shown = _label(spec, lang) if spec else name
        if isinstance(exc, ModelLoadError):
            return say(lang, "model_damaged", name=shown)
        role = spec.role if spec else ""
        key = {"stylize": "style_unavailable", "matte": "matte_unavailable", "face": "face_unavailable"}
        return say(lang, key.get(role, "model_unavailable"), name=shown)
    if isinstance(exc, UnknownNameError):
        return library_message(str(exc), lang)
    return library_message(str(exc), lang)


def _refuse(exc: AnimefyError, lang: str, settings: Settings) -> gr.Error:
    log.warning("request refused (%s): %s", exc.code, exc)  # one line; the person gets plain words
    return gr.Error(friendly(exc, lang, settings), print_exception=False)


def video_summary(result, lang: str) -> list[str]:
    """The temporal report in plain words."""
    report, o = result.report, result.report.options
    lines = [say(lang, "video_done", frames=result.frames)]
    if o.hold > 1:
        lines.append(say(lang, "on_twos", word=say(lang, "twos" if o.hold == 2 else "threes"),
                         drawings=report.drawings))  # fmt: skip
    lines.append(say(lang, "flicker", strength=o.strength) if o.deflicker and o.strength > 0
                 else say(lang, "flicker_off"))  # fmt: skip
    if o.repair_glitches:
        boxes = list(report.glitch_boxes)
        if boxes:
            shown = ", ".join(str(i) for i in boxes[:8]) + (" …" if len(boxes) > 8 else "")
            lines.append(say(lang, "glitches", count=len(boxes), frames=shown))
        else:
            lines.append(say(lang, "glitches_none"))
    reuse = getattr(result, "reuse", None)
    if reuse is not None:
        lines += reuse_summary(reuse, lang)
    return [" ".join(lines)]


def reuse_summary(reuse, lang: str) -> list[str]:
    """What was painted and what carried (a ReuseReport) in plain words."""
    if not reuse.options.enabled:
        return [say(lang, "reuse_off")]
    lines = []
    if reuse.scene_drawings:
        keyframes = len(reuse.keyframes)
        lines.append(say(lang, "reuse_scene", keyframes=keyframes, carried=reuse.scene_drawings - keyframes,
                         area=reuse.scene_area / reuse.scene_drawings))  # fmt: skip
    if reuse.person_drawings:
        lines.append(say(lang, "reuse_person", area=reuse.person_area / reuse.person_drawings))
    lines.append(say(lang, "reuse_passes", passes=reuse.passes_per_frame()))
    return lines


# -- inputs ---------------------------------------------------------------------------------
def photo_input(**kw) -> gr.Image:
    """A gr.Image (file path) that hands an unreadable upload to animefy, which refuses it with
    the same message as the CLI, instead of failing in Gradio's preprocessing with a raw
    UnidentifiedImageError and Gradio's temporary paths. (A subclass would make Gradio write
    a .pyi stub into the package, so the instance's preprocess is wrapped.)"""
    image = gr.Image(type="filepath", **kw)
    plain = image.preprocess

    def preprocess(payload):
        try:
            return plain(payload)
        except gr.Error:
            raise
        except Exception:  # noqa: BLE001 - PIL raises several types for a file that is no picture
            return str(payload.path) if payload is not None and payload.path else None

    image.preprocess = preprocess
    return image


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
    if given.get("background") != "image":
        given.pop("background_position", None)  # irrelevant, and kept out of look matching
    return cls(**given)


def endpoint(media: list[str], cls: type[ImageRequest], names: list[str], run: Callable,
             settings: Settings) -> Callable:  # fmt: skip
    """A Gradio handler whose parameters are the `media` inputs, then the schema fields `names`
    with the schema's defaults, then an optional picture: gradio_client sees the schema's names.
    The browser's request (for its language) and a progress tracker are added by Gradio."""

    def handler(*values):
        request = next((v for v in values if isinstance(v, gr.Request)), None)
        progress = next((v for v in values if isinstance(v, gr.Progress)), None)
        values = tuple(v for v in values if not isinstance(v, gr.Request | gr.Progress))
        lang = lang_of(request)
        inputs, fields = values[: len(media)], values[len(media) : len(media) + len(names)]
        extra = values[len(media) + len(names) :]
        if not inputs[0]:
            raise gr.Error(say(lang, "upload_photo" if media[0] == "image" else "upload_clip"), print_exception=False)
        job = getattr(request, "session_hash", None) or ""
        try:
            return run(*inputs, _request(cls, names, fields), *extra, progress=progress, lang=lang, job=job)
        except AnimefyError as exc:
            raise _refuse(exc, lang, settings) from None
        except Stopped:
            return None
        except Exception:
            log.exception("request failed")
            raise gr.Error(say(lang, "failed"), print_exception=False) from None

    P = inspect.Parameter
    params = [P(m, P.POSITIONAL_OR_KEYWORD, annotation=str) for m in media]
    params += [P(n, P.POSITIONAL_OR_KEYWORD, default=field_info(cls, n)["default"]) for n in names]
    params += [P("picture", P.POSITIONAL_OR_KEYWORD, default=None, annotation=str | None)]
    params += [P("request", P.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)]
    params += [P("progress", P.POSITIONAL_OR_KEYWORD, default=gr.Progress())]
    handler.__signature__ = inspect.Signature(params)
    handler.__annotations__ = {p.name: p.annotation for p in params if p.annotation is not P.empty}
    handler.__doc__ = f"Stylize {media[0]}; fields as in the request schema ({cls.__name__})."
    return handler


def _image_runner(settings: Settings, looks: list) -> Callable:
    @gpu(duration=60)
    def run(
        image: str,
        request: ImageRequest,
        picture: str | None = None,
        progress=None,
        lang: str = "en",
        job: str = "",  # noqa: ARG001 - the shared handler passes it; a photo is too quick to cancel
    ) -> str:
        if progress is not None:
            progress(0.1, desc=say(lang, "progress_photo"))
        png, messages = render_image(image, request, picture, settings)
        for message in messages:
            gr.Info(library_message(message, lang))
        looks_mod.remember(settings, looks, image, request, picture, png)
        return png

    return run


def _video_runner(settings: Settings) -> Callable:
    # not a GPU function: on ZeroGPU render_video makes one GPU call per chunk (animefy/app/zerogpu.py)
    def run(
        video: str, request: VideoRequest, picture: str | None = None, progress=None, lang: str = "en", job: str = ""
    ) -> str:
        with _cancel_lock:
            CANCELLED.discard(job)
        start = time.monotonic()

        def report(done: int, total: int) -> None:
            if job and job in CANCELLED:
                with _cancel_lock:
                    CANCELLED.discard(job)
                raise Stopped
            if progress is None:
                return
            elapsed = time.monotonic() - start
            if 0 < done < total and elapsed > 2:
                desc = say(lang, "progress_video_eta", done=done, total=total,
                           left=duration(elapsed / done * (total - done), lang))  # fmt: skip
            else:
                desc = say(lang, "progress_video", done=done, total=total)
            progress((done, total), desc=desc, unit=say(lang, "frames"))

        if progress is not None:
            progress(0.0, desc=say(lang, "starting"))
        result = render_video(video, request, settings, picture, report)
        for message in [*result.messages, *video_summary(result, lang)]:
            gr.Info(library_message(message, lang) if message in result.messages else message)
        return str(result.path)

    return run


# -- controls -------------------------------------------------------------------------------
def _label_key(name: str) -> gr.I18nData | str:
    return T(f"field.{name}") if f"field.{name}" in EN else name.replace("_", " ")


def _choice_label(name: str, value: object) -> gr.I18nData | str:
    key = f"choice.{name}.{value}"
    return T(key) if key in EN else str(value)


def control(
    cls: type[ImageRequest], name: str, styles: list[tuple], default_style: str, value: object = None, **kw
) -> gr.Component:
    """The Gradio control for one schema field (choices, default, range and label from it)."""
    f = field_info(cls, name)
    label = _label_key(name)
    value = f["default"] if value is None else value
    if name.endswith("_style"):
        extra = [] if name == "person_style" else [(T("style.same"), ""), (T("style.original"), ORIGINAL)]
        if name == "person_style" and not value:
            value = default_style
        known = {v for _, v in [*extra, *styles]}
        return gr.Dropdown([*extra, *styles], value=value if value in known else default_style, label=label, **kw)
    if name.endswith("_colour"):
        return gr.ColorPicker(value, label=label, **kw)
    if f["type"] is bool:
        return gr.Checkbox(value, label=label, **kw)
    if f["type"] is float:
        return gr.Slider(f["ge"], f["le"], value=value, step=0.05, label=label, **kw)
    if f["choices"]:
        choices = [(_choice_label(name, c), c) for c in f["choices"]]
        widget = gr.Radio if len(choices) <= 4 else gr.Dropdown
        return widget(choices, value=value, label=label, **kw)
    return gr.Textbox(value, label=label, **kw)


def _shown(cls: type[ImageRequest], name: str, values: dict) -> bool:
    """Whether a field matters under the other fields' `values` (its schema `when`)."""
    return all(values.get(k, field_info(cls, k)["default"]) in allowed for k, allowed in
               field_info(cls, name)["when"].items())  # fmt: skip


PICTURE_WHEN = {"background": ["image"]}  # the picture upload belongs with background=image


def _controls(cls: type[ImageRequest], names: list[str], styles: list[tuple], default: str, prefix: str,
              values: dict | None = None) -> tuple[list[gr.Component], gr.Image]:  # fmt: skip
    """The controls of `names`: main ones first, then those that appear only after a choice
    (a colour for a solid background, the picture and where it sits for a picture), then the
    rest in "More options". Returns them in `names` order, and the picture upload."""
    values = dict(values or {})
    infos = {n: field_info(cls, n) for n in names}
    made: dict[str, gr.Component] = {}

    def make(n: str) -> None:
        wide = infos[n]["choices"] and len(infos[n]["choices"]) <= 4  # a row of radio buttons
        made[n] = control(cls, n, styles, default, values.get(n), elem_id=f"{prefix}_{n}",
                          min_width=320 if wide else 200, visible=_shown(cls, n, values))  # fmt: skip

    def hidden_by_default(n: str) -> bool:
        return bool(infos[n]["when"]) and not _shown(cls, n, {})

    main = [n for n in names if infos[n]["ui"] == "main"]
    on_choice = [n for n in names if infos[n]["ui"] == "advanced" and hidden_by_default(n)]
    colours = [n for n in on_choice if n.endswith("_colour")]
    with gr.Row():
        for n in main:
            make(n)
    with gr.Column(elem_id=f"{prefix}_on_choice"):
        for n in colours:
            make(n)
        picture = photo_input(label=T("ui.picture"), height=180, elem_id=f"{prefix}_picture",
                             visible=values.get("background") == "image", sources=["upload", "clipboard"])  # fmt: skip
        for n in on_choice:
            if n not in colours:
                make(n)
    with gr.Accordion(T("ui.advanced"), open=False, elem_id=f"{prefix}_more"), gr.Row():
        for n in [n for n in names if n not in made]:
            make(n)
    controllers = sorted({k for n in names for k in infos[n]["when"]} | set(PICTURE_WHEN))
    dependents = [n for n in names if infos[n]["when"]]

    def visibility(*current):
        now = dict(zip(controllers, current, strict=True))
        shown = [gr.update(visible=_shown(cls, n, now)) for n in dependents]
        return [*shown, gr.update(visible=all(now.get(k) in v for k, v in PICTURE_WHEN.items()))]

    for c in controllers:
        made[c].change(visibility, [made[c] for c in controllers], [*(made[n] for n in dependents), picture],
                       queue=False, api_visibility="private", show_progress="hidden")  # fmt: skip
    return [made[n] for n in names], picture


def _look_values(look: looks_mod.Look) -> dict:
    return {n: look.values.get(n, field_info(ImageRequest, n)["default"]) for n in IMAGE_FIELDS}


def _same_size(before: str, after: str, settings: Settings) -> str:
    """The photo at the result's size, so the before/after slider lines them up."""
    from animefy.app.service import new_output

    with Image.open(after) as a, Image.open(before) as b:
        if a.size == b.size:
            return before
        path = new_output(settings, ".png")
        b.convert("RGB").resize(a.size, Image.Resampling.LANCZOS).save(path)
        return str(path)


# -- the page -------------------------------------------------------------------------------
def build_demo(settings: Settings | None = None) -> gr.Blocks:
    from animefy.models.registry import default_style

    settings = settings or Settings.from_env()
    catalog = load_catalog(settings)
    styles = style_choices(settings, catalog)
    default = default_style(settings, catalog)
    looks = looks_mod.resolve_looks(settings, default, catalog)
    first = looks[0]
    run_image, run_video = _image_runner(settings, looks), _video_runner(settings)
    stylize_image = endpoint(["image"], ImageRequest, IMAGE_FIELDS, run_image, settings)
    stylize_video = endpoint(["video"], VideoRequest, VIDEO_FIELDS, run_video, settings)
    quick = endpoint(["image"], ImageRequest, ["person_style", "background"], run_image, settings)
    EN["models.table"], ZH["models.table"] = models_markdown(settings, "en"), models_markdown(settings, "zh")

    def gallery(lang: str) -> list[tuple[str, str]]:
        return [(str(looks_mod.example_result(lk, settings) or lk.photo), lk.name(lang)) for lk in looks]

    def first_pair() -> tuple[str, str] | None:
        result = looks_mod.example_result(first, settings)
        return (str(first.photo), str(result)) if result else None

    busy = {"value": T("ui.working"), "interactive": False}
    with gr.Blocks(title="animefy", delete_cache=(600, settings.result_ttl)) as demo:
        gr.Markdown(T("ui.title"))
        with gr.Tab(T("ui.tab_image"), id="image"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=1, min_width=300):
                    img_in = photo_input(label=T("ui.photo"), elem_id="image_in", height=300)
                    look_gallery = gr.Gallery(gallery("en"), label=T("ui.looks"), columns=5, rows=1, height="auto",
                                              allow_preview=False, object_fit="cover", elem_id="image_looks",
                                              selected_index=0, buttons=[])  # fmt: skip
                    img_controls, img_picture = _controls(ImageRequest, IMAGE_FIELDS, styles, default, "image",
                                                          _look_values(first))  # fmt: skip
                    img_btn = gr.Button(T("ui.run_image"), variant="primary", elem_id="image_run")
                with gr.Column(scale=1, min_width=300):
                    img_slider = gr.ImageSlider(first_pair(), type="filepath", label=T("ui.before_after"),
                                                interactive=False, elem_id="image_out", max_height=640)  # fmt: skip
                    img_png = gr.Image(type="filepath", format="png", image_mode="RGBA", visible=False,
                                       elem_id="image_png")  # fmt: skip
            img_inputs = [img_in, *img_controls, img_picture]
            start = img_btn.click(lambda: gr.update(**busy), None, img_btn, queue=False, api_visibility="private",
                                  js=SCROLL_JS % "image_out")  # fmt: skip
            ran = start.then(stylize_image, img_inputs, img_png, api_name="stylize_image",
                             show_progress_on=[img_slider])  # fmt: skip

            def finish(before: str | None, after: str | None):
                pair = (_same_size(before, after, settings), after) if before and after else None
                return pair, gr.update(value=T("ui.run_image"), interactive=True)

            ran.success(finish, [img_in, img_png], [img_slider, img_btn], api_visibility="private", queue=False)
            ran.failure(lambda: gr.update(value=T("ui.run_image"), interactive=True), None, img_btn, queue=False,
                        api_visibility="private")  # fmt: skip
            # The quick endpoint for API clients: a style and a background.
            quick_btn = gr.Button(visible=False)
            quick_btn.click(quick, [img_in, img_controls[IMAGE_FIELDS.index("person_style")],
                                    img_controls[IMAGE_FIELDS.index("background")]], img_png, api_name="animefy",
                            api_description="Quick photo: a person style and a background (keep | transparent | "
                                            "color | image).")  # fmt: skip

            def apply_look(photo: str | None, evt: gr.SelectData):
                look = looks[evt.index]
                values = _look_values(look)
                updates = [gr.update(value=values[n]) for n in IMAGE_FIELDS]
                picture = gr.update(value=str(look.picture)) if look.picture else gr.update()
                if photo:
                    return [gr.update(), *updates, picture, gr.update()]
                result = looks_mod.example_result(look, settings)
                pair = (str(look.photo), str(result)) if result else None
                return [gr.update(value=str(look.photo)), *updates, picture, pair]

            look_gallery.select(apply_look, [img_in], [img_in, *img_controls, img_picture, img_slider],
                                api_visibility="private", queue=False)  # fmt: skip

        with gr.Tab(T("ui.tab_video"), id="video"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=1, min_width=300):
                    vid_in = gr.Video(label=T("ui.clip"), elem_id="video_in", height=320, sources=["upload"])
                    vid_controls, vid_picture = _controls(VideoRequest, VIDEO_FIELDS, styles, default, "video")
                    with gr.Row():
                        vid_btn = gr.Button(T("ui.run_video"), variant="primary", elem_id="video_run", scale=3)
                        stop_btn = gr.Button(T("ui.stop"), variant="stop", elem_id="video_stop", visible=False,
                                             scale=1)  # fmt: skip
                    vid_status = gr.Markdown("", elem_id="video_status")
                with gr.Column(scale=1, min_width=300):
                    vid_out = gr.Video(label=T("ui.anime_clip"), elem_id="video_out", height=320, interactive=False)
                    vid_zip = gr.File(label=T("ui.download"), visible=False, elem_id="video_zip")
                    vid_file = gr.File(visible=False, elem_id="video_file")
            gr.Examples([[str(EXAMPLES / "astronaut_pan.mp4")]], [vid_in], label=T("ui.examples"))

            def begin():
                return gr.update(**busy), gr.update(visible=True), gr.update(elem_classes=["running"])

            def idle():
                return (gr.update(value=T("ui.run_video"), interactive=True), gr.update(visible=False),
                        gr.update(elem_classes=[]))  # fmt: skip

            start = vid_btn.click(begin, None, [vid_btn, stop_btn, vid_status], queue=False, api_visibility="private",
                                  js=SCROLL_JS % "video_status")  # fmt: skip
            ran = start.then(stylize_video, [vid_in, *vid_controls, vid_picture], vid_file, api_name="stylize_video",
                             show_progress_on=[vid_status, vid_out])  # fmt: skip

            def show_video(path: str | None, request: gr.Request):
                if path and path.endswith(".zip"):
                    gr.Info(say(lang_of(request), "zip_result"))
                    return None, gr.update(value=path, visible=True), *idle()
                return path, gr.update(value=None, visible=False), *idle()

            ran.success(show_video, vid_file, [vid_out, vid_zip, vid_btn, stop_btn, vid_status],
                        api_visibility="private", queue=False)  # fmt: skip
            ran.failure(idle, None, [vid_btn, stop_btn, vid_status], api_visibility="private", queue=False)

            def stop(request: gr.Request):
                with _cancel_lock:
                    CANCELLED.add(getattr(request, "session_hash", None) or "")
                gr.Info(say(lang_of(request), "stopped"))
                return idle()

            stop_btn.click(stop, None, [vid_btn, stop_btn, vid_status], cancels=[ran], api_visibility="private")

        with gr.Tab(T("ui.tab_models"), id="models"):
            models_md = gr.Markdown(T("models.table"), elem_id="models_table")

        def on_load(request: gr.Request):
            lang = lang_of(request)
            return gr.update(value=gallery(lang)), first_pair(), models_markdown(settings, lang)

        demo.load(on_load, None, [look_gallery, img_slider, models_md], api_visibility="private", queue=False)
    return demo


def prepare_looks(settings: Settings) -> None:
    """Render the looks' example results whose models are on disk (once; cached)."""
    from animefy.models.registry import default_style

    catalog = load_catalog(settings)
    looks_mod.prepare(looks_mod.resolve_looks(settings, default_style(settings, catalog), catalog), settings)


def main() -> None:
    from starlette.routing import Mount

    from animefy.app.rest import create_rest_app
    from animefy.app.storage import Sweeper

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    Sweeper(settings)
    missing = missing_models(settings)
    if missing:
        later = "they download on first use" if not settings.offline else "offline: what needs them is not offered"
        log.info("models not on disk (%s): %s", later, ", ".join(missing))
    prepare_looks(settings)
    demo = build_demo(settings)
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=1)
    # The REST app is a route of the server from the start: /api/v1 answers once "Running on" is printed.
    rest = Mount("/api/v1", app=create_rest_app(settings))
    demo.launch(
        server_name=settings.server_name,
        show_error=True,
        max_file_size=f"{settings.max_upload_mb}mb",
        i18n=T,
        css=CSS,
        js=TOAST_JS,
        allowed_paths=[str(settings.output_dir), str(EXAMPLES), str(settings.cache_dir / "looks")],
        app_kwargs={"routes": [rest]},
        prevent_thread_lock=True,
    )
    print(f"REST API ready at {demo.local_url}api/v1 (docs at /api/v1/docs)", flush=True)
    demo.block_thread()
