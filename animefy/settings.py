"""Settings read from the environment at call time (never cached at import), so tests and
servers can change them. One immutable object is passed down; no global mutable state."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"Environment variable {name}={raw!r} must be a whole number.") from exc


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    models_dirs: tuple[Path, ...] = ()
    user_catalog: Path | None = None
    hub_cache_dir: Path | None = None
    offline: bool = False
    max_side: int = 2048
    min_side: int = 16
    max_pixels: int = 120_000_000
    max_video_seconds: int = 600
    max_video_side: int = 1920
    threads: int = 0
    max_upload_mb: int = 200
    rate_limit_per_minute: int = 30
    max_queued_jobs: int = 8
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        dirs = tuple(
            Path(p).expanduser() for p in os.environ.get("ANIMEFY_MODELS_DIR", "").split(os.pathsep) if p.strip()
        )
        catalog = os.environ.get("ANIMEFY_CATALOG", "").strip()
        cache = os.environ.get("ANIMEFY_HUB_CACHE", "").strip()
        return cls(
            models_dirs=dirs,
            user_catalog=Path(catalog).expanduser() if catalog else None,
            hub_cache_dir=Path(cache).expanduser() if cache else None,
            offline=_truthy("ANIMEFY_OFFLINE") or _truthy("HF_HUB_OFFLINE"),
            max_side=_int_env("ANIMEFY_MAX_SIDE", 2048),
            min_side=_int_env("ANIMEFY_MIN_SIDE", 16),
            max_pixels=_int_env("ANIMEFY_MAX_PIXELS", 120_000_000),
            max_video_seconds=_int_env("ANIMEFY_MAX_VIDEO_SECONDS", 600),
            max_video_side=_int_env("ANIMEFY_MAX_VIDEO_SIDE", 1920),
            threads=_int_env("ANIMEFY_THREADS", 0),
            max_upload_mb=_int_env("ANIMEFY_MAX_UPLOAD_MB", 200),
            rate_limit_per_minute=_int_env("ANIMEFY_RATE_LIMIT", 30),
            max_queued_jobs=_int_env("ANIMEFY_MAX_JOBS", 8),
        )
