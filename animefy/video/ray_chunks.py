"""Chunks on Ray (the optional `ray` extra): a pool of actors that each load the models once
and take chunk after chunk; the driver hands out chunks, gathers their progress, writes the
parts and stitches them (animefy/video/chunks.py does the cutting and the stitching).

Data path, chosen for 1080p: the input file goes once into the object store (every actor,
on whatever node, reads it from there and keeps a node-local copy), and each chunk comes back
as its encoded H.264 part (about 1-3 MB a second of 1080p), never as frames: 5 s of raw 1080p
RGB is 933 MB, which would fill a node's object store with a couple of chunks and cost more
to move than to compute. So no shared filesystem is needed, and the only copies made are of
compressed video.

Failures: an actor whose process dies is restarted by Ray (`max_restarts`) and its chunk is
retried there (`max_task_retries`); the other chunks keep their results. Stop (the progress
callback raising, Ctrl-C) kills every actor at once. A missing `ray` package or an address
that does not answer is a RayUnavailableError (exit 2, HTTP 503) before any work starts."""

from __future__ import annotations

import dataclasses
import logging
import os
import resource
import shutil
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from animefy.errors import AnimefyError
from animefy.schema import VideoRequest
from animefy.settings import Settings
from animefy.video.chunks import Chunk, ChunkJob, ChunkProgress, ChunkResult, chunk_suffix, run_chunk, stylize_in_chunks
from animefy.video.pipeline import VideoResult

log = logging.getLogger(__name__)

RESTARTS = 2  # a chunk survives this many dead workers
POLL_S = 0.25  # how often the driver asks the actors how far they are


class RayUnavailableError(AnimefyError):
    """Ray is not installed, or the cluster asked for does not answer."""

    exit_code = 2
    http_status = 503
    code = "ray_unavailable"


def import_ray():
    try:
        import ray
    except ImportError:
        raise RayUnavailableError(
            "Ray is not installed: install the extra (pip install -e '.[ray]', or pip install ray), or run without "
            "--ray."
        ) from None
    return ray


def _answers(address: str, timeout: float = 3.0) -> bool:
    """Whether something listens at host:port (ray://host:port too): a dead address fails in
    seconds here instead of in ray.init's long retries."""
    hostport = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return False
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def cluster_answers(address: str | None, public: bool = True) -> None:
    """RayUnavailableError unless Ray is installed and the cluster at `address` (if any)
    answers; `public`: the message does not name the address."""
    import_ray()
    if address and address != "auto" and not _answers(address):
        where = "this server's Ray cluster" if public else f"the Ray cluster at {address}"
        raise RayUnavailableError(f"{where[0].upper()}{where[1:]} does not answer; check that it is running (ray "
                                  "status), or run without Ray.")  # fmt: skip


_connecting = threading.Lock()  # a server's job threads connect once, not once each


@contextmanager
def ray_session(
    address: str | None = None,
    workers: int = 0,
    object_store_mb: int | None = None,
    public: bool = False,
    keep: bool = False,
) -> Iterator[object]:
    """Ray, connected: the cluster at `address` ("host:port", "ray://host:port"), or else a
    local Ray of `workers` CPUs (0 = all cores) whose files live in a temporary folder. What
    this call started it stops and removes on exit, unless `keep` (a server: the connection
    stays for its next jobs, and jobs running at once share it); a connection made before is
    reused and kept. `public`: the messages do not name the address."""
    ray = import_ray()
    with _connecting:
        started = not ray.is_initialized()
        temp = _connect(ray, address, workers, object_store_mb, public) if started else None
    if not started or keep:
        yield ray
        return
    try:
        yield ray
    finally:
        ray.shutdown()
        if temp:
            shutil.rmtree(temp, ignore_errors=True)


def _connect(ray, address: str | None, workers: int, object_store_mb: int | None, public: bool) -> str | None:
    """ray.init for ray_session; returns the temporary folder of a local Ray (None: a cluster)."""
    cluster_answers(address, public)
    where = "this server's Ray cluster" if public else f"the Ray cluster at {address}"
    import animefy

    temp = None if address else tempfile.mkdtemp(prefix="animefy-ray-")  # short: Ray's sockets live in it
    kw: dict = {"runtime_env": {"py_modules": [animefy]}, "log_to_driver": False, "logging_level": logging.WARNING}
    if temp:
        kw["runtime_env"]["env_vars"] = {"TMPDIR": temp}  # the actors' scratch files go there too
        kw.update(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, _temp_dir=temp)
        if object_store_mb:
            kw["object_store_memory"] = object_store_mb << 20
    try:
        ray.init(address=address or None, **kw)
    except Exception as exc:  # noqa: BLE001 - Ray raises many kinds (ConnectionError, RuntimeError, ...)
        log.warning("ray.init(%s) failed: %s", address, exc)
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
        raise RayUnavailableError(
            f"Could not start or join {where}; run without Ray, or check it (ray status)."
        ) from None
    return temp


class ChunkWorker:
    """A Ray actor (made with ray.remote in `run_on_ray`): loads the request's models once,
    keeps a local copy of the input, and stylizes chunk after chunk. Threaded (two calls at
    once), so `progress` answers while `run` works."""

    def __init__(self, job: ChunkJob) -> None:
        import ray

        from animefy.image.pipeline import Renderer

        self.job, self.done = job, {}
        self.dir = Path(tempfile.mkdtemp(prefix="animefy-worker-"))
        self.src = self.dir / f"input{job.src.suffix}"
        Renderer(job.request, job.settings, job.picture)  # the models load now, once (the registry keeps them)
        context = ray.get_runtime_context()
        self.name = f"pid {os.getpid()}" + (" (restarted)" if context.was_current_actor_reconstructed else "")

    def _progress(self, index: int, frames: int) -> None:
        self.done[index] = frames

    def run(self, chunk: Chunk, source: list) -> tuple[ChunkResult, dict[str, bytes]]:
        """Stylize `chunk`; `source` = [ObjectRef of the input file's bytes], fetched once.
        Returns the result and its files' bytes by role (part, head, tail: see ChunkResult)."""
        import ray

        if not self.src.exists():
            self.src.write_bytes(ray.get(source[0]))
        out = self.dir / f"chunk_{chunk.index:05d}{chunk_suffix(self.job.kind)}"
        self.done[chunk.index] = 0
        try:
            result = run_chunk(self.src, chunk, out, self.job.request, self.job.settings, self.job.picture,
                               self._progress, self.job.batch_size)  # fmt: skip
            data = {role: path.read_bytes() for role, path in result.files().items()}
        finally:
            for path in self.dir.glob(f"{out.stem}*"):
                path.unlink(missing_ok=True)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # (KiB on Linux)
        return dataclasses.replace(result, worker=self.name, peak_rss_mb=rss), data

    def progress(self) -> dict[int, int]:
        return dict(self.done)

    def pid(self) -> int:
        return os.getpid()

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _error(exc: Exception) -> Exception:
    """What a chunk's failure becomes for the user: the library's own typed error when that
    is what the worker raised, else a plain message (the traceback goes to the log)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, AnimefyError):
        return cause
    log.error("a chunk failed on Ray: %s", exc)
    if type(exc).__name__ in ("ActorDiedError", "ActorUnavailableError", "RayActorError"):
        return RayUnavailableError(f"A Ray worker died {RESTARTS + 1} times on the same chunk; the job was stopped.")
    return RuntimeError("A chunk failed on a Ray worker; see the log.")


class RayPool:
    """The actors of one clip and the chunks they are working on (tests and the benchmark
    look at `busy()` and the actors' pids)."""

    def __init__(self, ray, job: ChunkJob, workers: int) -> None:
        self.ray = ray
        gpus = ray.cluster_resources().get("GPU", 0)
        options = {"num_cpus": 1, "num_gpus": 1 if gpus >= 1 else 0, "max_concurrency": 2,
                   "max_restarts": RESTARTS, "max_task_retries": RESTARTS}  # fmt: skip
        actor = ray.remote(**options)(ChunkWorker)
        self.source = ray.put(job.src.read_bytes())  # once for all actors, whatever their node
        self.actors = [actor.remote(job) for _ in range(workers)]
        self.running: dict = {}  # ObjectRef -> (actor, chunk)
        self.submitted: dict[int, int] = {}  # chunk index -> times the driver handed it out

    def busy(self) -> list[tuple[object, Chunk]]:
        return list(self.running.values())

    def submit(self, actor, chunk: Chunk) -> None:
        self.running[actor.run.remote(chunk, [self.source])] = (actor, chunk)
        self.submitted[chunk.index] = self.submitted.get(chunk.index, 0) + 1

    def poll(self, progress: ChunkProgress) -> None:
        """Pass on how far each busy actor is (an actor being restarted just does not answer)."""
        asked = {a.progress.remote(): a for a, _ in self.running.values()}
        ready, _ = self.ray.wait(list(asked), num_returns=len(asked), timeout=POLL_S)
        for ref in ready:
            try:
                done = self.ray.get(ref)
            except Exception:  # noqa: BLE001 - a dying actor; its chunk's own result will say what happened
                continue
            for index, frames in done.items():
                progress(index, frames)

    def kill(self) -> None:
        for a in self.actors:
            self.ray.kill(a, no_restart=True)

    def close(self) -> None:
        """Remove the actors' scratch files, then end them."""
        try:
            self.ray.wait([a.close.remote() for a in self.actors], num_returns=len(self.actors), timeout=10)
        finally:
            self.kill()


def run_on_ray(
    job: ChunkJob,
    chunks: list[Chunk],
    work: Path,
    progress: ChunkProgress,
    workers: int = 0,
    on_pool: Callable[[RayPool], None] | None = None,
) -> list[ChunkResult]:
    """A chunks runner (see chunks.Runner) on the connected Ray: `workers` actors (0 = one per
    GPU of the cluster, else per CPU), never more than chunks."""
    ray = import_ray()
    resources = ray.cluster_resources()
    workers = workers or int(resources.get("GPU", 0)) or int(resources.get("CPU", 1))
    pool = RayPool(ray, job, max(1, min(workers, len(chunks))))
    if on_pool:
        on_pool(pool)
    pending, idle, results = deque(chunks), list(pool.actors), []
    try:
        while pending or pool.running:
            while idle and pending:
                pool.submit(idle.pop(), pending.popleft())
            ready, _ = ray.wait(list(pool.running), num_returns=1, timeout=POLL_S)
            for ref in ready:
                actor, chunk = pool.running.pop(ref)
                try:
                    result, data = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - Ray wraps the worker's error; see _error
                    raise _error(exc) from None
                paths = {}
                for role, path in result.files().items():
                    paths[role] = work / path.name
                    paths[role].write_bytes(data[role])
                results.append(dataclasses.replace(result, path=paths["part"], head=paths.get("head"),
                                                   tail=paths.get("tail")))  # fmt: skip
                progress(chunk.index, result.frames)
                idle.append(actor)
            if pool.running:
                pool.poll(progress)
    except BaseException:
        pool.kill()  # Stop, Ctrl-C or a failed chunk: every other chunk ends now too
        raise
    pool.close()
    return results


def local_threads(settings: Settings, workers: int) -> Settings:
    """Each of `workers` actors on one machine gets its share of the cores (not all of them)."""
    if settings.threads:
        return settings
    return dataclasses.replace(settings, threads=max(1, (os.cpu_count() or 1) // max(workers, 1)))


def stylize_on_ray(
    src: str | Path,
    out: str | Path,
    request: VideoRequest | None = None,
    settings: Settings | None = None,
    address: str | None = None,
    workers: int | None = None,
    chunk_seconds: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    picture: np.ndarray | None = None,
    object_store_mb: int | None = None,
    public: bool = False,
    on_pool: Callable[[RayPool], None] | None = None,
    batch_size: int = 4,
    keep: bool = False,
) -> VideoResult:
    """`stylize_video` in chunks on Ray: the cluster at `address`, or a local Ray of `workers`
    processes (default: the request's ray_workers, 0 = all cores). `keep`: stay connected
    afterwards (a server, see ray_session)."""
    from animefy.video.chunks import check_chunked

    settings = settings or Settings.from_env()
    request = request or VideoRequest()
    workers = request.ray_workers if workers is None else workers
    check_chunked(Path(src), Path(out), request, settings)  # refuse bad calls before Ray starts
    started = time.monotonic()
    with ray_session(address, workers, object_store_mb, public, keep) as ray:
        log.info("Ray ready in %.1f s: %s", time.monotonic() - started, ray.cluster_resources())
        if not address:
            settings = local_threads(settings, workers or os.cpu_count() or 1)

        def runner(job: ChunkJob, chunks: list[Chunk], work: Path, chunk_progress: ChunkProgress):
            return run_on_ray(job, chunks, work, chunk_progress, workers, on_pool)

        return stylize_in_chunks(src, out, request, settings, chunk_seconds, progress, picture, runner, batch_size)
