"""Files the app writes for clients: uploads (in private folders) and results, all under
settings.output_dir. Nothing stays longer than settings.result_ttl: `sweep` deletes old
results, left-over upload folders and `.part` files of killed runs; `Sweeper` runs it at
start and then periodically."""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from pathlib import Path

from animefy.app.service import output_dir
from animefy.settings import Settings

log = logging.getLogger(__name__)

UPLOAD_PREFIX = "upload_"


def new_upload_folder(settings: Settings) -> Path:
    folder = output_dir(settings) / f"{UPLOAD_PREFIX}{uuid.uuid4().hex[:12]}"
    folder.mkdir()
    return folder


def remove(*paths: Path | None) -> None:
    """Remove upload folders (or single files) on every path out of a request."""
    for path in paths:
        if path is None:
            continue
        target = path.parent if path.parent.name.startswith(UPLOAD_PREFIX) else path
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)


def sweep(settings: Settings, now: float | None = None, startup: bool = False) -> int:
    """Delete what is older than the TTL in the output folder; at start-up also every upload
    folder and `.part` file, which only a killed run leaves. Returns how many entries."""
    folder = settings.output_dir
    if not folder.is_dir():
        return 0
    now = time.time() if now is None else now
    removed = 0
    for entry in folder.iterdir():
        try:
            age = now - entry.stat().st_mtime
        except OSError:
            continue
        debris = ".part" in entry.name or entry.name.startswith(UPLOAD_PREFIX)
        if age > settings.result_ttl or (debris and (startup or age > 3600)):
            remove(entry) if entry.is_file() else shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    if removed:
        log.info("removed %d expired files from %s", removed, folder)
    return removed


class Sweeper:
    """Runs `sweep` now and then every `interval` seconds on a daemon thread."""

    def __init__(self, settings: Settings, interval: float | None = None) -> None:
        self.settings = settings
        self.interval = interval or max(10.0, min(300.0, settings.result_ttl / 4))
        self._stop = threading.Event()
        sweep(settings, startup=True)
        threading.Thread(target=self._run, daemon=True, name="animefy-sweeper").start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                sweep(self.settings)
            except OSError:
                log.exception("sweeping %s failed", self.settings.output_dir)

    def stop(self) -> None:
        self._stop.set()
