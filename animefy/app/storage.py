"""The output folder the app writes for clients: uploads (in private folders), results, the
job store and a lock file, all under settings.output_dir.

One server instance owns one folder: `instance(settings)` takes an exclusive fcntl lock on
`.animefy.lock` in it (released by the kernel when the process ends, even on kill -9). A
second server started on a folder that is in use refuses to start, naming the folder: its
start-up sweep would otherwise remove the first one's uploads and partial results. The
first call in a process also recovers the job store: jobs that were running when the
previous server stopped end as `interrupted` (their files removed); queued jobs stay queued.

`sweep` removes the files of ended jobs past settings.result_ttl, other results past the TTL,
and debris (upload folders, `.part` files) that no job holds: at start-up all of it, later
when untouched for an hour. A file a queued or running job holds is never removed."""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

from animefy.app.jobstore import DB_NAME, JobStore
from animefy.app.service import check_output_folder, output_dir
from animefy.errors import ConfigError
from animefy.settings import Settings

log = logging.getLogger(__name__)

UPLOAD_PREFIX = "upload_"
LOCK_NAME = ".animefy.lock"
INFRASTRUCTURE = {LOCK_NAME, DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal"}
DEBRIS_AGE = 3600.0  # an unheld upload folder or .part file untouched this long is a dead run's

INTERRUPTED = {"code": "interrupted",
               "message": "The server restarted while this job was running; submit the clip again."}  # fmt: skip

_stores: dict[Path, JobStore] = {}
_locks: dict[Path, int] = {}
_guard = threading.Lock()


def _lock(folder: Path) -> None:
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise ConfigError(
            f"Another animefy server is using the output folder {folder} (it holds {LOCK_NAME} there). "
            "Give each server a folder of its own with ANIMEFY_OUTPUT_DIR."
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _locks[folder] = fd


def instance(settings: Settings) -> JobStore:
    """This process's claim on the output folder and its job store (locked and recovered on
    the first call, then cached)."""
    folder = check_output_folder(settings).resolve()  # a ConfigError naming the folder when unusable
    with _guard:
        if folder not in _stores:
            _lock(folder)
            store = JobStore(folder)
            for job in store.in_state("running"):
                store.finish(job.id, "interrupted", error=INTERRUPTED, only_if=("running",))
                remove_names(folder, job.names())
                log.warning("video job %s was running when the server stopped: marked interrupted", job.id)
            _stores[folder] = store
        return _stores[folder]


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


def remove_names(folder: Path, names: list[str]) -> None:
    """Remove top-level entries of `folder` by name (files or folders)."""
    for name in names:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def sweep(settings: Settings, now: float | None = None, startup: bool = False) -> int:
    """Delete ended jobs' files past the TTL, unheld results past the TTL and unheld debris
    (all of it at start-up, else when untouched for an hour). Returns how many entries."""
    store = instance(settings)
    folder = store.folder
    now = time.time() if now is None else now
    removed = 0
    for job in store.expired(settings.result_ttl, now):
        remove_names(folder, job.names())
        store.forget(job.id)
        removed += 1
    held = INFRASTRUCTURE | {n for job in store.in_state("queued", "running", "done") for n in job.names()}
    dead = {n for job in store.in_state("failed", "cancelled", "interrupted") for n in job.names()} - held
    for entry in folder.iterdir():
        if entry.name in held:
            continue
        if entry.name in dead:  # e.g. what an encoder orphaned by a killed server finished writing
            remove_names(folder, [entry.name])
            removed += 1
            continue
        try:
            age = now - entry.lstat().st_mtime
        except OSError:
            continue
        debris = ".part" in entry.name or entry.name.startswith(UPLOAD_PREFIX)
        if (debris and (startup or age > max(DEBRIS_AGE, settings.result_ttl))) or (
            not debris and age > settings.result_ttl
        ):
            remove_names(folder, [entry.name])
            removed += 1
    if removed:
        log.info("removed %d expired entries from %s", removed, folder)
    return removed


class Sweeper:
    """The app's start-up: claims the output folder before anything else writes there, runs
    `sweep` at once (start-up rules) and then every `interval` seconds on a daemon thread."""

    def __init__(self, settings: Settings, interval: float | None = None) -> None:
        self.settings = settings
        self.interval = interval or max(5.0, min(300.0, settings.result_ttl / 4))
        self._stop = threading.Event()
        sweep(settings, startup=True)
        threading.Thread(target=self._run, daemon=True, name="animefy-sweeper").start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                sweep(self.settings)
            except Exception:
                log.exception("sweeping %s failed", self.settings.output_dir)

    def stop(self) -> None:
        self._stop.set()
