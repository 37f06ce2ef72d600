"""UI text in English and Chinese. Labels, choices and fixed text go to the browser as gr.I18n
keys (EN / ZH; Gradio picks by the browser's language). Messages made while a request runs
(progress, results, errors) are translated here on the server, in the language the browser
asks for (its Accept-Language), with `say` and `explain`: the library's messages are English,
and the common ones are translated by pattern; any other keeps its English text behind a
Chinese lead-in."""

from __future__ import annotations

import re

EN = {
    "ui.title": "# animefy\nTurn photos and videos of people into anime: pick a look, or mix your own.",
    "ui.tab_image": "Photo",
    "ui.tab_video": "Video",
    "ui.tab_models": "Models",
    "ui.tab_mix": "Mix & match",
    "ui.mix_intro": "One photo, every combination: person styles in rows, backgrounds in columns. Each person style "
    "and each background is painted once and the grid only puts them together, so 2 styles x 4 backgrounds cost "
    "at most 6 model passes (the photo's own background, transparent and times of day need none), not 8 "
    "pictures' worth. Click a preview for the full-size picture and its download.",
    "ui.mix_people": "Person styles (rows)",
    "ui.mix_backgrounds": "Backgrounds (columns)",
    "ui.mix_variations": "Times of day / seasons (each a column, on the first painted background)",
    "ui.mix_picture": "Your own background picture (adds a column)",
    "ui.mix_photo_background": "The photo's own background",
    "ui.run_mix": "Make the grid",
    "ui.mix_grid": "Combinations (click one)",
    "ui.mix_full": "Full size",
    "ui.photo": "Your photo",
    "ui.looks": "Looks (click one to use it; examples made with this app)",
    "ui.before_after": "Before / after (drag the handle)",
    "ui.run_image": "Animefy",
    "ui.working": "Working…",
    "ui.advanced": "More options",
    "ui.clip": "Your clip",
    "ui.anime_clip": "Anime clip",
    "ui.run_video": "Animefy video",
    "ui.stop": "Stop",
    "ui.download": "Download",
    "ui.picture": "Background picture",
    "ui.examples": "Example clip (public domain)",
    "ui.models_intro": "Which styles and helper models this server has, and what you may do with the pictures each "
    "one helps make.",
    "field.person_style": "Person style",
    "field.background_style": "Background style",
    "field.face_style": "Face style",
    "field.background": "Background",
    "field.background_colour": "Background colour",
    "field.background_variation": "Time of day / season of the background",
    "field.stylize_background_image": "Draw the picture in the background style too",
    "field.background_position": "Which part of the picture to show",
    "field.strength": "Smooth out flicker (0 = off)",
    "field.glitch_repair": "Repair one-frame glitches (a flickering eye, a jump)",
    "field.hold": "Anime timing",
    "field.transparent_format": "Save the transparent video as",
    "field.max_seconds": "Keep only the first … seconds (0 = the whole clip)",
    "choice.background.keep": "Keep it",
    "choice.background.transparent": "Transparent",
    "choice.background.color": "Solid colour",
    "choice.background.image": "A picture",
    "choice.background_variation.none": "As it is",
    "choice.background_variation.day": "Day",
    "choice.background_variation.dusk": "Dusk",
    "choice.background_variation.night": "Night",
    "choice.background_variation.spring": "Spring",
    "choice.background_variation.summer": "Summer",
    "choice.background_variation.autumn": "Autumn",
    "choice.background_variation.winter": "Winter",
    "choice.background_position.center": "Centre",
    "choice.background_position.left": "Left part",
    "choice.background_position.right": "Right part",
    "choice.background_position.top": "Top part",
    "choice.background_position.bottom": "Bottom part",
    "choice.background_position.whole": "Whole picture",
    "choice.hold.1": "Every frame",
    "choice.hold.2": "On twos (anime-like)",
    "choice.hold.3": "On threes",
    "choice.transparent_format.webm": "WebM video",
    "choice.transparent_format.png-zip": "Zip of PNG pictures",
    "choice.fixed_size_mode.auto": "Choose by cost and quality",
    "choice.fixed_size_mode.letterbox": "One pass, scaled down",
    "choice.fixed_size_mode.tiles": "Overlapping tiles, full detail",
    "style.same": "Same as the person",
    "style.original": "Original (as photographed)",
    "style.later": "{name} · downloads on first use",
    "field.fixed_size_mode": "Fixed-size models on large pictures",
    "field.reuse": "Carry the background between keyframes",
    "ui.api_title": "API: use this page from a program",
    "api.help": "",  # made from the named endpoints when the page is built (ui.api_help)
    "common.complete": "Complete",  # Gradio's own status word, which its Chinese table lacks
}

ZH = {
    "ui.title": "# animefy 动漫化\n把人物照片和视频变成动漫：选一个现成的效果，或自己搭配。",
    "ui.tab_image": "照片",
    "ui.tab_video": "视频",
    "ui.tab_models": "模型",
    "ui.tab_mix": "混搭",
    "ui.mix_intro": "一张照片，所有组合：每行一种人物风格，每列一种背景。每种人物风格和每种背景只绘制一次，网格只是把它们组合起来，"
    "所以 2 种风格 x 4 种背景最多只需运行模型 6 次（照片原背景、透明背景和时间/季节不需要），而不是 8 张图的工作量。点击预览查看原尺寸图片并下载。",
    "ui.mix_people": "人物风格（行）",
    "ui.mix_backgrounds": "背景（列）",
    "ui.mix_variations": "时间 / 季节（每项一列，用在第一个绘制的背景上）",
    "ui.mix_picture": "你自己的背景图片（增加一列）",
    "ui.mix_photo_background": "照片原来的背景",
    "ui.run_mix": "生成网格",
    "ui.mix_grid": "组合（点击查看）",
    "ui.mix_full": "原尺寸",
    "ui.photo": "你的照片",
    "ui.looks": "效果（点击即可使用；示例由本应用生成）",
    "ui.before_after": "前后对比（拖动中间的手柄）",
    "ui.run_image": "动漫化",
    "ui.working": "处理中…",
    "ui.advanced": "更多选项",
    "ui.clip": "你的视频",
    "ui.anime_clip": "动漫视频",
    "ui.run_video": "动漫化视频",
    "ui.stop": "停止",
    "ui.download": "下载",
    "ui.picture": "背景图片",
    "ui.examples": "示例视频（公有领域）",
    "ui.models_intro": "本服务器上有哪些风格和辅助模型，以及用它们生成的图片可以怎样使用。",
    "field.person_style": "人物风格",
    "field.background_style": "背景风格",
    "field.face_style": "面部风格",
    "field.background": "背景",
    "field.background_colour": "背景颜色",
    "field.background_variation": "背景的时间 / 季节",
    "field.stylize_background_image": "背景图片也画成背景风格",
    "field.background_position": "显示图片的哪一部分",
    "field.strength": "消除闪烁（0 = 关闭）",
    "field.glitch_repair": "修复单帧瑕疵（眨动的眼睛、跳帧）",
    "field.hold": "动画节奏",
    "field.transparent_format": "透明视频保存为",
    "field.max_seconds": "只保留前 … 秒（0 = 整个视频）",
    "choice.background.keep": "保留",
    "choice.background.transparent": "透明",
    "choice.background.color": "纯色",
    "choice.background.image": "图片",
    "choice.background_variation.none": "不变",
    "choice.background_variation.day": "白天",
    "choice.background_variation.dusk": "黄昏",
    "choice.background_variation.night": "夜晚",
    "choice.background_variation.spring": "春",
    "choice.background_variation.summer": "夏",
    "choice.background_variation.autumn": "秋",
    "choice.background_variation.winter": "冬",
    "choice.background_position.center": "居中",
    "choice.background_position.left": "左侧部分",
    "choice.background_position.right": "右侧部分",
    "choice.background_position.top": "上部",
    "choice.background_position.bottom": "下部",
    "choice.background_position.whole": "整张图片",
    "choice.hold.1": "每帧",
    "choice.hold.2": "一拍二（动画感）",
    "choice.hold.3": "一拍三",
    "choice.transparent_format.webm": "WebM 视频",
    "choice.transparent_format.png-zip": "PNG 图片压缩包",
    "choice.fixed_size_mode.auto": "按速度和质量自动选择",
    "choice.fixed_size_mode.letterbox": "缩小后一次处理",
    "choice.fixed_size_mode.tiles": "重叠分块，保留细节",
    "style.same": "与人物相同",
    "style.original": "原样（照片本身）",
    "style.later": "{name} · 首次使用时下载",
    "field.fixed_size_mode": "固定尺寸模型处理大图的方式",
    "field.reuse": "在关键帧之间沿用背景",
    "ui.api_title": "API：用程序调用本页面",
    "api.help": "",
    "common.complete": "完成",
}

# Messages made on the server while a request runs, per language.
MESSAGES = {
    "en": {
        "upload_photo": "Upload a photo first, or click one of the looks to try it on an example.",
        "upload_clip": "Upload a clip first, or click the example clip below.",
        "not_image": "This file is not a picture animefy can read (or it is damaged). Use a PNG, JPEG, WebP, "
        "AVIF, BMP, TIFF or GIF photo.",
        "style_unavailable": "The {name} style is not available on this server right now. Choose another style; "
        "the Models tab shows which ones are ready.",
        "matte_unavailable": "This look separates the person from the background, which needs the person cut-out "
        "model; it is not available on this server right now. Keep the background and use one style for "
        "everything, or see the Models tab.",
        "face_unavailable": "A face style needs the face finder model, which is not available on this server right "
        "now. Leave the face style as the person's, or see the Models tab.",
        "model_unavailable": "A model this needs ({name}) is not available on this server right now. See the Models "
        "tab for what is ready.",
        "model_damaged": "A model file on this server is damaged ({name}), so this cannot run now. Choose another "
        "style; the server's log names the file.",
        "failed": "Something went wrong on the server with this request. Try again, or try another photo or style.",
        "error_title": "Could not do that",
        "frames": "frames",
        "progress_photo": "Finding the person and drawing…",
        "progress_photo_eta": "{stage}… about {left} left",
        "progress_photo_first": "{stage}… (the first photo takes longest while the styles load)",
        "stage_read": "Reading the photo",
        "stage_load": "Loading the styles",
        "stage_person": "Finding the person",
        "stage_faces": "Finding faces",
        "stage_draw": "Drawing",
        "stage_face_pass": "Drawing the faces",
        "stage_variation": "Painting the time of day",
        "stage_upscale": "Enlarging",
        "rate_limited": "Too many requests from you in the last minute (the limit is {per_minute}). Try again in {wait} s.",
        "starting": "Starting… the first frames take longest while the models load.",
        "progress_video": "Frame {done} of {total}",
        "progress_video_eta": "Frame {done} of {total} · about {left} left",
        "seconds": "{n} s",
        "minutes": "{m} min {s} s",
        "stopped": "Stopped. Nothing was saved.",
        "video_done": "Done: {frames} frames.",
        "on_twos": "Drawn {word} ({drawings} drawings).",
        "twos": "on twos",
        "threes": "on threes",
        "flicker": "Flicker smoothed (strength {strength:g}).",
        "flicker_off": "Flicker smoothing was off.",
        "glitches_none": "No one-frame glitches needed repair.",
        "glitches": "Repaired one-frame glitches in {count} frames ({frames}).",
        "reuse_scene": "Background painted at {keyframes} keyframes and carried on the other {carried} drawings ({area:.0%} of the frame redrawn on average).",
        "reuse_person": "{area:.0%} of the person redrawn on average.",
        "reuse_passes": "{passes:.2f} model passes per drawing.",
        "reuse_off": "Every drawing was painted in full (reuse off).",
        "zip_result": "The transparent frames are in the zip file below (a video player cannot show them).",
        "details": "Details",
        "library": "{text}",
        "mix_working": "Painting each person style and each background once…",
        "mix_done": "{rows} person styles x {cols} backgrounds = {cells} pictures, from {passes} model passes "
        "(making each picture on its own would take {naive}).",
        "mix_cell": "{person} person · {background}",
        "mix_picture": "Your picture",
        "mix_photo_background": "the photo's own background",
        "mix_photo_person": "As photographed",
        "gpu_quota": "Your free GPU time on this Space is used up for now (it refills over the day). Sign in to "
        "Hugging Face for a larger daily quota, or trim the clip: the note under the button says how much fits.",
        "gpu_busy": "No GPU was free in time. Try again in a minute.",
        "gpu_too_long": "This needs a longer GPU run than this Space allows at once. Trim the clip and try again.",
        "gpu_failed": "The GPU task stopped with an error. Try again.",
        "trim_to": "Keep only the first {seconds} s (fits without an account)",
    },
    "zh": {
        "upload_photo": "请先上传照片，或点击一个效果，在示例照片上试试。",
        "upload_clip": "请先上传视频，或点击下方的示例视频。",
        "not_image": "这个文件不是 animefy 能读取的图片（或已损坏）。请使用 PNG、JPEG、WebP、AVIF、BMP、TIFF 或 GIF 照片。",
        "style_unavailable": "本服务器暂时无法使用“{name}”风格。请选择其他风格；“模型”页列出了可用的风格。",
        "matte_unavailable": "这个效果需要把人物和背景分开，这要用到人物抠图模型，而本服务器暂时没有。请保留背景并全部使用同一风格，或查看“模型”页。",
        "face_unavailable": "面部风格需要人脸检测模型，而本服务器暂时没有。请让面部风格与人物相同，或查看“模型”页。",
        "model_unavailable": "所需的模型（{name}）在本服务器上暂时不可用。请查看“模型”页了解哪些可用。",
        "model_damaged": "本服务器上的一个模型文件已损坏（{name}），暂时无法运行。请选择其他风格；服务器日志中有文件名。",
        "failed": "服务器处理这个请求时出错了。请重试，或换一张照片或风格。",
        "error_title": "无法完成",
        "frames": "帧",
        "progress_photo": "正在识别人物并绘制…",
        "progress_photo_eta": "{stage}… 大约还需 {left}",
        "progress_photo_first": "{stage}…（第一张照片要加载风格，最慢）",
        "stage_read": "正在读取照片",
        "stage_load": "正在加载风格",
        "stage_person": "正在识别人物",
        "stage_faces": "正在寻找人脸",
        "stage_draw": "正在绘制",
        "stage_face_pass": "正在绘制面部",
        "stage_variation": "正在绘制时间 / 季节",
        "stage_upscale": "正在放大",
        "rate_limited": "你在一分钟内的请求太多了（上限 {per_minute} 次）。请 {wait} 秒后再试。",
        "starting": "正在开始…加载模型时，最初几帧最慢。",
        "progress_video": "第 {done} / {total} 帧",
        "progress_video_eta": "第 {done} / {total} 帧 · 大约还需 {left}",
        "seconds": "{n} 秒",
        "minutes": "{m} 分 {s} 秒",
        "stopped": "已停止，没有保存结果。",
        "video_done": "完成：共 {frames} 帧。",
        "on_twos": "按{word}绘制（{drawings} 张画）。",
        "twos": "一拍二",
        "threes": "一拍三",
        "flicker": "已消除闪烁（强度 {strength:g}）。",
        "flicker_off": "未开启闪烁消除。",
        "glitches_none": "没有需要修复的单帧瑕疵。",
        "glitches": "修复了 {count} 帧中的单帧瑕疵（第 {frames} 帧）。",
        "reuse_scene": "背景在 {keyframes} 个关键帧上绘制，其余 {carried} 张画沿用（平均重绘画面的 {area:.0%}）。",
        "reuse_person": "人物平均重绘 {area:.0%}。",
        "reuse_passes": "每张画平均运行模型 {passes:.2f} 次。",
        "reuse_off": "每张画都完整绘制（未沿用）。",
        "zip_result": "透明的各帧在下方的压缩包里（视频播放器无法显示它们）。",
        "details": "详细信息",
        "library": "提示：{text}",
        "mix_working": "每种人物风格和每种背景各绘制一次…",
        "mix_done": "{rows} 种人物风格 x {cols} 种背景 = {cells} 张图，共运行模型 {passes} 次（逐张制作需要 {naive} 次）。",
        "mix_cell": "人物：{person} · 背景：{background}",
        "mix_picture": "你的图片",
        "mix_photo_background": "照片原来的背景",
        "mix_photo_person": "原样",
        "gpu_quota": "你在这个 Space 上的免费 GPU 时间暂时用完了（一天内会逐渐恢复）。登录 Hugging Face 可获得更多每日额度，"
        "或者把视频剪短：按钮下方的说明会告诉你能处理多长。",
        "gpu_busy": "暂时没有空闲的 GPU。请过一分钟再试。",
        "gpu_too_long": "这需要的 GPU 时间超过了本 Space 单次允许的上限。请把视频剪短后再试。",
        "gpu_failed": "GPU 任务出错停止了。请重试。",
        "trim_to": "只保留前 {seconds} 秒（不登录也够用）",
    },
}

_PLAN = (
    r"This clip needs about (\d+) s of GPU time \((\d+) GPU calls?, (\d+) frames\)\. Daily ZeroGPU quota: "
    r"(\d+) s without an account, (\d+) s with a free account\."
)
_PLAN_ZH = "这个视频大约需要 {0} 秒 GPU 时间（{1} 次 GPU 调用，{2} 帧）。ZeroGPU 每日额度：不登录 {3} 秒，免费账号 {4} 秒。"

# The library's common messages (English) and their Chinese; {0}, {1}... are the groups.
_LIBRARY_ZH = [
    (r"The image has transparent areas; they were filled with white\.", "图片有透明区域，已用白色填充。"),
    (r"The image was (\d+)x(\d+); it was downscaled to (\d+)x(\d+) .*", "图片为 {0}x{1}，已缩小到 {2}x{3}。"),
    (
        r"The image is (\d+)x(\d+) pixels; animefy needs at least (\d+) pixels on each side.*",
        "图片只有 {0}x{1} 像素；每边至少需要 {2} 像素。请使用更大的照片。",
    ),
    (r"The image is (\d+)x(\d+) pixels, over the limit.*", "图片为 {0}x{1} 像素，超过了上限。请先缩小。"),
    (r"The image is too large to open safely.*", "图片太大，无法安全打开。请先缩小。"),
    (
        r"HEIC/HEIF photos are not supported.*",
        "不支持 HEIC/HEIF 照片。请先转换为 JPEG 或 PNG（iPhone：设置 > 相机 > 格式 > 兼容性最佳）。",
    ),
    (r"This file is a video, not a photo.*", "这是视频文件，不是照片；请在“视频”页处理。"),
    (
        r"This file is not a readable image.*",
        "这个文件不是可读取的图片（或已损坏）。请使用 PNG、JPEG、WebP 等格式的照片。",
    ),
    (r"The image file is empty.*", "图片文件是空的。请选择 PNG、JPEG 或 WebP 照片。"),
    (r"background='image' needs a background picture.*", "“图片”背景需要一张背景图片；请上传，或选择其他背景。"),
    (
        r"Background variations apply to a kept or replaced background.*",
        "时间 / 季节只适用于保留或替换的背景，不适用于透明或纯色背景。",
    ),
    (r"No video stream found.*", "没有找到视频画面：文件不是视频或已损坏。请使用 MP4、MOV、WebM 或 AVI 视频。"),
    (
        r"This file has no video stream \(it looks like audio with cover art\).*",
        "这个文件没有视频画面（看起来是带封面的音频）。请选择视频文件，或在“照片”页处理图片。",
    ),
    (
        r"The video is (\d+)x(\d+) pixels; animefy needs at least (\d+) pixels.*",
        "视频只有 {0}x{1} 像素；每边至少需要 {2} 像素。",
    ),
    (r"The video is (.+) long; the limit is (\d+) s.*", "视频太长（{0}）；上限为 {1} 秒。请先剪短。"),
    (r"The length of this video cannot be determined.*", "无法确定这个视频的长度。请将其另存为 MP4 后重试。"),
    (r"The video has no frames that can be decoded\.", "这个视频没有可解码的画面。"),
    (r"The video has no readable frame rate.*", "无法读取视频的帧率；请用视频编辑软件重新导出后重试。"),
    (r"The video's picture size cannot be read.*", "无法读取视频的画面尺寸；请用视频编辑软件重新导出。"),
    (r"Only (\d+) of about (\d+) frames could be read.*", "只读取到约 {1} 帧中的 {0} 帧；文件可能不完整或已损坏。"),
    (r"Variable frame rate: converted to a constant ([\d.]+) fps\.", "可变帧率：已转换为固定的 {0} fps。"),
    (r"Frame size changed mid-video.*", "视频中途画面尺寸发生了变化；请重新导出视频。"),
    (r"The video was (\d+)x(\d+); .*", "视频为 {0}x{1}，已缩小处理。"),
    # ZeroGPU: the plan before a clip starts (animefy.app.zerogpu.plan_text) and how it ran
    (
        _PLAN + r" It fits either\.",
        _PLAN_ZH + "两种额度都够用。",
    ),
    (
        _PLAN + r" Sign in to run it all, or trim it to its first ([\d.]+) s to run it without an account\.",
        _PLAN_ZH + "登录后可以处理整个视频；或者只保留前 {5} 秒，不登录也能处理。",
    ),
    (
        _PLAN + r" It is longer than either quota allows: trim it to its first ([\d.]+) s \(free account\) or "
        r"([\d.]+) s \(no account\)\.",
        _PLAN_ZH + "两种额度都不够：请只保留前 {5} 秒（免费账号）或前 {6} 秒（不登录）。",
    ),
    (r"Ran as (\d+) GPU call\(s\) of at most (\d+) s\.", "分 {0} 次 GPU 调用完成，每次最多 {1} 秒。"),
    # the video report in plain words (animefy.video.words)
    (r"Done: (\d+) frames\.", "完成：共 {0} 帧。"),
    (r"Drawn as anime is, (\d+) drawings each shown twice\.", "像动画一样绘制：{0} 张画，每张显示两帧。"),
    (r"Drawn as anime is, (\d+) drawings each shown three times\.", "像动画一样绘制：{0} 张画，每张显示三帧。"),
    (r"Every drawing was painted in full\.", "每张画都完整绘制。"),
    (r"Background painted once and carried in between\.", "背景绘制了 1 次，其余画面沿用。"),
    (r"Background painted twice and carried in between\.", "背景绘制了 2 次，其间沿用。"),
    (r"Background painted (\d+) times and carried in between\.", "背景绘制了 {0} 次，其间沿用。"),
    (r"Background painted on every drawing \(it kept changing\)\.", "背景每张都重新绘制（它一直在变化）。"),
    (r"The person was repainted where they moved \((\d+)% of them on average\)\.", "人物在移动的地方重新绘制（平均 {0}%）。"),
    (r"(\d+) glitch(?:es)? repaired \(frame (.+)\)\.", "修复了 {0} 处单帧瑕疵（第 {1} 帧）。"),
    (r"No glitches needed repair\.", "没有需要修复的单帧瑕疵。"),
    (r"Flicker smoothed\.", "已消除闪烁。"),
    (r"Flicker smoothing was off\.", "未开启闪烁消除。"),
]


def say(lang: str, key: str, **kw: object) -> str:
    table = MESSAGES.get(lang, MESSAGES["en"])
    return table.get(key, MESSAGES["en"][key]).format(**kw)


# Words meant for whoever runs the server (setting names, "raise the limit"): not for visitors.
_ADMIN_WORDS = [(re.compile(r"\s*\([^()]*ANIMEFY_[A-Z_]+[^()]*\)"), ""), (re.compile(r" or raise the limit"), "")]


def for_visitor(text: str) -> str:
    """A library message without the server's setting names and admin instructions."""
    for pattern, replacement in _ADMIN_WORDS:
        text = pattern.sub(replacement, text)
    return text


def library_message(text: str, lang: str) -> str:
    """A message of the library (English) in `lang`, for a visitor: translated when it is a
    common one, the server's setting names left out."""
    if lang != "zh":
        return for_visitor(text)
    for pattern, zh in _LIBRARY_ZH:
        match = re.fullmatch(pattern, text.strip(), flags=re.S)
        if match:
            return zh.format(*match.groups())
    return say(lang, "library", text=for_visitor(text))


def duration(seconds: float, lang: str) -> str:
    seconds = max(1, round(seconds))
    if seconds < 90:
        return say(lang, "seconds", n=seconds)
    return say(lang, "minutes", m=seconds // 60, s=seconds % 60)
