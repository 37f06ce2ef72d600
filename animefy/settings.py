"""Every setting animefy reads from the environment, in one place. `Settings.from_env()` reads
them at call time (never at import), so tests and servers can change them; one immutable
`Settings` is then passed down to every stage. No other module reads `os.environ`.

| variable | field | default |
|---|---|---|
| ANIMEFY_MODELS_DIR | models_dirs | (none; os.pathsep-separated folders of model files) |
| ANIMEFY_CATALOG | user_catalog | (none; a TOML file adding or replacing catalog entries) |
| ANIMEFY_HUB_CACHE | hub_cache_dir | huggingface_hub's own cache |
| ANIMEFY_CACHE_DIR | cache_dir | ~/.cache/animefy (converted models) |
| ANIMEFY_OFFLINE, HF_HUB_OFFLINE | offline | off |
| HF_ENDPOINT | hf_endpoint | huggingface_hub's default |
| MODELSCOPE_DOMAIN | modelscope_endpoint | ModelScope's default |
| ANIMEFY_ENGINE | engine | auto (torch on CUDA when a GPU is visible, else ONNX Runtime) |
| ANIMEFY_DEVICE | device | auto (cuda when visible, else cpu) |
| ANIMEFY_FP16 | fp16 | auto (fp16 on CUDA for the models verified to keep parity; on = all, off = none) |
| ANIMEFY_TORCH_GRAPH | torch_graph | frozen (torch engine: eager, frozen, export, or aoti: ahead-of-time compiled, a flag until run on a GPU) |
| ANIMEFY_THREADS | threads | 0 = all cores |
| ANIMEFY_DEFAULT_STYLE | default_style | first available of the preferred styles |
| ANIMEFY_MAX_SIDE, ANIMEFY_MIN_SIDE, ANIMEFY_MAX_PIXELS | image limits | 2048, 16, 120,000,000 |
| ANIMEFY_MAX_ASPECT | max_aspect | 12 (long side / short side of a photo or clip; thinner ones are refused) |
| ANIMEFY_MAX_VIDEO_SECONDS, ANIMEFY_MAX_VIDEO_SIDE | video limits | 600, 1920 |
| ANIMEFY_MAX_UPLOAD_MB | max_upload_mb | 200 |
| ANIMEFY_RATE_LIMIT | rate_limit_per_minute | 30 POSTs per client a minute |
| ANIMEFY_TRUSTED_PROXIES | trusted_proxies | (none; comma-separated IPs whose X-Forwarded-For is believed) |
| ANIMEFY_MAX_JOBS | max_queued_jobs | 8 video jobs waiting |
| ANIMEFY_QUEUE_SIZE | queue_size | 16 (Gradio queue) |
| ANIMEFY_OUTPUT_DIR | output_dir | <temp>/animefy_outputs |
| ANIMEFY_RESULT_TTL | result_ttl | 3600 s before results are deleted |
| ANIMEFY_PHOTO_WORKERS | photo_workers | 0 = a quarter of the cores, at least 1 (REST photos at once) |
| ANIMEFY_VIDEO_WORKERS | video_workers | 0 = an eighth of the cores, at least 1 (REST video jobs at once) |
| ANIMEFY_READ_TIMEOUT | read_timeout | 30 s a connection may send nothing of an unfinished request |
| ANIMEFY_REQUEST_TIMEOUT | request_timeout | 900 s for a request's headers and body to arrive |
| GRADIO_SERVER_NAME | server_name | 127.0.0.1 |
| SPACES_ZERO_GPU | on_zerogpu | set by Hugging Face on ZeroGPU Spaces |
| ANIMEFY_RAY_ADDRESS | ray_address | (none; a Ray cluster, host:port or ray://host:port: servers run videos on it) |
| ANIMEFY_RAY_JOBS | ray_jobs | 0 = 4 (REST video jobs one server hands to its Ray cluster at once) |
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from animefy.errors import ConfigError

ENGINES = ("auto", "onnxruntime", "torch")
DEVICES = ("auto", "cpu", "cuda")
FP16_MODES = ("auto", "on", "off")
TORCH_GRAPHS = ("frozen", "eager", "export", "aoti")  # the first is the default
RAY_JOBS = 4  # video jobs a server hands to its Ray cluster at once, unless ANIMEFY_RAY_JOBS says


def _get(env: dict[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = _get(env, name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"Environment variable {name}={raw!r} must be a whole number.") from exc


def _truthy(env: dict[str, str], name: str) -> bool:
    return _get(env, name).lower() in {"1", "true", "yes", "on"}


def _choice(env: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = _get(env, name).lower() or choices[0]
    if raw not in choices:
        raise ConfigError(f"Environment variable {name}={raw!r} must be one of {', '.join(choices)}.")
    return raw


def _path(env: dict[str, str], name: str) -> Path | None:
    raw = _get(env, name)
    return Path(raw).expanduser() if raw else None


@dataclass(frozen=True)
class Settings:
    models_dirs: tuple[Path, ...] = ()
    user_catalog: Path | None = None
    hub_cache_dir: Path | None = None
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "animefy")
    offline: bool = False
    hf_endpoint: str | None = None
    modelscope_endpoint: str | None = None
    engine: str = "auto"
    device: str = "auto"
    fp16: str = "auto"
    torch_graph: str = "frozen"
    threads: int = 0
    default_style: str = ""
    max_side: int = 2048
    min_side: int = 16
    max_pixels: int = 120_000_000
    max_aspect: int = 12
    max_video_seconds: int = 600
    max_video_side: int = 1920
    max_upload_mb: int = 200
    rate_limit_per_minute: int = 30
    trusted_proxies: tuple[str, ...] = ()
    max_queued_jobs: int = 8
    queue_size: int = 16
    output_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "animefy_outputs")
    result_ttl: int = 3600
    photo_workers: int = 0
    video_workers: int = 0
    read_timeout: int = 30
    request_timeout: int = 900
    server_name: str = "127.0.0.1"
    on_zerogpu: bool = False
    ray_address: str | None = None
    ray_jobs: int = 0

    def __post_init__(self) -> None:
        for name in ("result_ttl", "read_timeout", "request_timeout"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1 second, not {getattr(self, name)}.")
        if self.ray_jobs < 0:
            raise ConfigError(f"ray_jobs must be 0 (the default) or more, not {self.ray_jobs}.")
        if self.engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, not {self.engine!r}.")
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}.")
        if self.fp16 not in FP16_MODES:
            raise ConfigError(f"fp16 must be one of {', '.join(FP16_MODES)}, not {self.fp16!r}.")
        if self.torch_graph not in TORCH_GRAPHS:
            raise ConfigError(f"torch_graph must be one of {', '.join(TORCH_GRAPHS)}, not {self.torch_graph!r}.")

    def workers(self) -> tuple[int, int]:
        """(photo, video) workers: as set, or sized from the cores. With a Ray cluster this server
        only orchestrates its video jobs: it runs `ray_jobs` of them at once (default 4) and the
        cluster's scheduler shares its workers between them and other servers' jobs."""
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        videos = (self.ray_jobs or RAY_JOBS) if self.ray_address else self.video_workers or max(1, cores // 8)
        return self.photo_workers or max(1, cores // 4), videos

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        dirs = tuple(Path(p).expanduser() for p in _get(env, "ANIMEFY_MODELS_DIR").split(os.pathsep) if p.strip())
        out = _path(env, "ANIMEFY_OUTPUT_DIR")
        return cls(
            models_dirs=dirs,
            user_catalog=_path(env, "ANIMEFY_CATALOG"),
            hub_cache_dir=_path(env, "ANIMEFY_HUB_CACHE"),
            cache_dir=_path(env, "ANIMEFY_CACHE_DIR") or Path.home() / ".cache" / "animefy",
            offline=_truthy(env, "ANIMEFY_OFFLINE") or _truthy(env, "HF_HUB_OFFLINE"),
            hf_endpoint=_get(env, "HF_ENDPOINT") or None,
            modelscope_endpoint=_get(env, "MODELSCOPE_DOMAIN") or None,
            engine=_choice(env, "ANIMEFY_ENGINE", ENGINES),
            device=_choice(env, "ANIMEFY_DEVICE", DEVICES),
            fp16=_choice(env, "ANIMEFY_FP16", FP16_MODES),
            torch_graph=_choice(env, "ANIMEFY_TORCH_GRAPH", TORCH_GRAPHS),
            threads=_int(env, "ANIMEFY_THREADS", 0),
            default_style=_get(env, "ANIMEFY_DEFAULT_STYLE"),
            max_side=_int(env, "ANIMEFY_MAX_SIDE", 2048),
            min_side=_int(env, "ANIMEFY_MIN_SIDE", 16),
            max_pixels=_int(env, "ANIMEFY_MAX_PIXELS", 120_000_000),
            max_aspect=_int(env, "ANIMEFY_MAX_ASPECT", 12),
            max_video_seconds=_int(env, "ANIMEFY_MAX_VIDEO_SECONDS", 600),
            max_video_side=_int(env, "ANIMEFY_MAX_VIDEO_SIDE", 1920),
            max_upload_mb=_int(env, "ANIMEFY_MAX_UPLOAD_MB", 200),
            rate_limit_per_minute=_int(env, "ANIMEFY_RATE_LIMIT", 30),
            trusted_proxies=tuple(p.strip() for p in _get(env, "ANIMEFY_TRUSTED_PROXIES").split(",") if p.strip()),
            max_queued_jobs=_int(env, "ANIMEFY_MAX_JOBS", 8),
            queue_size=_int(env, "ANIMEFY_QUEUE_SIZE", 16),
            output_dir=(out / "animefy_outputs") if out else Path(tempfile.gettempdir()) / "animefy_outputs",
            result_ttl=_int(env, "ANIMEFY_RESULT_TTL", 3600),
            photo_workers=_int(env, "ANIMEFY_PHOTO_WORKERS", 0),
            video_workers=_int(env, "ANIMEFY_VIDEO_WORKERS", 0),
            read_timeout=_int(env, "ANIMEFY_READ_TIMEOUT", 30),
            request_timeout=_int(env, "ANIMEFY_REQUEST_TIMEOUT", 900),
            server_name=_get(env, "GRADIO_SERVER_NAME") or "127.0.0.1",
            on_zerogpu=_truthy(env, "SPACES_ZERO_GPU"),
            ray_address=_get(env, "ANIMEFY_RAY_ADDRESS") or None,
            ray_jobs=_int(env, "ANIMEFY_RAY_JOBS", 0),
        )
