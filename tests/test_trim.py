"""Trimming a clip to its first N seconds (VideoRequest.max_seconds): the CPU pipeline and the
ZeroGPU chunk loop write only the frames kept and cut the audio with them; a clip longer than
the length limit is accepted once trimmed within it; the GPU plan counts only the frames kept."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_video import make_clip
from test_zerogpu import _tiny_settings

from animefy.app import zerogpu
from animefy.errors import LimitError
from animefy.schema import VideoRequest
from animefy.video.io import probe
from animefy.video.pipeline import stylize_video, trimmed

PLAIN = {"person_style": "inv", "background": "keep", "strength": 0.0, "glitch_repair": False, "reuse": False}


def test_trimmed_info_keeps_the_first_seconds(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", fps="25", seconds=2)
    info = probe(clip)
    assert trimmed(info, VideoRequest()) is info  # no trim
    assert trimmed(info, VideoRequest(max_seconds=5)) is info  # longer than the clip
    cut = trimmed(info, VideoRequest(max_seconds=0.5))
    assert cut.frame_estimate == 13 and cut.duration == pytest.approx(info.start_offset + 13 / 25)


def test_pipeline_writes_only_the_first_seconds_with_their_audio(tmp_path):
    settings = _tiny_settings(tmp_path)
    clip = make_clip(tmp_path / "c.mp4", fps="25", seconds=3, audio=True)
    seen = []
    result = stylize_video(clip, tmp_path / "o.mp4", VideoRequest(max_seconds=1, **PLAIN), settings=settings,
                           progress=lambda d, t: seen.append((d, t)))  # fmt: skip
    out = probe(result.path)
    assert result.frames == 25 and seen[-1] == (25, 25)
    assert out.has_audio and out.duration == pytest.approx(1.0, abs=0.1)  # the audio was cut with the frames


def test_a_clip_over_the_limit_is_accepted_once_trimmed_within_it(tmp_path):
    settings = replace(_tiny_settings(tmp_path), max_video_seconds=1)
    clip = make_clip(tmp_path / "c.mp4", fps="25", seconds=3)
    with pytest.raises(LimitError):
        stylize_video(clip, tmp_path / "a.mp4", VideoRequest(**PLAIN), settings=settings)
    result = stylize_video(clip, tmp_path / "b.mp4", VideoRequest(max_seconds=0.8, **PLAIN), settings=settings)
    assert result.frames == 20


def test_zerogpu_loop_and_plan_count_only_the_frames_kept(tmp_path):
    plain = _tiny_settings(tmp_path)
    settings = replace(plain, on_zerogpu=True)  # the plan as a Space makes it (torch on cuda rows)
    clip = str(make_clip(tmp_path / "c.mp4", fps="25", seconds=3, audio=True))
    whole = zerogpu.gpu_plan(clip, VideoRequest(**PLAIN), settings)
    cut = zerogpu.gpu_plan(clip, VideoRequest(max_seconds=1, **PLAIN), settings)
    assert (whole.frames, cut.frames) == (75, 25) and cut.gpu_seconds <= whole.gpu_seconds
    assert "25 frames" in zerogpu.video_plan_text(clip, VideoRequest(max_seconds=1, **PLAIN), settings)
    result = zerogpu.render_video(clip, VideoRequest(max_seconds=1, **PLAIN), plain, out=str(tmp_path / "z.mp4"))
    assert result.frames == 25 and probe(result.path).duration == pytest.approx(1.0, abs=0.1)
