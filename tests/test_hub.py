"""Model resolution: local dir, prepared Hugging Face cache, a local HTTP 'hub', missing models
and checksum mismatches, all with tiny models made here."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import pytest
from conftest import sha256
from tiny_models import affine_stylizer, write_catalog

from animefy.errors import ChecksumError, InputError, ModelUnavailableError, UnknownNameError
from animefy.models.catalog import load_catalog, parse_catalog
from animefy.models.hub import availability, resolve_model
from animefy.settings import Settings


def _spec(tmp_path: Path, **fields):
    base = {
        "role": "stylize",
        "filename": "tiny.onnx",
        "layout": "NHWC",
        "color": "RGB",
        "value_range": [-1, 1],
        "licence": "test",
        "sources": [{"hf": "acme/tiny", "file": "tiny.onnx"}],
    }
    base.update(fields)
    write_catalog(tmp_path / "cat.toml", {"tiny": base})
    return parse_catalog((tmp_path / "cat.toml").read_text())["tiny"]


def test_package_catalog_has_every_role_and_licences():
    catalog = load_catalog(Settings())
    for role in ("stylize", "matte", "face", "upscale"):
        assert catalog.names(role), role
    for spec in catalog.models.values():
        assert spec.licence and spec.licence != "unknown", spec.name
        assert spec.builtin or spec.filename
    assert catalog.get("rvm").sha256.startswith("88d45312")
    assert catalog.get("hayao_v3").fixed_size == (512, 512)
    assert catalog.get("whitebox_cartoon").color == "BGR"


def test_unknown_style_suggests_closest():
    with pytest.raises(UnknownNameError, match="Did you mean 'shinkai'"):
        load_catalog(Settings()).get("shinkay", "stylize")


def test_bad_user_catalog_is_a_clear_error(tmp_path):
    (tmp_path / "bad.toml").write_text('[models.x]\nrole = "paint"\nfilename = "x.onnx"\n')
    with pytest.raises(InputError, match="role"):
        load_catalog(Settings(user_catalog=tmp_path / "bad.toml"))
    (tmp_path / "typo.toml").write_text('[models.x]\nrole = "stylize"\nfilname = "x.onnx"\n')
    with pytest.raises(InputError, match="unknown keys"):
        load_catalog(Settings(user_catalog=tmp_path / "typo.toml"))


def test_local_dir_first_and_checksum_verified(tmp_path):
    models = tmp_path / "m"
    f = affine_stylizer(models / "tiny.onnx")
    spec = _spec(tmp_path, sha256=sha256(f))
    settings = Settings(models_dirs=(models,), offline=True)
    assert resolve_model(spec, settings) == f
    assert availability(spec, settings).startswith("local:")


def test_local_checksum_mismatch_refused_but_user_file_kept(tmp_path):
    models = tmp_path / "m"
    f = affine_stylizer(models / "tiny.onnx")
    spec = _spec(tmp_path, sha256="0" * 64)
    with pytest.raises(ChecksumError, match="expected 0000"):
        resolve_model(spec, Settings(models_dirs=(models,), offline=True))
    assert f.exists(), "a file the user put in the models dir must never be deleted"


def _prepare_hf_cache(cache: Path, repo: str, filename: str, src: Path) -> Path:
    """The on-disk layout huggingface_hub uses: blobs/, snapshots/<commit>/, refs/main."""
    folder = cache / ("models--" + repo.replace("/", "--"))
    commit = "a" * 40
    blob = folder / "blobs" / hashlib.sha256(src.read_bytes()).hexdigest()
    blob.parent.mkdir(parents=True)
    shutil.copy(src, blob)
    snap = folder / "snapshots" / commit / filename
    snap.parent.mkdir(parents=True)
    snap.symlink_to(Path("../../blobs") / blob.name)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    return snap


def test_prepared_hub_cache_is_used_offline(tmp_path):
    src = affine_stylizer(tmp_path / "src.onnx")
    cache = tmp_path / "hub"
    snap = _prepare_hf_cache(cache, "acme/tiny", "tiny.onnx", src)
    spec = _spec(tmp_path, sha256=sha256(src))
    path = resolve_model(spec, Settings(hub_cache_dir=cache, offline=True))
    assert path.resolve() == snap.resolve()
    assert availability(spec, Settings(hub_cache_dir=cache)).startswith("cached:")


def test_corrupt_cached_download_is_deleted(tmp_path):
    src = affine_stylizer(tmp_path / "src.onnx")
    cache = tmp_path / "hub"
    snap = _prepare_hf_cache(cache, "acme/tiny", "tiny.onnx", src)
    blob = snap.resolve()
    spec = _spec(tmp_path, sha256="f" * 64)
    with pytest.raises(ChecksumError, match="deleted"):
        resolve_model(spec, Settings(hub_cache_dir=cache, offline=True))
    assert not blob.exists()


def test_missing_everywhere_names_model_sources_and_fix(tmp_path):
    spec = _spec(tmp_path)
    with pytest.raises(ModelUnavailableError) as info:
        resolve_model(spec, Settings(models_dirs=(tmp_path / "nothing",), hub_cache_dir=tmp_path / "hub", offline=True))
    text = str(info.value)
    assert "'tiny'" in text and "ANIMEFY_MODELS_DIR" in text and "offline" in text
    assert "python -m animefy download tiny" in text


class _HubHandler(http.server.BaseHTTPRequestHandler):
    """Serves files from a directory in the Hub's URL layout: /<repo>/resolve/<rev>/<file>."""

    root: Path
    hits: list

    def _file(self) -> Path | None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return None
        path = self.root / parts[0] / parts[1] / "/".join(parts[4:])
        return path if path.is_file() else None

    def _headers(self, path: Path) -> None:
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
        self.send_header("X-Repo-Commit", "b" * 40)
        self.end_headers()

    def do_HEAD(self):
        path = self._file()
        self.hits.append(("HEAD", self.path))
        if path is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.end_headers()
            return
        self._headers(path)

    def do_GET(self):
        path = self._file()
        self.hits.append(("GET", self.path))
        if path is None:
            self.send_response(404)
            self.end_headers()
            return
        self._headers(path)
        self.wfile.write(path.read_bytes())

    def log_message(self, *args):
        pass


@pytest.fixture
def local_hub(tmp_path, monkeypatch):
    root = tmp_path / "served"
    handler = type("H", (_HubHandler,), {"root": root, "hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")  # huggingface_hub's own switch, read by it
    yield root, handler.hits, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_download_from_a_local_hub_server_then_cached(tmp_path, local_hub):
    root, hits, endpoint = local_hub
    src = affine_stylizer(root / "acme" / "tiny" / "tiny.onnx")
    spec = _spec(tmp_path, sha256=sha256(src))
    settings = Settings(hub_cache_dir=tmp_path / "cache", offline=False, hf_endpoint=endpoint)
    path = resolve_model(spec, settings)
    assert sha256(path) == sha256(src)
    assert any(method == "GET" for method, _ in hits)
    # Second time: straight from the cache, even offline.
    again = resolve_model(spec, Settings(hub_cache_dir=tmp_path / "cache", offline=True, hf_endpoint=endpoint))
    assert again.resolve() == path.resolve()


def test_download_with_wrong_checksum_is_rejected_and_removed(tmp_path, local_hub):
    root, _, endpoint = local_hub
    affine_stylizer(root / "acme" / "tiny" / "tiny.onnx")
    spec = _spec(tmp_path, sha256="1" * 64)
    with pytest.raises(ChecksumError):
        resolve_model(spec, Settings(hub_cache_dir=tmp_path / "cache", offline=False, hf_endpoint=endpoint))
    assert not list((tmp_path / "cache").rglob("blobs/*"))


def test_unreachable_hub_fails_fast_with_clear_error(tmp_path, monkeypatch):
    import time

    spec = _spec(tmp_path)
    start = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="cannot reach"):
        resolve_model(spec, Settings(hub_cache_dir=tmp_path / "cache", offline=False, hf_endpoint="http://127.0.0.1:9"))
    assert time.monotonic() - start < 10
