"""The one request schema and what is generated from it: CLI flags, REST form fields
(OpenAPI), Gradio controls and named-endpoint parameters. Also the pure ffmpeg command
builder and the architecture rules (settings read in one place, no import cycles)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, person_on_green

from animefy.errors import InputError
from animefy.schema import ImageRequest, VideoRequest, field_info, fields


def test_schema_validates_once_with_messages_naming_the_valid_values():
    with pytest.raises(InputError, match="background must be 'keep', 'transparent', 'color' or 'image'"):
        ImageRequest(background="/etc/passwd")
    with pytest.raises(InputError, match="#RRGGBB"):
        ImageRequest(background_colour="red")
    with pytest.raises(InputError, match="'colour' is not an option; known options: person_style"):
        ImageRequest(colour="#ffffff")
    with pytest.raises(InputError, match="strength"):
        VideoRequest(strength=1.5)
    assert VideoRequest(hold="2").hold == 2 and VideoRequest(strength="0.5").strength == 0.5
    with pytest.raises(InputError, match="variations apply to a kept or replaced background"):
        ImageRequest(background="transparent", background_variation="night").check()
    assert field_info(VideoRequest, "hold")["choices"] == (1, 2, 3)


def test_cli_has_a_flag_for_every_schema_field():
    from animefy.app.cli import build_parser, request_from_args

    parser = build_parser()
    for command, cls in (("image", ImageRequest), ("video", VideoRequest)):
        sub = parser._subparsers._group_actions[0].choices[command]
        dests = {a.dest for a in sub._actions}
        assert {f["name"] for f in fields(cls)} <= dests, command
    args = parser.parse_args(["video", "in.mp4", "-o", "o.mp4", "-f", "cute_v3", "--background-variation", "night",
                              "--hold", "2", "--no-glitch-repair"])  # fmt: skip
    request = request_from_args(args, VideoRequest)
    assert (request.face_style, request.background_variation, request.hold, request.glitch_repair) == (
        "cute_v3", "night", 2, False)  # fmt: skip
    with pytest.raises(SystemExit):
        parser.parse_args(["video", "in.mp4", "-o", "o.mp4", "--hold", "5"])


def test_cli_help_shows_every_command():
    for command in ("image", "video", "models", "download"):
        res = subprocess.run([sys.executable, "-m", "animefy", command, "--help"], capture_output=True, text=True,
                             cwd=ROOT, timeout=60)  # fmt: skip
        assert res.returncode == 0 and "usage:" in res.stdout and "Traceback" not in res.stderr, command


def test_cli_parser_imports_nothing_heavy():
    code = "import sys; from animefy.app.cli import build_parser; build_parser(); print(sorted(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    for heavy in ("cv2", "onnxruntime", "torch", "gradio"):
        assert f"'{heavy}'" not in out, heavy


def test_rest_form_has_every_schema_field():
    from fastapi.testclient import TestClient

    from animefy.app.rest import create_rest_app, form_fields

    app = create_rest_app()
    spec = app.openapi()
    bodies = {name: schema for name, schema in spec["components"]["schemas"].items() if name.startswith("Body_")}
    image = form_fields(spec, next(s for n, s in bodies.items() if "image" in n))
    video = form_fields(spec, next(s for n, s in bodies.items() if "video" in n))
    assert {f["name"] for f in fields(ImageRequest)} <= set(image)
    assert {f["name"] for f in fields(VideoRequest)} <= set(video)
    assert "face_style" in video and "background_variation" in video  # video got them from the schema
    docs = TestClient(app).get("/docs").text  # the local docs page lists them too, with no external assets
    assert "background_variation" in docs and "hold" in docs and "https://" not in docs and "<script" not in docs


def test_ui_endpoints_take_the_schema_fields():
    import inspect

    from animefy.app.ui import IMAGE_FIELDS, VIDEO_FIELDS, endpoint
    from animefy.settings import Settings

    handler = endpoint(["video"], VideoRequest, VIDEO_FIELDS, lambda *a, **k: None, Settings())
    params = list(inspect.signature(handler).parameters)
    assert params[0] == "video" and params[1 : 1 + len(VIDEO_FIELDS)] == VIDEO_FIELDS
    assert {"face_style", "background_variation", "strength", "hold"} <= set(VIDEO_FIELDS)
    assert {n for n in ImageRequest.model_fields if field_info(ImageRequest, n)["ui"]} == set(IMAGE_FIELDS)


def test_rest_settings_reach_the_pipeline(tmp_path):
    """The Settings given to the REST app are the ones the pipeline uses (max_side here)."""
    import cv2
    from fastapi.testclient import TestClient

    from animefy.app.rest import create_rest_app
    from animefy.settings import Settings

    client = TestClient(create_rest_app(Settings(max_side=64, offline=True, output_dir=tmp_path / "out")))
    photo = cv2.imencode(".png", person_on_green(96, 128))[1].tobytes()
    r = client.post("/image", files={"file": photo}, data={"person_style": "cel"})
    assert r.status_code == 200, r.text
    png = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert max(png.shape[:2]) == 64 and "downscaled" in r.headers["x-animefy-messages"]


def test_encode_command_builder():
    from animefy.video.io import encode_command

    out = Path("o.mp4")
    cmd = encode_command(out, 64, 48, Fraction(30000, 1001), None)
    assert cmd[cmd.index("-framerate") + 1] == "30000/1001" and cmd[cmd.index("-s") + 1] == "64x48"
    assert cmd[cmd.index("-c:v") + 1] == "libx264" and cmd[cmd.index("-pix_fmt", cmd.index("-c:v")) + 1] == "yuv420p"
    assert "-map" not in cmd and "-c:a" not in cmd and cmd[-1] == "o.mp4"
    with_audio = encode_command(out, 64, 48, Fraction(25), Path("in.mp4"), start=0.2, sar=Fraction(128, 117))
    assert with_audio[with_audio.index("-itsoffset") + 1] == "0.200000"
    assert "1:a:0?" in with_audio and with_audio[with_audio.index("-c:a") + 1] == "aac"
    assert any(a.startswith("setsar=128/117") for a in with_audio)
    webm = encode_command(Path("o.webm"), 64, 48, Fraction(25), None, alpha=True)
    assert webm[webm.index("-c:v") + 1] == "libvpx-vp9" and "yuva420p" in webm and "rgba" in webm
    with pytest.raises(ValueError, match="even size"):
        encode_command(out, 63, 48, Fraction(25), None)


def test_environment_is_read_only_in_settings():
    offenders = []
    for path in (ROOT / "animefy").rglob("*.py"):
        if path.name != "settings.py" and re.search(r"os\.environ|getenv\(", path.read_text()):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


# Function-level imports that may close a cycle (lazy, for start-up cost): (importer, imported).
CYCLE_ALLOWED: set[tuple[str, str]] = set()


def test_no_import_cycles_between_stage_folders():
    """Imports between the package's modules form no cycle, function-level imports included
    (except the explicit CYCLE_ALLOWED pairs); TYPE_CHECKING-only imports do not count."""
    graph: dict[str, set[str]] = {}
    for path in (ROOT / "animefy").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        deps = set()
        tree = ast.parse(path.read_text())
        typing_only = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("animefy"):
                deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("animefy")}
        graph[module] = {d for d in deps if (module, d) not in CYCLE_ALLOWED}

    def visit(node: str, stack: list[str]) -> None:
        if node in stack:
            raise AssertionError("import cycle: " + " -> ".join([*stack[stack.index(node) :], node]))
        for dep in graph.get(node, ()):
            visit(dep, [*stack, node])

    for module in graph:
        visit(module, [])
