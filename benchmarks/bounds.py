"""Peak memory and time of one photo through the CLI, by shape: issue 20's thin 8000x100
PNG (with the aspect limit lifted, so only the generator's pixel bound holds it), a 3000x400
panorama and an ordinary photo. Prints a table; not a test. Needs the real checkpoints in
../shared/models.

    python benchmarks/bounds.py [--style shinkai_v3] [--sizes 8000x100 3000x400 1024x768]

Each row runs `python -m animefy image` in a child process on random noise of that size
(the worst case for nothing: the models' cost does not depend on content) and reads the
child's own peak RSS from os.wait4. 'model input' is the working size Generator.scale_for
chooses for the loaded (ANIMEFY_MAX_SIDE-limited) image."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def model_input(w: int, h: int, max_side: int = 2048, min_side: int = 384) -> str:
    from animefy.image.stylize import Generator
    from animefy.models.registry import Capabilities

    s0 = min(1.0, max_side / max(w, h))
    lw, lh = max(1, round(w * s0)), max(1, round(h * s0))
    s = Generator("g", lambda x: x, Capabilities("stylize", min_side=min_side)).scale_for(lh, lw)
    return f"{round(lw * s)}x{round(lh * s)}"


def run(size: str, style: str, folder: Path) -> tuple[int, float, float]:
    w, h = (int(v) for v in size.split("x"))
    src, out = folder / f"in_{size}.png", folder / f"out_{size}.png"
    cv2.imwrite(str(src), np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANIMEFY_OFFLINE": "1", "ANIMEFY_MAX_ASPECT": "1000",
           "ANIMEFY_MODELS_DIR": str(ROOT.parent / "shared" / "models")}  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "animefy", "image", str(src), "-o", str(out), "-s", style,
                             "--force"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024**2, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--style", default="shinkai_v3")
    parser.add_argument("--sizes", nargs="+", default=["8000x100", "3000x400", "1024x768"])
    args = parser.parse_args()
    print(f"| photo | model input | exit | peak RSS GB | s |  ({args.style}, CLI child, {os.cpu_count()} cores)")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            w, h = (int(v) for v in size.split("x"))
            rc, gb, seconds = run(size, args.style, Path(tmp))
            print(f"| {size} | {model_input(w, h)} | {rc} | {gb:.2f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
