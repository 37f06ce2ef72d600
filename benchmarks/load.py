"""Load test of the served app (issue 20): `python app.py` started here on a free loopback
port with an output folder of its own, then `--clients` concurrent clients for `--seconds`
send photos (`POST /api/v1/image`) and short videos (`POST /api/v1/video`, polled until done)
in a mix, in the built-in `cel` style (no download, fast, so the numbers are about serving).
Loopback only, bounded in time; prints tables, not a test.

    python benchmarks/load.py [--clients 8] [--seconds 600] [--video-share 0.2]

Prints: every error (status and code); photo latency p50/p95 alone (one client, before the
load) and, under load: photos only first (`--photos-only` seconds, the same clients, no video), then the mix,
where photos that overlapped a video job and those that did not are counted apart;
video jobs done and their time; the server's RSS (VmRSS of the app process) every 10 s, and
the mean of the first minute against the last minute.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "examples" / "astronaut.jpg"
CLIP = ROOT / "examples" / "astronaut_pan.mp4"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANIMEFY_")}
    env.update(PYTHONPATH=str(ROOT), GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1",
               GRADIO_ANALYTICS_ENABLED="False", ANIMEFY_OFFLINE="1", ANIMEFY_OUTPUT_DIR=str(folder),
               ANIMEFY_CACHE_DIR=str(folder / "cache"), ANIMEFY_RATE_LIMIT="1000000", ANIMEFY_DEFAULT_STYLE="cel")  # fmt: skip
    log = folder / "app.log"
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=folder, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 300
    while "REST API ready" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            sys.exit("app did not start:\n" + log.read_text(errors="replace")[-3000:])
        time.sleep(0.25)
    return proc, f"http://127.0.0.1:{port}/api/v1"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Load:
    def __init__(self, base: str, video_share: float) -> None:
        self.base, self.video_share = base, video_share
        self.photo, self.clip = PHOTO.read_bytes(), CLIP.read_bytes()
        self.lock = threading.Lock()
        self.videos_running = 0
        self.photos: list[tuple[float, bool]] = []  # (seconds, overlapped a video job)
        self.videos: list[float] = []
        self.errors: Counter[str] = Counter()

    def error(self, what: str, r: httpx.Response | Exception) -> None:
        if isinstance(r, Exception):
            key = f"{what}: {type(r).__name__}"
        else:
            key = f"{what}: {r.status_code} {r.json().get('error', {}).get('code') if r.content[:1] == b'{' else ''}"
        with self.lock:
            self.errors[key] += 1

    def one_photo(self, client: httpx.Client) -> float | None:
        with self.lock:
            overlapped = self.videos_running > 0
        start = time.monotonic()
        try:
            r = client.post(self.base + "/image", files={"file": ("p.jpg", self.photo)},
                            data={"person_style": "cel"})  # fmt: skip
        except httpx.HTTPError as exc:
            return self.error("photo", exc)
        took = time.monotonic() - start
        if r.status_code != 200:
            return self.error("photo", r)
        with self.lock:
            overlapped = overlapped or self.videos_running > 0
            self.photos.append((took, overlapped))
        return took

    def one_video(self, client: httpx.Client) -> None:
        with self.lock:
            self.videos_running += 1
        start = time.monotonic()
        try:
            r = client.post(self.base + "/video", files={"file": ("c.mp4", self.clip)}, data={"person_style": "cel"})
            if r.status_code != 202:
                return self.error("video submit", r)
            url = self.base + "/jobs/" + r.json()["job_id"]
            while (status := client.get(url).json())["status"] in ("queued", "running"):
                time.sleep(0.5)
            if status["status"] != "done":
                return self.error(f"video {status['status']}", httpx.Response(500, json=status))
            r = client.get(url + "/result")
            if r.status_code != 200:
                return self.error("video result", r)
            with self.lock:
                self.videos.append(time.monotonic() - start)
        except httpx.HTTPError as exc:
            self.error("video", exc)
        finally:
            with self.lock:
                self.videos_running -= 1

    def client(self, seed: int, until: float) -> None:
        rng = random.Random(seed)
        with httpx.Client(timeout=600) as client:
            while time.monotonic() < until:
                self.one_video(client) if rng.random() < self.video_share else self.one_photo(client)


def run_clients(load: Load, clients: int, seconds: float) -> None:
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=load.client, args=(i, until)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def row(name: str, values: list[float]) -> str:
    if not values:
        return f"| {name} | 0 | | |"
    return f"| {name} | {len(values)} | {pct(values, 50):.2f} | {pct(values, 95):.2f} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--video-share", type=float, default=0.2, help="share of a client's requests that are videos")
    ap.add_argument("--alone", type=int, default=10, help="photos sent one by one before the load")
    ap.add_argument("--photos-only", type=float, default=60, help="seconds of photo-only load before the mix")
    args = ap.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="animefy_load_"))
    proc, base = start_app(folder)
    rss: list[tuple[float, float]] = []
    try:
        load = Load(base, args.video_share)
        with httpx.Client(timeout=600) as client:
            load.one_photo(client)  # warm-up, not counted
            load.photos.clear()
            alone = [t for _ in range(args.alone) if (t := load.one_photo(client)) is not None]
        load.photos.clear()
        video_share, load.video_share = load.video_share, 0.0
        run_clients(load, args.clients, args.photos_only)
        photos_only, load.photos, load.video_share = [t for t, _ in load.photos], [], video_share
        start = time.monotonic()
        until = start + args.seconds
        threads = [threading.Thread(target=load.client, args=(i, until)) for i in range(args.clients)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            rss.append((time.monotonic() - start, rss_mb(proc.pid)))
            time.sleep(10)
        for t in threads:
            t.join()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)

    print(f"\n{args.clients} clients, {args.seconds:.0f} s, video share {args.video_share}, style cel, "
          f"{os.cpu_count()} cores\n")  # fmt: skip
    print("| photos | n | p50 s | p95 s |\n|---|---|---|---|")
    print(row("alone (one client, no load)", alone))
    print(row(f"{args.clients} clients, photos only", photos_only))
    print(row("under load, while a video job ran", [t for t, v in load.photos if v]))
    print(row("under load, no video job running", [t for t, v in load.photos if not v]))
    print(row("video jobs (submit to result)", load.videos))
    errors = sum(load.errors.values())
    print(f"\nerrors: {errors}" + "".join(f"\n  {k}: {n}" for k, n in load.errors.most_common()))
    if alone and (during := [t for t, v in load.photos if v]):
        print(f"photo p95 while a video runs / p95 alone: {pct(during, 95) / pct(alone, 95):.2f}x; "
              f"/ p95 of the photos-only load: {pct(during, 95) / pct(photos_only, 95):.2f}x")
    print("\n| t (s) | server RSS (MB) |\n|---|---|")
    for t, mb in rss:
        print(f"| {t:.0f} | {mb:.0f} |")
    first = [mb for t, mb in rss if t <= 60]
    last = [mb for t, mb in rss if t >= rss[-1][0] - 60] if rss else []
    if first and last:
        print(f"\nRSS mean, first minute: {statistics.mean(first):.0f} MB; last minute: {statistics.mean(last):.0f} MB "
              f"({statistics.mean(last) / statistics.mean(first) - 1:+.1%})")  # fmt: skip


if __name__ == "__main__":
    main()
