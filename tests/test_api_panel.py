"""The page's API panel works as shown: for every named endpoint, the Python snippet the panel
displays (Gradio's /info, which the panel renders) runs as it is, from the repository folder,
against the app on 127.0.0.1; every parameter and result is described in words (no
translation keys, no 'value_27'); no choice is offered that cannot work."""

from __future__ import annotations

import subprocess
import sys

import httpx
from conftest import ROOT


def _info(app_server) -> dict:
    return httpx.get(app_server[0] + "/gradio_api/info", timeout=30).json()


def test_every_endpoints_snippet_runs_as_shown(app_server, tmp_path):
    endpoints = _info(app_server)["named_endpoints"]
    assert {"/stylize_image", "/animefy", "/stylize_video", "/mix"} <= set(endpoints)
    for name, endpoint in endpoints.items():
        snippet = endpoint["code_snippets"]["python"]
        assert "raw.githubusercontent" not in snippet and "github.com" not in snippet, snippet
        run = subprocess.run([sys.executable, "-c", snippet], cwd=ROOT, capture_output=True, text=True, timeout=300,
                             env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})  # fmt: skip
        assert run.returncode == 0, f"{name}:\n{snippet}\n{run.stderr[-2000:]}"
        assert run.stdout.strip(), name


def test_parameters_and_results_are_described_in_words(app_server):
    for name, endpoint in _info(app_server)["named_endpoints"].items():
        assert endpoint["description"], name
        for item in endpoint["parameters"] + endpoint["returns"]:
            text = f"{item['label']} {item['python_type']['description']}"
            assert "__i18n__" not in text and "value_" not in text and "object Object" not in text, (name, text)
            assert item["python_type"]["description"], (name, item)
    quick = {p["parameter_name"]: p for p in _info(app_server)["named_endpoints"]["/animefy"]["parameters"]}
    assert "image" not in quick["background"]["python_type"]["type"]  # no picture can be sent there
