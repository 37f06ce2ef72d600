"""Start-up of the web app: seconds from `python app.py` to the page's first answer (GET / with
200), and to /api/v1/health, with the models in ../shared. Prints a table; not a test.

    python benchmarks/startup.py            # 3 runs
    python benchmarks/startup.py --runs 5

Each run gets its own empty output and cache folders (a fresh start: no example looks made
yet) and a free loopback port; the server is stopped after its first answer.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def one_run(timeout: float) -> tuple[float, float]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "ANIMEFY_MODELS_DIR": str(SHARED / "models"),
               "ANIMEFY_OUTPUT_DIR": str(Path(tmp) / "out"), "ANIMEFY_CACHE_DIR": str(Path(tmp) / "cache"),
               "GRADIO_ANALYTICS_ENABLED": "False"}  # fmt: skip
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        page = api = None
        try:
            while time.monotonic() - start < timeout and (page is None or api is None):
                if proc.poll() is not None:
                    raise SystemExit(f"app.py exited with {proc.returncode}")
                now = time.monotonic() - start
                if page is None and answers(f"http://127.0.0.1:{port}/"):
                    page = now
                if api is None and answers(f"http://127.0.0.1:{port}/api/v1/health"):
                    api = now
                time.sleep(0.1)
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return page or float("nan"), api or float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=120.0)
    args = ap.parse_args()
    rows = [one_run(args.timeout) for _ in range(args.runs)]
    print("| run | page answers (s) | /api/v1/health answers (s) |\n|---|---|---|")
    for i, (page, api) in enumerate(rows, 1):
        print(f"| {i} | {page:.1f} | {api:.1f} |")
    print(f"| median | {statistics.median(r[0] for r in rows):.1f} | {statistics.median(r[1] for r in rows):.1f} |")


if __name__ == "__main__":
    main()
