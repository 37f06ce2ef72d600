"""The naive per-frame baseline the pipeline is measured against: what common per-frame
scripts do. One frame at a time, in one thread: decode, matte the whole frame, run the
person style and the background style on the whole frame, alpha-composite, encode.
Same models, same working sizes, same encoder settings as the pipeline."""

from __future__ import annotations

from pathlib import Path

from animefy.image.compose import feather_blend
from animefy.models.registry import load
from animefy.settings import Settings
from animefy.video.io import VideoWriter, probe, read_frames
from animefy.video.pipeline import processing_size


def naive_video(src: Path, out: Path, person_style: str, background_style: str, hold: int = 1) -> int:
    settings = Settings.from_env()
    info = probe(src)
    size, _ = processing_size(info, settings)
    w, h = size or (info.width, info.height)
    matter = load("rvm", "matte", settings)
    person, background = (
        load(person_style, "stylize", settings),
        load(background_style, "stylize", settings),
    )
    writer = VideoWriter(out, w, h, info.fps)
    frames = 0
    last = None
    for i, frame in enumerate(read_frames(src, info, size)):
        if i % hold == 0:
            alpha = matter(frame)
            last = feather_blend(background(frame), person(frame), alpha)
        writer.write(last)
        frames += 1
    writer.close()
    return frames
