"""The page's words for what Gradio and ZeroGPU say in English: the GPU plan of a clip before it
starts on a Space (translated, with a trim that fits), ZeroGPU's refusals in plain words, and
the page's own API help in both languages, covering every named endpoint's parameters."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace

import gradio as gr
import pytest
from test_zerogpu import _tiny_settings

from animefy.app import ui
from animefy.app.ui_text import EN, ZH
from animefy.schema import VideoRequest
from animefy.settings import Settings
from animefy.video.io import ffmpeg_exe

CJK = re.compile(r"[\u4e00-\u9fff]")


def grey_clip(path, seconds: int, size: str = "1280x720"):
    """A plain grey clip: encodes in a moment at any length, costs the GPU plan as much as any."""
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", f"color=c=gray:size={size}:rate=25:duration="
                    f"{seconds}", "-c:v", "libx264", "-preset", "ultrafast", str(path)], check=True)  # fmt: skip
    return str(path)


def Req(lang: str) -> gr.Request:  # the browser's request
    return gr.Request(headers={"accept-language": lang})


@pytest.fixture
def space(tmp_path):
    """Tiny models, with settings.on_zerogpu forced on (the plan is made as a Space makes it)."""
    return replace(_tiny_settings(tmp_path), on_zerogpu=True)


def test_plan_before_a_clip_offers_a_trim_that_fits(space, tmp_path):
    from animefy.app.zerogpu import QUOTAS, gpu_plan

    clip = grey_clip(tmp_path / "c.mp4", 15)
    request = VideoRequest(person_style="inv")
    plan = gpu_plan(clip, request, space)
    assert QUOTAS["anonymous"] < plan.gpu_seconds <= QUOTAS["free"]  # a clip that needs signing in, or a trim
    text, keep = ui.video_plan(clip, request, space, "en")
    assert f"about {plan.gpu_seconds} s of GPU time" in text and "Sign in" in text and f"first {keep:g} s" in text
    zh, keep_zh = ui.video_plan(clip, request, space, "zh")
    assert keep_zh == keep and f"前 {keep:g} 秒" in zh and not re.search(r"[A-Za-z]{3,}", re.sub("(Zero)?GPU", "", zh))
    # the trim is real: the plan of the trimmed request fits without an account, and offers no more trim
    trimmed = VideoRequest(person_style="inv", max_seconds=keep)
    assert gpu_plan(clip, trimmed, space).fits("anonymous")
    text, again = ui.video_plan(clip, trimmed, space, "en")
    assert again is None and "It fits either" in text
    # off a Space: nothing is said
    assert ui.video_plan(clip, request, replace(space, on_zerogpu=False), "en") == ("", None)


def test_plan_handler_shows_the_text_and_the_trim_button(space, tmp_path):
    clip = grey_clip(tmp_path / "c.mp4", 15)
    show = ui.plan_handler(space)
    values = [VideoRequest.model_fields[n].default for n in ui.VIDEO_FIELDS]
    values[ui.VIDEO_FIELDS.index("person_style")] = "inv"
    text, button, keep = show(clip, *values, Req("zh-CN,zh;q=0.9"))
    assert text["visible"] and "GPU 时间" in text["value"]
    assert button["visible"] and button["value"] == f"只保留前 {keep:g} 秒（不登录也够用）"
    values[ui.VIDEO_FIELDS.index("max_seconds")] = keep
    text, button, _ = show(clip, *values, Req("en"))
    assert "fits either" in text["value"] and not button["visible"]
    assert show(None, *values, Req("en"))[0]["visible"] is False  # no clip yet


@pytest.mark.parametrize(
    ("title", "message", "key"),
    [
        ("ZeroGPU quota exceeded", "You have exceeded your free ZeroGPU quota (90s requested vs. 30s left). "
         "Try again in 5:00:00. ", "gpu_quota"),
        ("ZeroGPU quota exceeded", "No GPU was available after 60s. Try re-running outside of examples", "gpu_busy"),
        ("ZeroGPU illegal duration", "The requested GPU duration (900s) is larger than the maximum allowed",
         "gpu_too_long"),
        ("ZeroGPU worker error", "GPU task aborted", "gpu_failed"),
    ],
)  # fmt: skip
def test_zerogpu_refusals_reach_the_visitor_in_plain_words(title, message, key):
    from animefy.app.ui_text import MESSAGES

    def work(_check):
        raise gr.Error(message, title=title)  # what `spaces` raises inside a GPU call

    for lang, header in (("en", "en-US"), ("zh", "zh-CN")):
        request = Req(header)
        with pytest.raises(gr.Error) as caught:
            ui.guarded(request, Settings(), work)
        assert caught.value.message == MESSAGES[lang][key]
    with pytest.raises(gr.Error) as caught:  # the page's own messages pass unchanged
        ui.guarded(Req("en"), Settings(), lambda _c: (_ for _ in ()).throw(gr.Error("mine")))
    assert caught.value.message == "mine"


def test_api_help_names_every_parameter_of_every_endpoint_in_both_languages(tiny_setup):
    demo = ui.build_demo(Settings.from_env())
    endpoints = demo.get_api_info()["named_endpoints"]
    assert set(endpoints) == {"/stylize_image", "/animefy", "/stylize_video", "/mix"}
    for table, lang in ((EN, "en"), (ZH, "zh")):
        lines = table["api.help"].splitlines()
        for name, info in endpoints.items():
            start = lines.index(next(line for line in lines if line.startswith(f"**`{name}`**")))
            block = lines[start + 1 : start + 2 + len(info["parameters"])]
            for p in info["parameters"]:
                line = next(x for x in block if x.startswith(f"- `{p['parameter_name']}`"))
                described = line.split("`", 2)[2]
                assert len(described) > 6 and (CJK.search(described) if lang == "zh" else True), line
            assert block[-1].startswith("- 返回：" if lang == "zh" else "- Returns: ")
    zh = ZH["api.help"]
    assert "`hold`：动画节奏：`1` 每帧、`2` 一拍二" in zh and "`max_seconds`：只保留前" in zh
    assert "(api/v1/docs)" in zh and "通过 API 使用" in zh
