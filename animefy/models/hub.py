"""Find a model file: the local models directory, then the Hugging Face Hub (cache first,
then download), then ModelScope. Verifies sha256 when the catalog knows it. When every
source fails, raises one ModelUnavailableError that names what was tried and what to do."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from animefy.errors import ChecksumError, ModelUnavailableError
from animefy.models.catalog import ModelSpec, Source
from animefy.settings import Settings

log = logging.getLogger(__name__)

_MODELSCOPE_ENDPOINT = "https://" + ".".join(("www", "modelscope", "cn"))

_verified: dict[tuple[str, int, int], str] = {}
_verified_lock = threading.Lock()


def sha256_of(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) so a model is hashed once."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _verified_lock:
        if key in _verified:
            return _verified[key]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    with _verified_lock:
        _verified[key] = value
    return value


def _mismatch(spec: ModelSpec, path: Path) -> str | None:
    """How a file differs from what the catalog expects (size, sha256), or None when it matches."""
    if spec.size_bytes is not None and path.stat().st_size != spec.size_bytes and spec.sha256 is None:
        return f"has {path.stat().st_size} bytes, expected {spec.size_bytes}"
    if spec.sha256 is not None and sha256_of(path) != spec.sha256.lower():
        return f"has sha256 {sha256_of(path)}, expected {spec.sha256}"
    return None


def _check(spec: ModelSpec, path: Path, delete_on_mismatch: bool) -> Path:
    problem = _mismatch(spec, path)
    if problem is None:
        return path
    log.warning("model %s: %s %s", spec.name, path, problem)
    if delete_on_mismatch:
        real = path.resolve()
        for p in {path, real}:
            if p.exists() or p.is_symlink():
                p.unlink()
    raise ChecksumError(path.name, spec.name, problem, deleted=delete_on_mismatch)


def _damaged(spec: ModelSpec, path: Path) -> str | None:
    """'damaged: ...' when a found file fails its checksum (never raises; logs the path)."""
    if spec.is_folder:
        return None
    try:
        problem = _mismatch(spec, path)
    except OSError as exc:
        return f"unreadable: {_reason(exc)}"
    if problem is None:
        return None
    log.info("model %s: %s %s", spec.name, path, problem)  # a look, not a use: loading it warns
    return f"damaged: '{path.name}' does not match its checksum"


def local_candidates(spec: ModelSpec, settings: Settings) -> list[Path]:
    names = [spec.filename, *spec.aliases]
    return [d / n for d in settings.models_dirs for n in names]


_reach_cache: dict[str, tuple[float, bool]] = {}


def endpoint_reachable(url: str, timeout: float = 3.0, ttl: float = 60.0) -> bool:
    """Whether a TCP connection to the hub endpoint opens; remembered for `ttl` seconds so an
    offline machine fails in milliseconds instead of going through the client's retries."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    now = time.monotonic()
    key = f"{host}:{port}"
    cached = _reach_cache.get(key)
    if cached and now - cached[0] < ttl:
        return cached[1]
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        ok = True
    except OSError:
        ok = False
    _reach_cache[key] = (now, ok)
    return ok


def _hf_endpoint(settings: Settings) -> str:
    from huggingface_hub import constants

    return settings.hf_endpoint or constants.ENDPOINT


def _from_hf(_spec: ModelSpec, src: Source, settings: Settings, local_only: bool) -> Path:
    from huggingface_hub import hf_hub_download

    if not local_only and not endpoint_reachable(_hf_endpoint(settings)):
        raise ConnectionError(f"cannot reach {_hf_endpoint(settings)} (offline?)")

    path = hf_hub_download(
        repo_id=src.repo,
        filename=src.file,
        revision=src.revision,
        repo_type=src.repo_type,
        cache_dir=settings.hub_cache_dir,
        local_files_only=local_only,
        library_name="animefy",
        endpoint=_hf_endpoint(settings),
    )
    return Path(path)


def _patterns(spec: ModelSpec) -> list[str]:
    return [pattern for _, pattern in spec.parts]


def _from_hf_folder(spec: ModelSpec, src: Source, settings: Settings, local_only: bool) -> Path:
    from huggingface_hub import snapshot_download

    if not local_only and not endpoint_reachable(_hf_endpoint(settings)):
        raise ConnectionError(f"cannot reach {_hf_endpoint(settings)} (offline?)")
    return Path(snapshot_download(repo_id=src.repo, revision=src.revision, repo_type=src.repo_type,
                                  cache_dir=settings.hub_cache_dir, local_files_only=local_only,
                                  allow_patterns=_patterns(spec), endpoint=_hf_endpoint(settings)))  # fmt: skip


def _modelscope_kwargs(src: Source, settings: Settings, local_only: bool) -> dict:
    """Revision and cache arguments for ModelScope calls; fails fast when it is unreachable."""
    if not local_only and not endpoint_reachable(settings.modelscope_endpoint or _MODELSCOPE_ENDPOINT):
        raise ConnectionError("cannot reach ModelScope (offline?)")
    kwargs = {"revision": src.revision} if src.revision else {}
    if settings.hub_cache_dir is not None:
        kwargs["cache_dir"] = str(settings.hub_cache_dir / "modelscope")
    return kwargs


def _from_modelscope_folder(spec: ModelSpec, src: Source, settings: Settings, local_only: bool) -> Path:
    """The repo's files that match the parts' patterns (the repo's own file list decides the
    names, which differ between DCT-Net families)."""
    try:
        from modelscope.hub.snapshot_download import snapshot_download
    except ImportError as exc:
        raise RuntimeError("the 'modelscope' package is not installed (pip install modelscope)") from exc
    kwargs = _modelscope_kwargs(src, settings, local_only)
    folder = Path(snapshot_download(src.repo, allow_patterns=_patterns(spec), local_files_only=local_only, **kwargs))
    missing = [p for p in _patterns(spec) if not any(folder.rglob(p))]
    if missing:
        raise FileNotFoundError(f"{src.repo} has no file matching {missing}")
    return folder


def _from_modelscope(_spec: ModelSpec, src: Source, settings: Settings, local_only: bool) -> Path:
    try:
        from modelscope.hub.file_download import model_file_download
    except ImportError as exc:
        raise RuntimeError("the 'modelscope' package is not installed (pip install modelscope)") from exc
    kwargs = _modelscope_kwargs(src, settings, local_only)
    if local_only:
        kwargs["local_files_only"] = True
    return Path(model_file_download(src.repo, src.file, **kwargs))


_FETCHERS = {"hf": _from_hf, "modelscope": _from_modelscope}
_FOLDER_FETCHERS = {"hf": _from_hf_folder, "modelscope": _from_modelscope_folder}


def _fetch(spec: ModelSpec, src: Source, settings: Settings, local_only: bool) -> Path:
    fetchers = _FOLDER_FETCHERS if spec.is_folder else _FETCHERS
    return fetchers[src.kind](spec, src, settings, local_only)


def _reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


def _local_state(spec: ModelSpec, path: Path) -> str:
    """'present', 'absent' or 'unreadable: <reason>' for a local candidate. A folder or file
    the process may not read (chmod 000, a parent that is a file, a dead network mount) is
    'unreadable', never an exception: one bad models folder must not stop the app."""
    try:
        if not (path.is_dir() if spec.is_folder else path.is_file()):
            return "absent"
        if spec.is_folder:
            next(path.iterdir(), None)
        else:
            with path.open("rb"):
                pass
    except OSError as exc:
        log.warning("model location %s is unreadable: %s", path, exc)
        return f"unreadable: {_reason(exc)}"
    return "present"


def _present(spec: ModelSpec, path: Path) -> bool:
    return _local_state(spec, path) == "present"


_ABSOLUTE_PATH = re.compile(r"(?<![\w:/])/(?:[^\s'\"/]+/)+([^\s'\"/]*)")


def _short(exc: BaseException) -> str:
    """The first line of a source's failure, with any server path cut to its last part."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1) or "(folder)", text)[:160]


def _find_cached(spec: ModelSpec, settings: Settings) -> tuple[Path | None, list[str]]:
    """(path or None, why files that exist could not be used: unreadable or damaged)."""
    problems: list[str] = []
    for path in local_candidates(spec, settings):
        state = _local_state(spec, path)
        if state == "present":
            state = _damaged(spec, path) or state
        if state == "present":
            return path, problems
        if state != "absent":
            problems.append(f"{path.name} in the models folder is {state}" if state.startswith("unreadable")
                            else state)  # fmt: skip
    for src in spec.sources:
        try:
            path = _fetch(spec, src, settings, True)
        except Exception:  # noqa: BLE001 - "not cached" comes in many shapes (unreadable cache too); all mean no
            continue
        if (problem := _damaged(spec, path)) is None:
            return path, problems
        problems.append(problem)
    return None, problems


def find_cached(spec: ModelSpec, settings: Settings | None = None) -> Path | None:
    """Where the model is already on disk (local dir or hub cache), without any network.
    Locations that cannot be read count as absent (and are logged)."""
    return _find_cached(spec, settings or Settings.from_env())[0]


def resolve_model(spec: ModelSpec, settings: Settings | None = None) -> Path:
    """Path of a verified local file for `spec`, downloading it when allowed."""
    settings = settings or Settings.from_env()
    if spec.builtin:
        raise ValueError(f"'{spec.name}' is built in and has no file.")
    tried: list[str] = []
    for path in local_candidates(spec, settings):
        state = _local_state(spec, path)
        if state == "present":
            return path if spec.is_folder else _check(spec, path, delete_on_mismatch=False)
        log.info("model %s: local candidate %s is %s", spec.name, path, state)
        tried.append(f"local file {path.name} ({state})")
    if not settings.models_dirs:
        tried.append("local models directory (ANIMEFY_MODELS_DIR not set)")
    modes = [True] if settings.offline else [True, False]
    for local_only in modes:
        for src in spec.sources:
            try:
                path = _fetch(spec, src, settings, local_only)
            except Exception as exc:  # noqa: BLE001 - recorded and reported below
                if not local_only:
                    tried.append(f"{src.describe()} ({_short(exc)})")
                continue
            return path if spec.is_folder else _check(spec, path, delete_on_mismatch=True)
    if settings.offline:
        tried.append("downloads (skipped: offline mode)")
    raise ModelUnavailableError(spec.name, tried, _hint(spec))


def _hint(spec: ModelSpec) -> str:
    if spec.is_folder:
        fix = (f"Put a folder '{spec.filename}' holding " + ", ".join(_patterns(spec))
               + " inside the folder named by ANIMEFY_MODELS_DIR")  # fmt: skip
    else:
        fix = f"Put '{spec.filename}' in a folder and set ANIMEFY_MODELS_DIR to it"
    if spec.sources:
        fix += f", or connect to the internet and run `python -m animefy download {spec.name}`"
    else:
        fix += " (this checkpoint has no known public hub mirror)"
    return fix + "."


class Availability(str):
    """What `availability` returns: a plain string ('built-in', 'local: PATH', 'cached: PATH'
    or 'missing'), so `== "missing"` checks keep working, carrying `reason` when the model is
    missing because a file could not be used: unreadable ('tiny.onnx in the models folder is
    unreadable: permission denied') or damaged ("damaged: 'tiny.onnx' does not match its
    checksum"). `str(a.detail)` is the string plus that reason; `status` is one word for
    clients (no server path): built-in, ready, damaged or missing."""

    reason: str | None

    def __new__(cls, value: str, reason: str | None = None) -> Availability:
        obj = super().__new__(cls, value)
        obj.reason = reason
        return obj

    @property
    def available(self) -> bool:
        return self != "missing"

    @property
    def damaged(self) -> bool:
        return not self.available and "damaged:" in (self.reason or "")

    @property
    def status(self) -> str:
        if self.available:
            return "built-in" if self == "built-in" else "ready"
        return "damaged" if self.damaged else "missing"

    def public(self) -> dict:
        """For clients: {"available": bool, "status": word}."""
        return {"available": self.available, "status": self.status}

    @property
    def detail(self) -> str:
        if self.damaged:
            return f"damaged ({self.reason.removeprefix('damaged: ')})"
        return f"{self} ({self.reason})" if self.reason else str(self)


def availability(spec: ModelSpec, settings: Settings | None = None) -> Availability:
    """'built-in', 'local: PATH', 'cached: PATH' or 'missing' (with `.reason` when a file was
    unreadable or damaged: a file that fails its checksum is not available), looking at disk
    only; never raises for an unreadable folder."""
    if spec.builtin:
        return Availability("built-in")
    settings = settings or Settings.from_env()
    path, problems = _find_cached(spec, settings)
    if path is None:
        return Availability("missing", "; ".join(problems) or None)
    kind = "local" if any(Path(os.path.dirname(path)) == d for d in settings.models_dirs) else "cached"
    return Availability(f"{kind}: {path}")
