"""Pieces of the app without a server: controls generated from the schema, messages in both
languages, looks resolved against what is on disk, where a background picture sits, and a
light command line."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from animefy.schema import ImageRequest, VideoRequest, field_info


def test_every_ui_field_of_the_schema_gets_a_control_and_an_endpoint_parameter(tiny_setup):
    from animefy.app import ui
    from animefy.settings import Settings

    demo = ui.build_demo(Settings.from_env())
    ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    for prefix, cls, names in (("image", ImageRequest, ui.IMAGE_FIELDS), ("video", VideoRequest, ui.VIDEO_FIELDS)):
        assert {f"{prefix}_{n}" for n in names} <= ids
        assert names == [n for n in cls.model_fields if field_info(cls, n)["ui"]]
    params = [p for p in ui.endpoint(["image"], ImageRequest, ui.IMAGE_FIELDS, None, None).__signature__.parameters]
    assert params[: len(ui.IMAGE_FIELDS) + 2] == ["image", *ui.IMAGE_FIELDS, "picture"]
    assert "background_position" in params


def test_fields_show_under_their_choice():
    from animefy.app.ui import _shown

    assert not _shown(ImageRequest, "background_colour", {}) and _shown(ImageRequest, "background_colour",
                                                                         {"background": "color"})  # fmt: skip
    assert _shown(ImageRequest, "background_position", {"background": "image"})
    assert _shown(ImageRequest, "background_variation", {}) and not _shown(
        ImageRequest, "background_variation", {"background": "transparent"}
    )
    assert _shown(VideoRequest, "transparent_format", {"background": "transparent"})
    assert _shown(ImageRequest, "person_style", {"background": "color"})


def test_messages_in_the_browsers_language():
    from animefy.app.ui import lang_of
    from animefy.app.ui_text import MESSAGES, library_message

    class Req:
        def __init__(self, header: str) -> None:
            self.headers = {"accept-language": header}

    assert lang_of(Req("zh-CN,zh;q=0.9,en;q=0.8")) == "zh" and lang_of(Req("en-US,zh;q=0.5")) == "en"
    assert lang_of(None) == "en"
    assert set(MESSAGES["en"]) == set(MESSAGES["zh"])
    text = "The image was 4000x3000; it was downscaled to 2048x1536 (limit ANIMEFY_MAX_SIDE=2048)."
    assert library_message(text, "en") == "The image was 4000x3000; it was downscaled to 2048x1536."
    assert library_message(text, "zh") == "图片为 4000x3000，已缩小到 2048x1536。"
    assert library_message("Something new happened.", "zh").startswith("提示：")


def test_errors_in_plain_words_without_paths_or_commands(tiny_setup):
    from animefy.app.ui import friendly
    from animefy.errors import ModelLoadError, ModelUnavailableError
    from animefy.settings import Settings

    settings = Settings.from_env()
    missing = ModelUnavailableError("hayao", ["local file /srv/models/x.onnx (absent)"], "Run `python -m x`.")
    for lang, word in (("en", "Hayao"), ("zh", "宫崎骏")):
        text = friendly(missing, lang, settings)
        assert word in text and "/srv" not in text and "python -m" not in text
    assert "cut-out" in friendly(ModelUnavailableError("rvm", [], ""), "en", settings)
    assert "损坏" in friendly(ModelLoadError("x.onnx", "hayao"), "zh", settings)


def test_video_report_in_plain_words():
    from types import SimpleNamespace

    from animefy.app.ui import video_summary

    options = SimpleNamespace(hold=2, deflicker=True, strength=0.8, repair_glitches=True)
    report = SimpleNamespace(options=options, drawings=30, glitch_boxes={12: (1, 2, 3, 4)})
    text = video_summary(SimpleNamespace(report=report, frames=60), "en")[0]
    assert text == ("Done: 60 frames. Drawn on twos (30 drawings). Flicker smoothed (strength 0.8). "
                    "Repaired one-frame glitches in 1 frames (12).")  # fmt: skip
    assert "supervisor" not in text and "rebuilt" not in text
    assert "一拍二" in video_summary(SimpleNamespace(report=report, frames=60), "zh")[0]


def test_video_report_says_what_was_carried():
    from types import SimpleNamespace

    from animefy.app.ui import video_summary
    from animefy.video.reuse import ReuseOptions, ReuseReport

    options = SimpleNamespace(hold=1, deflicker=True, strength=0.8, repair_glitches=False)
    reuse = ReuseReport(ReuseOptions(), drawings=10, keyframes=[0, 6], scene_drawings=10, scene_area=2.5,
                        person_drawings=10, person_area=4.0)  # fmt: skip
    reuse.passes.update({"hayao": 3, "shinkai": 12})
    result = SimpleNamespace(report=SimpleNamespace(options=options, drawings=10), frames=10, reuse=reuse)
    text = video_summary(result, "en")[0]
    assert (
        "Background painted at 2 keyframes and carried on the other 8 drawings (25% of the frame redrawn "
        "on average). 40% of the person redrawn on average. 1.50 model passes per drawing."
    ) in text
    assert "关键帧" in video_summary(result, "zh")[0]
    off = ReuseReport(ReuseOptions(enabled=False), drawings=10)
    assert "reuse off" in video_summary(SimpleNamespace(**{**vars(result), "reuse": off}), "en")[0]


def test_looks_use_what_is_on_disk(tiny_setup, tmp_path, monkeypatch):
    from animefy.app import looks
    from animefy.settings import Settings

    monkeypatch.setenv("ANIMEFY_CACHE_DIR", str(tmp_path / "cache"))
    settings = Settings.from_env()
    found = looks.resolve_looks(settings, "invert")
    keys = [look.key for look in found]
    assert "mix" in keys and "cutout" in keys and "face" not in keys  # no face detector in the tiny setup
    mix = found[keys.index("mix")]
    assert mix.values == {"person_style": "invert", "background_style": "cel"}  # the built-in style is on disk
    assert mix.name("en") == "Invert person on a Cel shading background" and mix.name("zh") == "反色人物 + 赛璐璐背景"
    assert looks.example_result(mix, settings) is None
    looks.prepare(found, settings)
    assert all(looks.example_result(look, settings) is not None for look in found)


@pytest.mark.parametrize(("position", "kept"), [("left", 255), ("right", 0), ("center", 0)])
def test_background_picture_position(position, kept):
    from animefy.image.compose import cover

    picture = np.zeros((100, 300, 3), np.uint8)
    picture[:, :100] = 255  # the left third is white
    assert cover(picture, (100, 100), position).mean() == kept
    whole = cover(picture, (100, 100), "whole")
    assert whole.shape == (100, 100, 3) and whole[50, 5].mean() > 200 and whole[50, 95].mean() < 50


def test_command_line_start_is_light_and_explains_a_missing_helper_model(tmp_path):
    # `models` reports the engine in use, which asks onnxruntime for a CUDA provider (~20 ms).
    for args, heavy in ((["--version"], {"cv2", "onnxruntime", "gradio", "torch"}), (["models"], {"cv2", "gradio"})):
        res = subprocess.run([sys.executable, "-X", "importtime", "-m", "animefy", *args], capture_output=True,
                             text=True, cwd=ROOT, timeout=120)  # fmt: skip
        assert res.returncode == 0
        imported = {line.split("|")[-1].strip() for line in res.stderr.splitlines() if "|" in line}
        assert not heavy & imported, args
    res = subprocess.run([sys.executable, "-m", "animefy", "image", str(ROOT / "examples" / "astronaut.jpg"), "-o",
                          str(tmp_path / "x.png"), "-s", "cel", "-b", "original"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)  # fmt: skip
    assert res.returncode == 3 and "person matting model" in res.stderr


def test_video_report_in_plain_words_and_translated():
    from types import SimpleNamespace

    from animefy.app.ui_text import library_message
    from animefy.video.temporal import TemporalOptions, TemporalReport
    from animefy.video.words import plain_words

    reuse = SimpleNamespace(options=SimpleNamespace(enabled=True), scene_drawings=24, keyframes=[0, 8, 15, 20],
                            person_drawings=24, person_area=24 * 0.38)  # fmt: skip
    report = TemporalReport(TemporalOptions(hold=2), frames=48, drawings=24, glitch_boxes={12: (1, 2, 3, 4)},
                            reuse=reuse)  # fmt: skip
    lines = plain_words(report)
    assert lines == ["Done: 48 frames.", "Drawn as anime is, 24 drawings each shown twice.",
                     "Background painted 4 times and carried in between.",
                     "The person was repainted where they moved (38% of them on average).",
                     "1 glitch repaired (frame 12).", "Flicker smoothed."]  # fmt: skip
    assert report.plain() == " ".join(lines)  # as_dict()["summary"], the REST job report's field
    chinese = [library_message(line, "zh") for line in lines]
    assert not any("提示" in c or re.search(r"[A-Za-z]{3,}", c) for c in chinese), chinese


def test_visitors_see_no_setting_names_or_admin_instructions(tmp_path):
    from animefy.app.ui_text import library_message
    from animefy.errors import AnimefyError
    from animefy.image.io import load_image
    from animefy.settings import Settings

    big = np.zeros((300, 200, 3), np.uint8)
    messages = list(load_image(big, Settings(max_side=100)).messages)
    try:
        load_image(big, Settings(max_pixels=1000))
    except AnimefyError as exc:
        messages.append(str(exc))
    assert len(messages) == 2 and all("ANIMEFY_" in m for m in messages)  # the library's words, for the CLI
    for lang in ("en", "zh"):
        for m in messages:
            shown = library_message(m, lang)
            assert "ANIMEFY_" not in shown and "raise the limit" not in shown and "()" not in shown, shown
    assert library_message("The video is 12 min long; the limit is 600 s (ANIMEFY_MAX_VIDEO_SECONDS). Trim it or "
                           "raise the limit.", "en") == "The video is 12 min long; the limit is 600 s. Trim it."  # fmt: skip


def test_licence_terms_per_style_on_the_models_tab_and_in_the_styles_api():
    from fastapi.testclient import TestClient

    from animefy.app.rest import create_rest_app
    from animefy.app.ui import models_markdown
    from animefy.models.catalog import load_catalog
    from animefy.settings import Settings

    catalog = load_catalog(Settings.from_env())
    assert "copyleft" in catalog.get("rvm").terms and "GPL-3.0" in catalog.get("rvm").terms
    assert "non-commercial" in catalog.get("shinkai_v3").terms and "商用" in catalog.get("shinkai_v3").terms_zh
    packaged = [s for s in catalog.models.values() if s.licence != "test"]
    assert all(s.terms and s.terms_zh for s in packaged)
    styles = {s["name"]: s for s in TestClient(create_rest_app(Settings.from_env())).get("/styles").json()["styles"]}
    assert styles["shinkai_v3"]["terms"] == catalog.get("shinkai_v3").terms and "commercially" in styles["cel"]["terms"]
    page = models_markdown(Settings.from_env(), "en")
    assert "non-commercial use: use results for personal" in page and "copyleft" in page
    assert "ANIMEFY_" not in page and "ANIMEFY_" not in models_markdown(Settings.from_env(), "zh")
