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
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from PIL import Image

from animefy.app import looks as looks_mod
from animefy.app.runs import CheckedTimings, Runs, Stopped
from animefy.app.service import render_image, render_video
from animefy.app.ui_text import EN, ZH, duration, library_message, say
from animefy.app.zerogpu import gpu
from animefy.errors import AnimefyError, ModelLoadError, ModelUnavailableError, UnknownNameError
from animefy.models.catalog import ORIGINAL, Catalog, load_catalog
from animefy.schema import VARIATIONS, ImageRequest, VideoRequest, field_info
from animefy.settings import Settings
from animefy.video.words import plain_words

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
#image_out img, #video_out.transparent video, #image_looks img, #mix_full img {
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
#mix_grid .fixed-height { min-height: 0 !important; max-height: none !important; }  /* every cell shows */
#mix_grid .grid-container {
  grid-template-columns: repeat(var(--grid-cols), minmax(0, 1fr)); grid-template-rows: none; grid-auto-rows: auto;
  grid-auto-flow: row; overflow: visible;
}
#models_table ul { padding-left: 1.1em; }
#image_on_choice:not(:has(.block)), #video_on_choice:not(:has(.block)) { display: none; }
#video_status.running { min-height: 120px; }  /* room for the progress bar next to the button */
#video_status .progress-text { display: none; }  /* the bar says frame and time left */
#api_help_text { overflow-x: auto; }
@media (max-width: 640px) {
  .gradio-container { padding-left: 8px !important; padding-right: 8px !important; }
  #image_looks .grid-container { --grid-cols: 3 !important; }
}
"""

# Gradio hides its "Use via API" footer link under 640 px, though its panel works there: shown
# on a phone too. (In the page's <head>: launch(css=) is scoped to the blocks, not the footer.)
HEAD = """<style>@media (max-width: 640px) {
  footer .show-api, footer .show-api-divider { display: flex !important; }
}</style>"""

# Before a run: close old error messages, show where the result will appear.
SCROLL_JS = """() => {
  document.querySelectorAll('.toast-body.error .toast-close').forEach(b => b.click());
  setTimeout(() => document.getElementById('%s')?.scrollIntoView({behavior: 'smooth', block: 'nearest'}), 300);
}"""

# Gradio's own upload checks (a file over the size limit, a wrong file type) speak in MIME
# types, English only; `spaces` tells a ZeroGPU visitor in English that it waits for a GPU;
# Gradio titles its toasts with the untranslated message type ("Error", "Info"). All are put
# in plain words here, in Chinese for a Chinese browser, as gr.I18n picks the language
# (navigator.language). Messages from the server are translated on the server.
TOAST_JS = """() => {
  const zh = (navigator.language || '').toLowerCase().startsWith('zh');
  const words = {Error: '出错了', Info: '提示', Warning: '注意', Success: '完成', 'ZeroGPU queue': 'GPU 排队'};
  const kinds = t => t.split(',').map(k => k.trim()).map(k => k.startsWith('image/') ? (zh ? '图片' : 'a picture') :
    k.startsWith('video/') ? (zh ? '视频' : 'a video') : k).filter((k, i, all) => all.indexOf(k) === i)
    .join(zh ? '、' : ' or ');
  const mb = bytes => `${Math.round(bytes / 1048576)} MB`;
  const messages = [  // [pattern, Chinese, English]
    [/^File\\(s\\) exceed the maximum allowed size of (.+?): (.+)$/s,
     m => `文件太大，超过了上传上限（${m[1].replace('Mb', 'MB')}）：${m[2]}。请先压缩或剪短再上传。`,
     m => `This file is too big: the upload limit is ${m[1].replace('Mb', 'MB')} (${m[2]}). Make it smaller or shorter first.`],
    [/^File size exceeded maximum allowed size of (\\d+) bytes\\.?$/,
     m => `文件太大，超过了上传上限（${mb(m[1])}）。请先压缩或剪短再上传。`,
     m => `This file is too big: the upload limit is ${mb(m[1])}. Make it smaller or shorter first.`],
    [/^Invalid file types?: (.+)\\. Only (.+) allowed\\.$/s,
     m => `文件类型不对：${m[1].replace(/ and (\\d+) more$/, ' 等 $1 个')}。这里只能上传${kinds(m[2])}。`,
     m => `This file cannot be used here: ${m[1]}. Upload ${kinds(m[2])}.`],
    [/^This application is currently busy\\. Please try again\\.?$/, () => '现在排队的人太多了，请稍后再试。', null],
    [/^Connection errored out\\.?$/, () => '与服务器的连接中断了。请检查网络，然后重试。', null],
    [/^Waiting for a GPU to become available$/, () => '正在等待空闲的 GPU…', null],
    [/^Waiting for a GPU slot on this Space$/, () => '正在等待本 Space 的 GPU 空位…', null],
  ];
  const fix = () => {
    if (zh) document.querySelectorAll('.toast-title').forEach(el => {
      for (const node of el.childNodes) {
        const word = words[node.textContent.trim()];
        if (node.nodeType === 3 && word) node.textContent = word + ' ';
      }
    });
    document.querySelectorAll('.toast-message-text').forEach(el => {
      const text = el.textContent.trim();
      for (const [pattern, inChinese, inEnglish] of messages) {
        const m = text.match(pattern), say = zh ? inChinese : inEnglish;
        if (m && say) { el.textContent = say(m); break; }
      }
    });
  };
  new MutationObserver(fix).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""

STATUS: dict[str, str] = {}  # a finished clip's report in plain words, by result file name, until the page shows it
RUNS = Runs()  # the page's runs in progress, per browser session: Stop and a closed page end them
# Photos and videos wait in separate queues (Gradio's concurrency ids), so a photo never waits
# behind a clip; each run uses every core, so one of each at a time.
PHOTO_QUEUE, VIDEO_QUEUE = "photo", "video"


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


def _plain_licence(spec, zh: bool) -> str:
    """For a catalog entry without `terms`: its licence in a few words."""
    if spec.commercial:
        return f"可商用（{spec.licence}）" if zh else f"commercial use allowed ({spec.licence})"
    return "仅限非商业用途" if zh else "non-commercial use only"


def models_markdown(settings: Settings, lang: str = "en") -> str:
    """The Models tab: what is ready, what downloads on first use, what this server lacks;
    role and licence in plain words, in one language."""
    from animefy.models.hub import availability
    from animefy.models.runtime import engine_info

    zh = lang == "zh"
    catalog = load_catalog(settings)
    groups: dict[str, list[str]] = {"ready": [], "later": [], "missing": []}
    for spec in catalog.models.values():
        status = availability(spec, settings)
        role = ROLE_NAMES[lang].get(spec.role, spec.role)
        terms = (spec.terms_zh if zh else spec.terms) or _plain_licence(spec, zh)
        line = f"- **{_label(spec, lang)}** · {role} · {terms}"
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
def _example(component: gr.components.Component, name: str) -> None:
    """The API panel's example for a file input: a file of the repository's examples/ folder,
    by its relative path (the panel's snippet runs as shown from the repository folder, with no
    download from elsewhere)."""
    path = f"examples/{name}"
    component.example_payload = lambda: {"path": path, "url": path, "meta": {"_type": "gradio.FileData"}}


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
    _example(image, "rocket_background.jpg" if "picture" in str(kw.get("elem_id", "")) else "astronaut.jpg")
    return image


def _colour(value: str | None) -> str:
    """Gradio's colour picker may answer 'rgba(r, g, b, a)'; the schema takes #RRGGBB."""
    if value and value.startswith("rgb"):
        r, g, b = (round(float(v)) for v in value[value.index("(") + 1 : -1].split(",")[:3])
        return f"#{r:02x}{g:02x}{b:02x}"
    return value or "#ffffff"


def _request(cls: type[ImageRequest], names: list[str], values: tuple) -> ImageRequest:
    given = {n: v for n, v in zip(names, values, strict=True) if v is not None}
    for n, v in given.items():  # the API panel shows a choice of numbers as text ("2"): both are taken
        if field_info(cls, n)["type"] is int and isinstance(v, str) and v.strip().isdigit():
            given[n] = int(v)
    if "background_colour" in given:
        given["background_colour"] = _colour(given["background_colour"])
    if given.get("background") != "image":
        given.pop("background_position", None)  # irrelevant, and kept out of look matching
    return cls(**given)


def event_gone() -> Callable[[], bool] | None:
    """For a handler running in Gradio's queue: a test whether its event is still a live job
    (False once the client disconnected, which Gradio marks, or cancelled, which ends the job).
    None outside the queue or if this Gradio keeps its queue differently."""
    from gradio.context import LocalContext

    blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)
    if event_id is None or not isinstance(getattr(queue, "active_jobs", None), list):
        return None

    def gone() -> bool:
        live = [job for jobs in list(queue.active_jobs) if jobs for job in list(jobs)]
        return not any(getattr(job, "_id", None) == event_id and getattr(job, "alive", True) for job in live)

    return gone


def rate_check(limiter, request: gr.Request | None, settings: Settings, lang: str) -> None:
    """Count a call against the REST API's limiter (one budget per client for both); refuse it
    with the wait when the client is over the limit."""
    if limiter is None or request is None:
        return
    from animefy.app.rest import client_address

    wait = limiter.retry_after(client_address(request, settings.trusted_proxies))
    if wait:
        log.warning("Gradio call refused: rate limit (%d a minute)", limiter.per_minute)
        raise gr.Error(say(lang, "rate_limited", per_minute=limiter.per_minute, wait=wait), print_exception=False)


def guarded(request: gr.Request | None, settings: Settings, work: Callable[[Callable | None], object]):
    """Run `work(check)` as a run of the browser's session (Stop, a closed page and a client
    that went away end it at its next `check`); failures become messages in plain words."""
    lang = lang_of(request)
    session = getattr(request, "session_hash", None) or ""
    try:
        with RUNS.start(session, event_gone()) as current:
            return work(None if settings.on_zerogpu else current.check)  # no callable crosses ZeroGPU's process
    except AnimefyError as exc:
        raise _refuse(exc, lang, settings) from None
    except gr.Error as exc:
        if not str(getattr(exc, "title", "")).startswith("ZeroGPU"):
            raise
        log.warning("ZeroGPU refused a call: %s", exc.message)
        raise gr.Error(gpu_message(exc, lang), print_exception=False) from None
    except Stopped:
        return None
    except Exception:
        log.exception("request failed")
        raise gr.Error(say(lang, "failed"), print_exception=False) from None


def gpu_message(exc: gr.Error, lang: str) -> str:
    """A ZeroGPU refusal (`spaces` raises gr.Error in English, some with links meant for API
    callers) in plain words in `lang`: quota used up, no GPU free, a call too long."""
    text = f"{getattr(exc, 'title', '')} {exc.message}"
    if "illegal duration" in text or "larger than the maximum allowed" in text:
        return say(lang, "gpu_too_long")
    if "No GPU was available" in text:
        return say(lang, "gpu_busy")
    if any(word in text for word in ("quota", "limit", "credits")):
        return say(lang, "gpu_quota")
    return say(lang, "gpu_failed")


def endpoint(media: list[str], cls: type[ImageRequest], names: list[str], run: Callable,
             settings: Settings, limiter=None) -> Callable:  # fmt: skip
    """A Gradio handler whose parameters are the `media` inputs, then the schema fields `names`
    with the schema's defaults, then an optional picture: gradio_client sees the schema's names.
    The browser's request (for its language and session) and a progress tracker are added by
    Gradio. Every call counts against `limiter` (the REST API's RateLimiter)."""

    def handler(*values):
        request = next((v for v in values if isinstance(v, gr.Request)), None)
        progress = next((v for v in values if isinstance(v, gr.Progress)), None)
        values = tuple(v for v in values if not isinstance(v, gr.Request | gr.Progress))
        lang = lang_of(request)
        rate_check(limiter, request, settings, lang)
        inputs, fields = values[: len(media)], values[len(media) : len(media) + len(names)]
        extra = values[len(media) + len(names) :]
        if not inputs[0]:
            raise gr.Error(say(lang, "upload_photo" if media[0] == "image" else "upload_clip"), print_exception=False)
        return guarded(request, settings, lambda check: run(*inputs, _request(cls, names, fields), *extra,
                                                            progress=progress, lang=lang, check=check))  # fmt: skip

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


STAGE_WORDS = {"decode": "stage_read", "load models": "stage_load", "matte": "stage_person", "faces": "stage_faces",
               "stylize": "stage_draw", "face pass": "stage_face_pass", "variation": "stage_variation",
               "upscale": "stage_upscale"}  # fmt: skip


class PhotoClock:
    """Photo progress with an estimate: the seconds per megapixel of the photos this server
    drew last (none before the first), and the stage in plain words."""

    def __init__(self) -> None:
        self.rate: float | None = None  # seconds per megapixel, smoothed

    def tracker(self, image: str, progress, lang: str) -> Callable[[str], None]:
        start, megapixels = time.monotonic(), 1.0
        try:
            with Image.open(image) as im:
                megapixels = max(0.05, im.width * im.height / 1e6)
        except Exception:  # noqa: BLE001 - the pipeline refuses an unreadable file with its own message
            pass
        expected = self.rate * megapixels if self.rate else None

        def on_stage(name: str) -> None:
            key = STAGE_WORDS.get(name.split(" ")[0] if name.startswith(("stylize", "variation", "upscale")) else name)
            if progress is None or key is None:
                return
            elapsed = time.monotonic() - start
            words = say(lang, key)
            if expected:
                left = max(1.0, expected - elapsed)
                progress(min(0.95, elapsed / expected), desc=say(lang, "progress_photo_eta", stage=words,
                                                                 left=duration(left, lang)))  # fmt: skip
            else:
                progress(None, desc=say(lang, "progress_photo_first", stage=words))

        def done() -> None:
            rate = (time.monotonic() - start) / megapixels
            self.rate = rate if self.rate is None else 0.5 * self.rate + 0.5 * rate

        on_stage.done = done  # type: ignore[attr-defined]
        return on_stage


def _go_on() -> None:
    """The check of a run nobody can stop."""


def _image_runner(settings: Settings, looks: list) -> Callable:
    clock = PhotoClock()

    @gpu(duration=60)
    def run(
        image: str, request: ImageRequest, picture: str | None = None, progress=None, lang: str = "en", check=None
    ) -> str:
        on_stage = clock.tracker(image, progress, lang)
        png, messages = render_image(image, request, picture, settings, CheckedTimings(check or _go_on, on_stage))
        on_stage.done()
        for message in messages:
            gr.Info(library_message(message, lang))
        looks_mod.remember(settings, looks, image, request, picture, png)
        return png

    return run


def _video_runner(settings: Settings) -> Callable:
    # not a GPU function: on ZeroGPU render_video makes one GPU call per chunk (animefy/app/zerogpu.py)
    def run(
        video: str, request: VideoRequest, picture: str | None = None, progress=None, lang: str = "en", check=None
    ) -> str:
        start = time.monotonic()

        def report(done: int, total: int) -> None:
            if check is not None:
                check()
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
        for message in result.messages:
            gr.Info(library_message(message, lang))
        plain = " ".join(library_message(line, lang) for line in plain_words(result.report))
        STATUS[Path(result.path).name] = f"{plain}\n\n<details><summary>{say(lang, 'details')}</summary>\n\n" \
                                   f"{video_summary(result, lang)[0]}\n</details>"  # fmt: skip
        while len(STATUS) > 256:  # a page that never showed its result
            STATUS.pop(next(iter(STATUS)))
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
    if f["type"] is float and f["le"] is None:  # a number of seconds (max_seconds)
        return gr.Number(value, minimum=f["ge"], step=0.1, label=label, **kw)
    if f["type"] is float:
        return gr.Slider(f["ge"], f["le"], value=value, step=0.05, label=label, **kw)
    if f["choices"]:
        numbers = f["type"] is int  # offered as text ("2", as the API panel shows them); 2 is taken too
        choices = [(_choice_label(name, c), str(c) if numbers else c) for c in f["choices"]]
        widget = (gr.Radio if len(choices) <= 4 else gr.Dropdown)(choices, value=str(value) if numbers else value,
                                                                  label=label, **kw)  # fmt: skip
        if numbers:
            plain = widget.preprocess
            widget.preprocess = lambda payload: plain(None if payload is None else str(payload))
        return widget
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
BUSY = {"value": T("ui.working"), "interactive": False}


def stop(request: gr.Request):
    """Stop: this page's runs end at their next stage or frame; the queue drops the event."""
    if RUNS.stop(getattr(request, "session_hash", None) or ""):
        log.info("a run was stopped from the page")
    gr.Info(say(lang_of(request), "stopped"))


def closed(request: gr.Request):
    """The page was closed or reloaded (Gradio's heartbeat ended): its runs stop."""
    if RUNS.stop(getattr(request, "session_hash", None) or ""):
        log.info("a run was stopped: its page was closed")


@dataclass
class Page:
    """What the tabs share: settings, the style choices, the looks, the REST API's limiter."""

    settings: Settings
    styles: list
    default: str
    looks: list
    limiter: object = None

    def gallery(self, lang: str) -> list[tuple[str, str]]:
        return [(str(looks_mod.example_result(lk, self.settings) or lk.photo), lk.name(lang)) for lk in self.looks]

    def first_pair(self) -> tuple[str, str] | None:
        first = self.looks[0]
        result = looks_mod.example_result(first, self.settings)
        return (str(first.photo), str(result)) if result else None


def photo_tab(page: Page) -> tuple[gr.Gallery, gr.ImageSlider]:
    settings, looks = page.settings, page.looks
    run_image = _image_runner(settings, looks)
    stylize_image = endpoint(["image"], ImageRequest, IMAGE_FIELDS, run_image, settings, page.limiter)
    quick = endpoint(["image"], ImageRequest, ["person_style", "background"], run_image, settings, page.limiter)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            img_in = photo_input(label=T("ui.photo"), elem_id="image_in", height=300)
            with gr.Row():  # the button right under the photo: in the first screen on a desktop and a phone
                img_btn = gr.Button(T("ui.run_image"), variant="primary", elem_id="image_run", scale=3)
                img_stop = gr.Button(T("ui.stop"), variant="stop", elem_id="image_stop", visible=False, scale=1)
            look_gallery = gr.Gallery(page.gallery("en"), label=T("ui.looks"), columns=5, rows=1, height="auto",
                                      allow_preview=False, object_fit="cover", elem_id="image_looks",
                                      selected_index=0, buttons=[])  # fmt: skip
            img_controls, img_picture = _controls(ImageRequest, IMAGE_FIELDS, page.styles, page.default, "image",
                                                  _look_values(looks[0]))  # fmt: skip
        with gr.Column(scale=1, min_width=300):
            img_slider = gr.ImageSlider(page.first_pair(), type="filepath", label=T("ui.before_after"),
                                        interactive=False, elem_id="image_out", max_height=640)  # fmt: skip
            img_png = gr.Image(type="filepath", format="png", image_mode="RGBA", visible=False, elem_id="image_png")

    def idle():
        return gr.update(value=T("ui.run_image"), interactive=True), gr.update(visible=False)

    start = img_btn.click(lambda: (gr.update(**BUSY), gr.update(visible=True)), None, [img_btn, img_stop],
                          queue=False, api_visibility="private", js=SCROLL_JS % "image_out")  # fmt: skip
    ran = start.then(stylize_image, [img_in, *img_controls, img_picture], img_png, api_name="stylize_image",
                     show_progress_on=[img_slider], concurrency_id=PHOTO_QUEUE)  # fmt: skip

    def finish(before: str | None, after: str | None):
        pair = (_same_size(before, after, settings), after) if before and after else None
        return pair, *idle()

    ran.success(finish, [img_in, img_png], [img_slider, img_btn, img_stop], api_visibility="private", queue=False)
    ran.failure(idle, None, [img_btn, img_stop], queue=False, api_visibility="private")
    img_stop.click(stop, None, None, cancels=[ran], api_visibility="private", concurrency_limit=None).then(
        idle, None, [img_btn, img_stop], queue=False, api_visibility="private")  # fmt: skip
    # The quick endpoint for API clients: a style and a background.
    quick_btn = gr.Button(visible=False)
    quick_bg = gr.Radio(["keep", "transparent"], value="keep", visible=False)  # a picture needs /stylize_image
    quick_btn.click(quick, [img_in, img_controls[IMAGE_FIELDS.index("person_style")], quick_bg], img_png,
                    api_name="animefy", concurrency_id=PHOTO_QUEUE,
                    api_description="Quick photo: a person style and a background (keep | transparent); "
                                    "/stylize_image has every option.")  # fmt: skip

    def apply_look(photo: str | None, evt: gr.SelectData):
        look = looks[evt.index]
        values = _look_values(look)
        updates = [gr.update(value=values[n]) for n in IMAGE_FIELDS]
        picture = gr.update(value=str(look.picture)) if look.picture else gr.update()
        if photo and Path(photo).name not in {lk.photo.name for lk in looks}:  # the visitor's own photo stays
            return [gr.update(), *updates, picture, gr.update()]
        result = looks_mod.example_result(look, settings)
        pair = (str(look.photo), str(result)) if result else None
        return [gr.update(value=str(look.photo)), *updates, picture, pair]

    look_gallery.select(apply_look, [img_in], [img_in, *img_controls, img_picture, img_slider],
                        api_visibility="private", queue=False)  # fmt: skip
    return look_gallery, img_slider


def video_plan(video: str | None, request: VideoRequest, settings: Settings, lang: str) -> tuple[str, float | None]:
    """On a ZeroGPU Space, before a clip starts: how many GPU seconds it takes and whether that
    fits an anonymous or a free visitor's daily quota, in `lang`, and the seconds of its start
    that fit without an account when all of it does not (else None). ('', None) elsewhere."""
    from animefy.app.zerogpu import gpu_plan, video_plan_text

    text = video_plan_text(video, request, settings)
    if not text:
        return "", None
    plan = gpu_plan(video, request, settings)
    keep = None if plan.fits("anonymous") else plan.seconds_that_fit("anonymous")
    return library_message(text, lang), keep if keep else None


def plan_handler(settings: Settings) -> Callable:
    """The page's handler for video_plan: (clip, the video controls' values, request) ->
    the plan's text, the trim button (shown with the seconds that fit), those seconds."""

    def show_plan(video, *values):
        request = next((v for v in values if isinstance(v, gr.Request)), None)
        values = tuple(v for v in values if not isinstance(v, gr.Request))
        lang = lang_of(request)
        try:
            text, keep = video_plan(video, _request(VideoRequest, VIDEO_FIELDS, values), settings, lang)
        except AnimefyError:  # a choice the run itself refuses with its own message
            text, keep = "", None
        trim = gr.update(visible=keep is not None, value=say(lang, "trim_to", seconds=f"{keep:g}") if keep else None)
        return gr.update(value=text, visible=bool(text)), trim, keep

    P = inspect.Parameter
    params = [P("video", P.POSITIONAL_OR_KEYWORD), *(P(n, P.POSITIONAL_OR_KEYWORD) for n in VIDEO_FIELDS)]
    params.append(P("request", P.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request))
    show_plan.__signature__ = inspect.Signature(params)
    show_plan.__annotations__ = {"request": gr.Request}
    return show_plan


def video_tab(page: Page) -> None:
    stylize_video = endpoint(["video"], VideoRequest, VIDEO_FIELDS, _video_runner(page.settings), page.settings,
                             page.limiter)  # fmt: skip
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            vid_in = gr.Video(label=T("ui.clip"), elem_id="video_in", height=320, sources=["upload"])
            _example(vid_in, "astronaut_pan.mp4")
            with gr.Row():
                vid_btn = gr.Button(T("ui.run_video"), variant="primary", elem_id="video_run", scale=3)
                stop_btn = gr.Button(T("ui.stop"), variant="stop", elem_id="video_stop", visible=False, scale=1)
            vid_status = gr.Markdown("", elem_id="video_status")
            vid_plan = gr.Markdown("", elem_id="video_plan", visible=False)  # ZeroGPU: GPU seconds and quotas
            vid_trim = gr.Button(visible=False, elem_id="video_trim", size="sm")
            vid_keep = gr.State(None)
            vid_controls, vid_picture = _controls(VideoRequest, VIDEO_FIELDS, page.styles, page.default, "video")
        with gr.Column(scale=1, min_width=300):
            vid_out = gr.Video(label=T("ui.anime_clip"), elem_id="video_out", height=320, interactive=False)
            vid_zip = gr.File(label=T("ui.download"), visible=False, elem_id="video_zip")
            vid_file = gr.File(visible=False, elem_id="video_file")
    gr.Examples([[str(EXAMPLES / "astronaut_pan.mp4")]], [vid_in], label=T("ui.examples"))
    if page.settings.on_zerogpu:  # before a clip starts: its GPU seconds, the daily quotas, a trim that fits
        show_plan = plan_handler(page.settings)
        for trigger in (vid_in, *vid_controls):
            trigger.change(show_plan, [vid_in, *vid_controls], [vid_plan, vid_trim, vid_keep], queue=False,
                           api_visibility="private", show_progress="hidden")  # fmt: skip
        vid_trim.click(lambda keep: keep, vid_keep, vid_controls[VIDEO_FIELDS.index("max_seconds")], queue=False,
                       api_visibility="private")  # fmt: skip

    def begin():
        return gr.update(**BUSY), gr.update(visible=True), gr.update(value="", elem_classes=["running"])

    def idle():
        return (
            gr.update(value=T("ui.run_video"), interactive=True),
            gr.update(visible=False),
            gr.update(elem_classes=[]),
        )

    start = vid_btn.click(begin, None, [vid_btn, stop_btn, vid_status], queue=False, api_visibility="private",
                          js=SCROLL_JS % "video_status")  # fmt: skip
    ran = start.then(stylize_video, [vid_in, *vid_controls, vid_picture], vid_file, api_name="stylize_video",
                     show_progress_on=[vid_status, vid_out], concurrency_id=VIDEO_QUEUE)  # fmt: skip

    def show_video(path: str | None, request: gr.Request):
        """The result, and what happened in plain words in the status area under the button."""
        status = gr.update(value=STATUS.pop(Path(path).name if path else "", ""), elem_classes=["done"])
        if path and path.endswith(".zip"):
            gr.Info(say(lang_of(request), "zip_result"))
            return None, gr.update(value=path, visible=True), *idle()[:2], status
        opaque = not (path or "").endswith(".webm")  # no checkerboard under an opaque clip
        video = gr.update(value=path, elem_classes=[] if opaque else ["transparent"])
        return video, gr.update(value=None, visible=False), *idle()[:2], status

    ran.success(show_video, vid_file, [vid_out, vid_zip, vid_btn, stop_btn, vid_status], api_visibility="private",
                queue=False)  # fmt: skip
    ran.failure(idle, None, [vid_btn, stop_btn, vid_status], api_visibility="private", queue=False)
    stop_btn.click(stop, None, None, cancels=[ran], api_visibility="private", concurrency_limit=None).then(
        idle, None, [vid_btn, stop_btn, vid_status], queue=False, api_visibility="private")  # fmt: skip


def _column_label(col, settings: Settings, lang: str) -> str:
    catalog = load_catalog(settings)
    table = ZH if lang == "zh" else EN
    if col.kind == "transparent":
        return table["choice.background.transparent"]
    if col.kind == "image":
        return say(lang, "mix_picture")
    name = (
        say(lang, "mix_photo_background") if col.style == ORIGINAL else looks_mod.short_name(catalog, col.style, lang)
    )
    return name if col.variation == "none" else f"{name} · {table[f'choice.background_variation.{col.variation}']}"


def _mix_runner(settings: Settings) -> Callable:
    from animefy.app.mixing import render_mix

    @gpu(duration=120)
    def run(image: str, people: list[str], backgrounds: list[str], variations: list[str], picture: str | None,
            progress=None, lang: str = "en", check=None):  # fmt: skip
        if progress is not None:
            progress(None, desc=say(lang, "mix_working"))
        files = render_mix(image, people, backgrounds, variations, picture, settings, CheckedTimings(check or _go_on))
        catalog, result = load_catalog(settings), files.result
        names = [(looks_mod.short_name(catalog, p, lang) if p != ORIGINAL else say(lang, "mix_photo_person"))
                 for p in people]  # fmt: skip
        captions = [say(lang, "mix_cell", person=n, background=_column_label(c, settings, lang))
                    for n in names for c in result.columns]  # fmt: skip
        note = say(lang, "mix_done", rows=len(result.people), cols=len(result.columns),
                   cells=len(result.people) * len(result.columns), passes=result.passes,
                   naive=result.naive_passes)  # fmt: skip
        for message in result.messages:
            gr.Info(library_message(message, lang))
        return list(zip(files.previews, captions, strict=True)), list(zip(files.cells, captions, strict=True)), note

    return run


def mix_tab(page: Page) -> None:
    """One photo, person styles (rows) x backgrounds (columns), previews side by side; a
    preview clicked shows the full-size picture with its download."""
    settings = page.settings
    run_mix = _mix_runner(settings)
    names = [v for _, v in page.styles]
    look = page.looks[0].values  # the first look's styles, and a second person style for contrast
    people_now = list(dict.fromkeys([look.get("person_style") or page.default,
                                     *[n for n in looks_mod.FACE_STYLES + tuple(names) if n in names]]))[:2]  # fmt: skip
    painted = look.get("background_style") if look.get("background_style") in names else names[-1]

    def handler(image: str | None, person_styles: list[str], backgrounds: list[str], variations: list[str],
                picture: str | None = None, request: gr.Request = None, progress=gr.Progress()):  # fmt: skip
        """Mix and match: every person style with every background, each painted once.

        Args:
            image: the photo (a file).
            person_styles: style names for the person, one row each (see /api/v1/styles); 'original' keeps the person as photographed.
            backgrounds: one column each: a style name (the photo's background painted in it), 'original' (as photographed) or 'transparent'.
            variations: times of day / seasons (day, dusk, night, spring, summer, autumn, winter), one column each, on the first painted background.
            picture: a background picture of your own (a file): adds a column with it behind the person.
        Returns:
            the previews (small, with captions), the full-size pictures (same order, row by row), and what it cost in plain words.
        """
        lang = lang_of(request)
        rate_check(page.limiter, request, settings, lang)
        if not image:
            raise gr.Error(say(lang, "upload_photo"), print_exception=False)
        out = guarded(request, settings, lambda check: run_mix(image, list(person_styles or []),
                      list(backgrounds or []), list(variations or []), picture, progress=progress, lang=lang,
                      check=check))  # fmt: skip
        return out if out is not None else (gr.update(), gr.update(), gr.update())

    gr.Markdown(T("ui.mix_intro"), elem_id="mix_intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            mix_in = photo_input(label=T("ui.photo"), elem_id="mix_in", height=240)
            with gr.Row():
                mix_btn = gr.Button(T("ui.run_mix"), variant="primary", elem_id="mix_run", scale=3)
                mix_stop = gr.Button(T("ui.stop"), variant="stop", elem_id="mix_stop", visible=False, scale=1)
            picture = photo_input(label=T("ui.mix_picture"), elem_id="mix_picture", height=140,
                                  sources=["upload", "clipboard"])  # fmt: skip
        with gr.Column(scale=2, min_width=300):
            note = gr.Markdown("", elem_id="mix_note")
            grid = gr.Gallery(label=T("ui.mix_grid"), columns=4, height="auto", allow_preview=False,
                              object_fit="contain", elem_id="mix_grid", buttons=[])  # fmt: skip
            full = gr.Gallery(visible=False, elem_id="mix_cells")
            chosen = gr.Image(label=T("ui.mix_full"), type="filepath", format="png", image_mode="RGBA",
                              interactive=False, elem_id="mix_full", visible=False)  # fmt: skip
            people = gr.CheckboxGroup(page.styles + [(T("style.original"), ORIGINAL)], label=T("ui.mix_people"),
                                      value=people_now, elem_id="mix_people")  # fmt: skip
            bg_choices = page.styles + [(T("ui.mix_photo_background"), ORIGINAL),
                                        (T("choice.background.transparent"), "transparent")]  # fmt: skip
            backgrounds = gr.CheckboxGroup(bg_choices, label=T("ui.mix_backgrounds"), elem_id="mix_backgrounds",
                                           value=[painted, ORIGINAL, "transparent"])  # fmt: skip
            variations = gr.CheckboxGroup([(T(f"choice.background_variation.{v}"), v) for v in VARIATIONS[1:]],
                                          label=T("ui.mix_variations"), value=["night"], elem_id="mix_variations")  # fmt: skip

    def idle():
        return gr.update(value=T("ui.run_mix"), interactive=True), gr.update(visible=False)

    start = mix_btn.click(lambda: (gr.update(**BUSY), gr.update(visible=True)), None, [mix_btn, mix_stop],
                          queue=False, api_visibility="private", js=SCROLL_JS % "mix_note")  # fmt: skip
    ran = start.then(handler, [mix_in, people, backgrounds, variations, picture], [grid, full, note], api_name="mix",
                     show_progress_on=[note, grid], concurrency_id=PHOTO_QUEUE)  # fmt: skip

    def done(backgrounds_now, variations_now, photo_pic):
        cols = len(backgrounds_now or []) + len(variations_now or []) + (1 if photo_pic else 0)
        return (gr.update(columns=max(1, min(cols, 8))), gr.update(value=None, visible=False), *idle())

    ran.success(done, [backgrounds, variations, picture], [grid, chosen, mix_btn, mix_stop],
                api_visibility="private", queue=False)  # fmt: skip
    ran.failure(idle, None, [mix_btn, mix_stop], api_visibility="private", queue=False)
    mix_stop.click(stop, None, None, cancels=[ran], api_visibility="private", concurrency_limit=None).then(
        idle, None, [mix_btn, mix_stop], queue=False, api_visibility="private")  # fmt: skip

    def show_cell(cells, evt: gr.SelectData):
        item = (cells or [])[evt.index]
        path = item[0] if isinstance(item, list | tuple) else getattr(item, "image", item)
        return gr.update(value=getattr(path, "path", path), visible=True, label=item[1] if isinstance(item, list | tuple)
                         else None)  # fmt: skip

    grid.select(show_cell, [full], [chosen], api_visibility="private", queue=False)


API_PARAMS = {
    "image": "the photo, a file (PNG, JPEG, WebP, ...)",
    "video": "the clip, a file (MP4, MOV, WebM, AVI)",
    "picture": "a background picture, a file, with background='image'",
    "person_styles": "style names for the person, one row each; 'original' keeps the person as photographed",
    "backgrounds": "one column each: a style name (the photo's background painted in it), 'original' or 'transparent'",
    "variations": "times of day / seasons, one column each, on the first painted background",
}
API_RETURNS = {
    "/stylize_image": ["the result, a PNG file (RGBA when the background is transparent)"],
    "/animefy": ["the result, a PNG file (RGBA when the background is transparent)"],
    "/stylize_video": ["the result: an MP4 (WebM or a zip of PNGs when transparent)"],
    "/mix": ["the previews (small), with captions", "the full-size pictures, row by row, with captions",
             "what it cost, in plain words"],
}  # fmt: skip


API_PARAMS_ZH = {
    "image": "照片，一个文件（PNG、JPEG、WebP 等）",
    "video": "视频，一个文件（MP4、MOV、WebM、AVI）",
    "picture": "背景图片，一个文件（配合 `background='image'`）",
    "person_styles": "人物风格名称的列表，每个一行；`'original'` 表示人物保持原样",
    "backgrounds": "背景的列表，每个一列：风格名称（用它绘制照片的背景）、`'original'`（原样）或 `'transparent'`（透明）",
    "variations": "时间 / 季节的列表（`day`、`dusk`、`night`、`spring`、`summer`、`autumn`、`winter`），每个一列，用在第一个绘制的背景上",
}
API_RETURNS_ZH = {
    "/stylize_image": ["结果，一个 PNG 文件（透明背景时为 RGBA）"],
    "/animefy": ["结果，一个 PNG 文件（透明背景时为 RGBA）"],
    "/stylize_video": ["结果：MP4 视频（透明背景时为 WebM 或 PNG 压缩包）"],
    "/mix": ["预览（小图，带说明）", "原尺寸图片，逐行排列，带说明", "用文字说明的运行成本"],
}
API_WHAT = {  # what each named endpoint does, (English, Chinese)
    "/stylize_image": ("A photo, with every option of the Photo tab.", "处理一张照片，可用“照片”页的全部选项。"),
    "/animefy": ("A photo, quickly: a person style and a background (keep or transparent).",
                 "快速处理照片：一种人物风格，背景保留（`keep`）或透明（`transparent`）。"),
    "/stylize_video": ("A clip, with every option of the Video tab.", "处理一段视频，可用“视频”页的全部选项。"),
    "/mix": ("Mix & match: person styles (rows) x backgrounds (columns).", "混搭：人物风格（行）x 背景（列）。"),
}  # fmt: skip
API_INTRO = {
    "en": "Everything on this page can be called from a program (Python's `gradio_client`, or any language that "
    "speaks HTTP).\n\n- **Use via API** at the very bottom of the page opens Gradio's own API panel (in English), "
    "with a snippet that runs as shown for each endpoint; it opens on a phone too.\n- The REST API for mobile apps "
    "is at `/api/v1`: [its documentation](api/v1/docs) · [OpenAPI](api/v1/openapi.json) · "
    "[styles](api/v1/styles).\n\nThe page's endpoints and their parameters:",
    "zh": "本页面的每个功能都可以用程序调用（Python 的 `gradio_client`，或任何能发 HTTP 请求的语言）。\n\n"
    "- 页面最下方的“通过 API 使用”打开 Gradio 自带的接口说明（英文），每个端点都有可以直接运行的示例代码；手机上也能打开。\n"
    "- 给手机应用等使用的 REST 接口在 `/api/v1`：[接口文档](api/v1/docs) · [`openapi.json`](api/v1/openapi.json) · "
    "[风格列表](api/v1/styles)。\n\n本页面的端点和参数（参数名和取值保持英文）：",
}


def _param_words(endpoint_name: str, name: str, lang: str) -> str:
    """One API parameter in words, in `lang`: its meaning, its values, its default."""
    zh, table = lang == "zh", ZH if lang == "zh" else EN
    cls = next((c for c in (VideoRequest, ImageRequest) if name in c.model_fields), None)
    if cls is None:
        return (API_PARAMS_ZH if zh else API_PARAMS).get(name, "")
    f = field_info(cls, name)
    words = table.get(f"field.{name}") if zh else f["help"]
    choices = ("keep", "transparent") if endpoint_name == "/animefy" and name == "background" else f["choices"]
    if name.endswith("_style"):
        same = "`''` 表示默认风格" if name == "person_style" else "`''` 表示与人物相同，`'original'` 表示原样"
        words += f"：风格名称，见“模型”页或 `/api/v1/styles`；{same}" if zh else " (a style name: see /api/v1/styles)"
    elif name.endswith("_colour") and zh:
        words += "：`#RRGGBB` 格式，配合 `background='color'`"
    elif choices:
        shown = [f"`{c}` {table[f'choice.{name}.{c}']}" if f"choice.{name}.{c}" in table else f"`{c}`" for c in choices]
        words += ("：" if zh else ": ") + ("、" if zh else ", ").join(shown)
    default = f["default"]
    return words + (f"；默认 `{default!r}`" if zh else f"; default `{default!r}`")


def api_help(demo: gr.Blocks, lang: str, style: str) -> str:
    """The page's own API help in `lang` (Gradio's API panel is English only): every named
    endpoint, each parameter in words, what it returns, and where the full docs are."""
    zh = lang == "zh"
    parts = [API_INTRO[lang]]
    for name, info in (demo.get_api_info() or {}).get("named_endpoints", {}).items():
        parts += ["", f"**`{name}`**: {API_WHAT.get(name, ('', ''))[zh]}" if not zh else
                  f"**`{name}`**：{API_WHAT.get(name, ('', ''))[zh]}"]  # fmt: skip
        parts += [f"- `{p['parameter_name']}`{'：' if zh else ': '}{_param_words(name, p['parameter_name'], lang)}"
                  for p in info["parameters"]]  # fmt: skip
        results = (API_RETURNS_ZH if zh else API_RETURNS).get(name, [])
        parts.append(("- 返回：" if zh else "- Returns: ") + ("；" if zh else "; ").join(results))
    comment = "# 本页面的地址" if zh else "# this page's address"
    parts += ["", "```python", "from gradio_client import Client, handle_file", "",
              f'client = Client("http://127.0.0.1:7860/")  {comment}',
              f'result = client.predict(handle_file("photo.jpg"), person_style="{style}", background="transparent",',
              '                         api_name="/animefy")', "print(result)", "```"]  # fmt: skip
    return "\n".join(parts)


def api_in_words(demo: gr.Blocks) -> None:
    """The API panel and view_api in plain English: each parameter named by its meaning (the
    schema's help text), each result described (Gradio would show translation keys and
    'value_27')."""
    plain = demo.get_api_info

    def info():
        data = plain()
        for name, endpoint_info in (data or {}).get("named_endpoints", {}).items():
            for p in endpoint_info["parameters"]:
                n = p["parameter_name"]
                schema = next(
                    (field_info(c, n)["help"] for c in (VideoRequest, ImageRequest) if n in c.model_fields), ""
                )
                p["label"] = f"'{n}'"
                p["python_type"]["description"] = API_PARAMS.get(n) or schema
            for i, r in enumerate(endpoint_info["returns"]):
                r["label"] = f"result {i + 1}" if len(endpoint_info["returns"]) > 1 else "result"
                r["python_type"]["description"] = (API_RETURNS.get(name) or [""] * (i + 1))[i]
        return data

    demo.get_api_info = info


def build_demo(settings: Settings | None = None, limiter=None) -> gr.Blocks:
    """The page. `limiter` (the REST API's RateLimiter) counts the named endpoints' calls."""
    from animefy.models.registry import default_style

    settings = settings or Settings.from_env()
    catalog = load_catalog(settings)
    default = default_style(settings, catalog)
    page = Page(settings, style_choices(settings, catalog), default,
                looks_mod.resolve_looks(settings, default, catalog), limiter)  # fmt: skip
    EN["models.table"], ZH["models.table"] = models_markdown(settings, "en"), models_markdown(settings, "zh")
    with gr.Blocks(title="animefy", delete_cache=(600, settings.result_ttl)) as demo:
        gr.Markdown(T("ui.title"))
        with gr.Tab(T("ui.tab_image"), id="image"):
            look_gallery, img_slider = photo_tab(page)
        with gr.Tab(T("ui.tab_video"), id="video"):
            video_tab(page)
        with gr.Tab(T("ui.tab_mix"), id="mix"):
            mix_tab(page)
        with gr.Tab(T("ui.tab_models"), id="models"):
            models_md = gr.Markdown(T("models.table"), elem_id="models_table")
        with gr.Accordion(T("ui.api_title"), open=False, elem_id="api_help"):  # on a phone too, in both languages
            gr.Markdown(T("api.help"), elem_id="api_help_text")

        def on_load(request: gr.Request):
            lang = lang_of(request)
            return gr.update(value=page.gallery(lang)), page.first_pair(), models_markdown(settings, lang)

        demo.load(on_load, None, [look_gallery, img_slider, models_md], api_visibility="private", queue=False)
        demo.unload(closed)
    api_in_words(demo)
    EN["api.help"], ZH["api.help"] = api_help(demo, "en", default), api_help(demo, "zh", default)
    return demo


def prepare_looks(settings: Settings) -> None:
    """Render the looks' example results whose models are on disk (once; cached)."""
    from animefy.models.registry import default_style

    catalog = load_catalog(settings)
    try:
        looks_mod.prepare(looks_mod.resolve_looks(settings, default_style(settings, catalog), catalog), settings)
    except Exception:
        log.exception("example looks could not be made")
        return
    log.info("example looks ready")


def main() -> None:
    from starlette.middleware import Middleware
    from starlette.routing import Mount

    from animefy.app.rest import create_rest_app
    from animefy.app.service import startup_check
    from animefy.app.storage import Sweeper
    from animefy.app.uploads import UploadOwners

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    startup_check(settings)  # a clear error naming the output folder when it cannot be written
    Sweeper(settings)
    missing = missing_models(settings)
    if missing:
        later = "they download on first use" if not settings.offline else "offline: what needs them is not offered"
        log.info("models not on disk (%s): %s", later, ", ".join(missing))
    rest_app = create_rest_app(settings, for_gradio=True)
    demo = build_demo(settings, limiter=rest_app.state.limiter)
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=1)
    # The REST app is a route of the server from the start: /api/v1 answers once "Running on" is printed.
    launch(demo, settings, routes=[Mount("/api/v1", app=rest_app)], middleware=[Middleware(UploadOwners)])
    print(f"REST API ready at {demo.local_url}api/v1 (docs at /api/v1/docs)", flush=True)
    # The page answers at once; the looks' example results are made once, in the background,
    # and kept on disk (a page opened before they are ready shows the example photos).
    threading.Thread(target=prepare_looks, args=(settings,), name="looks", daemon=True).start()
    demo.block_thread()


def launch(demo: gr.Blocks, settings: Settings, **app_kwargs) -> None:
    """Start the server without blocking. show_error is off: the page's own messages (gr.Error)
    still reach the browser, while Gradio's internal errors, which can name server paths,
    reach only the log."""
    demo.launch(
        server_name=settings.server_name,
        show_error=False,
        max_file_size=f"{settings.max_upload_mb}mb",
        i18n=T,
        css=CSS,
        js=TOAST_JS,
        head=HEAD,
        allowed_paths=[str(settings.output_dir), str(EXAMPLES), str(settings.cache_dir / "looks")],
        app_kwargs=app_kwargs,
        prevent_thread_lock=True,
    )
