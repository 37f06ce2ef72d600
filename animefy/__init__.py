"""animefy: turn photos and videos of people into anime, region by region."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "stylize_image", "StyleOptions", "stylize_video"]


def __getattr__(name: str):
    if name in ("stylize_image", "StyleOptions"):
        from animefy.image import pipeline

        return getattr(pipeline, name)
    if name == "stylize_video":
        from animefy.video.pipeline import stylize_video

        return stylize_video
    raise AttributeError(name)
