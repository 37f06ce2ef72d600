from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from ci_skips import missing, pytest_make_collect_report, pytest_runtest_makereport  # noqa: E402, F401
from tiny_models import affine_stylizer, red_is_person_rvm, write_catalog  # noqa: E402

ARTIFACTS = pytest.StashKey[Path]()


def pytest_terminal_summary(terminalreporter, config):
    folder = config.stash.get(ARTIFACTS, None)
    if folder is not None and any(folder.iterdir()):
        terminalreporter.write_line(f"test artifacts (screenshots): {folder}")


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory, pytestconfig) -> Path:
    """Where tests leave files worth a look afterwards (browser screenshots): the folder named by
    ANIMEFY_TEST_ARTIFACTS, else one in pytest's temporary folder (pytest keeps the last three
    runs'); never the checkout. The run's summary names it."""
    named = os.environ.get("ANIMEFY_TEST_ARTIFACTS")
    folder = Path(named).resolve() if named else tmp_path_factory.mktemp("artifacts", numbered=False)
    folder.mkdir(parents=True, exist_ok=True)
    pytestconfig.stash[ARTIFACTS] = folder
    return folder


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No test sees the developer's settings, model folders, caches or the network, nor the
    models another test loaded."""
    from animefy.models import registry

    for name in list(os.environ):
        if (name.startswith("ANIMEFY_") and not name.startswith("ANIMEFY_TEST_")) or name in (
            "HF_ENDPOINT",
            "MODELSCOPE_DOMAIN",
            "SPACES_ZERO_GPU",
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ANIMEFY_OFFLINE", "1")
    monkeypatch.setenv("ANIMEFY_CACHE_DIR", str(tmp_path / "animefy_cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    registry.clear()
    yield
    registry.clear()


@pytest.fixture
def shared() -> Path:
    if not (SHARED / "models").is_dir() or not (SHARED / "media").is_dir():
        pytest.skip("../shared/models and ../shared/media are absent: real-model tests need them")
    return SHARED


@pytest.fixture
def real_models(shared, monkeypatch) -> Path:
    monkeypatch.setenv("ANIMEFY_MODELS_DIR", str(shared / "models"))
    return shared


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_tiny_models(folder: Path, catalog: Path, darken: bool = True) -> Path:
    """Tiny stylizers (invert, optionally darken) and a red-is-person matter in `folder`,
    registered in the user catalog file `catalog`."""
    affine_stylizer(folder / "invert.onnx", scale=(-1, -1, -1))
    red_is_person_rvm(folder / "tiny_rvm.onnx")
    common = {"role": "stylize", "layout": "NHWC", "color": "RGB", "value_range": [-1, 1], "licence": "test"}
    entries = {
        "invert": {**common, "filename": "invert.onnx", "display": "Invert", "display_zh": "反色"},
        "rvm": {
            "role": "matte",
            "format": "rvm",
            "filename": "tiny_rvm.onnx",
            "display": "Tiny cut-out",
            "display_zh": "小抠图",
            "layout": "NCHW",
            "value_range": [0, 1],
            "licence": "test",
        },
    }
    if darken:
        affine_stylizer(folder / "darken.onnx", scale=(0.5, 0.5, 0.5), bias=(-0.5, -0.5, -0.5))
        entries["darken"] = {**common, "filename": "darken.onnx", "display": "Darken", "display_zh": "变暗"}
    write_catalog(catalog, entries)
    return folder


@pytest.fixture
def tiny_setup(tmp_path, monkeypatch):
    """A models dir with tiny stylizers + a red-is-person matter, registered through a user
    catalog; returns the dir."""
    models = make_tiny_models(tmp_path / "models", tmp_path / "catalog.toml")
    monkeypatch.setenv("ANIMEFY_MODELS_DIR", str(models))
    monkeypatch.setenv("ANIMEFY_CATALOG", str(tmp_path / "catalog.toml"))
    return models


def person_on_green(h: int = 96, w: int = 128) -> np.ndarray:
    """Synthetic frame: a red 'person' rectangle (the tiny matter's person) on green."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 1] = 160
    img[h // 4 : h, w // 3 : 2 * w // 3] = (230, 40, 40)
    return img


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """`python app.py` on 127.0.0.1 with tiny models (or the real ones when
    ANIMEFY_TEST_REAL_MODELS=1 and ../shared exists). Yields (base_url, env, log_path).

    The app gets a temp folder (TMPDIR) and a working directory (PWD) of its own and writes its
    results to a third folder beside them: Gradio serves files from its temp folder, its working
    directory and `allowed_paths` only, so results come back only because the app allows its
    output folder, wherever the checkout and the system temp folder are."""
    import subprocess
    import time
    import urllib.request

    root = tmp_path_factory.mktemp("app")
    models = make_tiny_models(root / "models", root / "catalog.toml", darken=False)
    for folder in ("tmp", "cwd"):
        (root / folder).mkdir()
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GRADIO_SERVER_PORT": str(port),
        "TMPDIR": str(root / "tmp"),
        "PWD": str(root / "cwd"),
        "ANIMEFY_OFFLINE": "1",
        "ANIMEFY_OUTPUT_DIR": str(root / "outputs"),
        "ANIMEFY_MAX_UPLOAD_MB": "2",
        "ANIMEFY_RATE_LIMIT": "1000",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HOME": str(root / "hf"),
        "ANIMEFY_CACHE_DIR": str(root / "cache"),
    }
    env.pop("GRADIO_TEMP_DIR", None)  # Gradio's own temp folder: under TMPDIR
    if os.environ.get("ANIMEFY_TEST_REAL_MODELS") == "1" and (SHARED / "models").is_dir():
        env.update(ANIMEFY_MODELS_DIR=str(SHARED / "models"), ANIMEFY_DEFAULT_STYLE="shinkai_v3")
    else:
        env.update(
            ANIMEFY_MODELS_DIR=str(models), ANIMEFY_CATALOG=str(root / "catalog.toml"), ANIMEFY_DEFAULT_STYLE="invert"
        )
    log = (root / "app.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")], cwd=env["PWD"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    # The app says when it is ready; from then on the UI and the REST API both answer.
    while "REST API ready" not in (root / "app.log").read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("app did not start:\n" + (root / "app.log").read_text()[-3000:])
        time.sleep(0.25)
    urllib.request.urlopen(base + "/api/v1/health", timeout=5)
    yield base, env, root / "app.log"
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def model_calls(monkeypatch):
    """Counts the frames every stylizer is called on: {style name: [frames per call, ...]}.
    Wraps the models the pipeline loads through the registry, whatever their engine."""
    import animefy.image.pipeline as pipeline

    calls: dict[str, list[int]] = {}
    real_load = pipeline.load

    class Counting:
        def __init__(self, name, model):
            self.name, self.model, self.caps = name, model, model.caps

        def __getattr__(self, attr):
            return getattr(self.model, attr)

        def __call__(self, frames, *args, **kw):
            calls.setdefault(self.name, []).append(1 if frames.ndim == 3 else len(frames))
            return self.model(frames, *args, **kw)

    def load(name, role, *args, **kw):
        model = real_load(name, role, *args, **kw)
        return Counting(name, model) if role == "stylize" else model

    monkeypatch.setattr(pipeline, "load", load)
    return calls
