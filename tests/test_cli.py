"""The command line as a user runs it: a subprocess, exit codes, messages, files."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
from conftest import ROOT, person_on_green, sha256


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "animefy", *args], capture_output=True, text=True, env=full, timeout=300
    )


def test_version_and_models_listing():
    assert _run("--version").stdout.startswith("animefy ")
    out = _run("models").stdout
    assert "cel" in out and "built-in" in out and "missing" in out and "GPL-3.0" in out


def test_image_command_writes_png_and_timings(tmp_path):
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), person_on_green()[..., ::-1])
    before = sha256(src)
    res = _run("image", str(src), "-o", str(tmp_path / "out.png"), "-s", "cel", "--timings")
    assert res.returncode == 0, res.stderr
    assert "stylize cel" in res.stdout and "total" in res.stdout
    out = cv2.imread(str(tmp_path / "out.png"))
    assert out.shape == (96, 128, 3)
    assert sha256(src) == before


def test_image_command_refuses_to_overwrite(tmp_path):
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), person_on_green())
    existing = tmp_path / "keep.png"
    existing.write_bytes(b"precious")
    res = _run("image", str(src), "-o", str(existing), "-s", "cel")
    assert res.returncode == 2 and "--force" in res.stderr
    assert existing.read_bytes() == b"precious"
    res = _run("image", str(src), "-o", str(src), "-s", "cel", "--force")
    assert res.returncode == 2 and "is the input" in res.stderr


def test_missing_model_and_bad_input_exit_codes(tmp_path):
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), np.zeros((64, 64, 3), np.uint8))
    res = _run("image", str(src), "-o", str(tmp_path / "o.png"), "-s", "hayao", env={"ANIMEFY_OFFLINE": "1"})
    assert res.returncode == 3 and "ANIMEFY_MODELS_DIR" in res.stderr and "Traceback" not in res.stderr
    (tmp_path / "junk.png").write_text("nope")
    res = _run("image", str(tmp_path / "junk.png"), "-o", str(tmp_path / "o.png"), "-s", "cel")
    assert res.returncode == 2 and "not a readable image" in res.stderr and "Traceback" not in res.stderr
