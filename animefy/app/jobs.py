"""Video jobs for the REST API, kept in the output folder's job store (animefy/app/jobstore.py):
a bounded queue, and worker threads (settings.workers(): sized from the cores, or
ANIMEFY_RAY_JOBS on a server with a Ray cluster, which only orchestrates: the cluster's
scheduler shares its workers between servers) that claim the oldest queued job from the store. A queued job survives a restart and runs; one that was
running ends as `interrupted` (storage.instance). Uploaded clips are deleted when their job
ends, whatever the outcome; a result is served for settings.result_ttl seconds after its job
ended (then the sweeper deletes it and the job is forgotten).

Cancelling (REST DELETE) ends a queued job at once; a running one stops at its next frame,
the way the page's Stop does: the progress callback raises, the encoder removes its partial
file.

On a ZeroGPU Space a job's GPU calls are charged to the quota of the caller who submitted it
when the request carried an `X-IP-Token`: the token is kept in this process's memory only
(never in the job store) and dropped when the job ends, so a job that runs after a restart
runs on the Space's anonymous quota."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path

from animefy.app import storage
from animefy.app.jobstore import JobRecord
from animefy.app.service import new_output, render_video
from animefy.app.zerogpu import as_caller
from animefy.errors import AnimefyError
from animefy.schema import VideoRequest
from animefy.settings import Settings

log = logging.getLogger(__name__)

CANCELLED = {"code": "cancelled", "message": "The job was cancelled."}
INTERNAL = {"code": "internal_error", "message": "The job failed on the server; try again later."}


class QueueFullError(AnimefyError):
    http_status = 503
    code = "queue_full"
    retry_after = 60


class Cancelled(Exception):
    """A running job was cancelled: its run ends at the next frame."""


class VideoJobs:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = storage.instance(settings)
        self.folder = self.store.folder
        self.workers = settings.workers()[1]
        self._cancel: set[str] = set()
        self._tokens: dict[str, str] = {}  # job id -> the caller's ZeroGPU token (memory only)
        self._lock = threading.Lock()
        self._wake = threading.Semaphore(0)
        for i in range(self.workers):
            threading.Thread(target=self._work, daemon=True, name=f"animefy-video-jobs-{i}").start()

    def _name(self, path: Path | None) -> str | None:
        return None if path is None else path.resolve().relative_to(self.folder).as_posix()

    def submit(
        self, clip: Path, request: VideoRequest, picture: Path | None, total: int, owner: str, token: str | None = None
    ) -> JobRecord:
        job = JobRecord(
            id=uuid.uuid4().hex, request=request.model_dump_json(), state="queued", upload=self._name(clip) or "",
            picture=self._name(picture), output=new_output(self.settings, request.output_suffix()).name, owner=owner,
            created=time.time(), frames_total=total,
        )  # fmt: skip
        if token:
            with self._lock:
                self._tokens[job.id] = token
        if not self.store.add(job, self.settings.max_queued_jobs):
            self._forget(job.id)
            raise QueueFullError("Too many video jobs are waiting; try again in a minute or two.")
        self._wake.release()
        return job

    def get(self, job_id: str) -> JobRecord | None:
        """The job, or None when there is none or its result time is over."""
        job = self.store.get(job_id)
        if job and job.finished and time.time() - job.finished > self.settings.result_ttl:
            return None
        return job

    def cancel(self, job_id: str) -> JobRecord | None:
        """Cancel a queued job now, or ask a running one to stop at its next frame."""
        job = self.get(job_id)
        if job is None:
            return None
        if job.state == "queued" and self.store.finish(job.id, "cancelled", error=CANCELLED, only_if=("queued",)):
            self._forget(job.id)
            storage.remove_names(self.folder, job.names())
            log.info("video job %s cancelled while queued", job.id)
        elif job.state in ("queued", "running"):  # a queued job may have started meanwhile
            with self._lock:
                self._cancel.add(job.id)
        return self.store.get(job.id)

    def _forget(self, job_id: str) -> None:
        with self._lock:
            self._cancel.discard(job_id)
            self._tokens.pop(job_id, None)

    def cancelling(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._cancel

    def public(self, job: JobRecord) -> dict:
        out = {
            "job_id": job.id,
            "status": job.state,
            "progress": {"frames_done": job.frames_done, "frames_total": job.frames_total},
            "messages": job.messages,
        }
        if job.state in ("queued", "running"):
            out.update(self._estimate(job))
            if self.cancelling(job.id):
                out["cancel_requested"] = True
        if job.error:
            out["error"] = job.error
        if job.state == "done":
            out["result_url"] = f"/api/v1/jobs/{job.id}/result"
            out["temporal_report"] = job.report
        if job.finished:
            out["expires_in_seconds"] = max(0, int(job.finished + self.settings.result_ttl - time.time()))
        return out

    def _estimate(self, job: JobRecord) -> dict:
        """Queue position (1 = next to start) and the seconds until the job is done, from the
        measured seconds per frame of the last finished jobs (None before any finished)."""
        per_frame = self.store.seconds_per_frame()
        left = lambda j: max(0, j.frames_total - j.frames_done)  # noqa: E731
        if job.state == "running":
            return {"queue_position": 0, "estimate_seconds": None if per_frame is None else round(per_frame * left(job))}
        live = self.store.in_state("queued", "running")
        ahead = [j for j in live if j.state == "running" or (j.created, j.id) < (job.created, job.id)]
        position = 1 + sum(j.state == "queued" for j in ahead)
        if per_frame is None:
            return {"queue_position": position, "estimate_seconds": None}
        work = sum(left(j) for j in ahead) / self.workers + job.frames_total
        return {"queue_position": position, "estimate_seconds": round(per_frame * work)}

    def _work(self) -> None:
        while True:
            job = self.store.claim_next()
            if job is None:
                self._wake.acquire(timeout=5)
                continue
            try:
                self._run(job)
            except Exception:  # the store itself failed: the job must not stay "running"
                log.exception("video job %s could not be recorded", job.id)

    def _run(self, job: JobRecord) -> None:
        clip, out = self.folder / job.upload, self.folder / job.output
        picture = self.folder / job.picture if job.picture else None
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if self.cancelling(job.id):
                raise Cancelled
            if time.monotonic() - last[0] > 0.5 or done == total:
                last[0] = time.monotonic()
                self.store.progress(job.id, done, total)

        ended = False
        try:
            if self.cancelling(job.id):
                raise Cancelled
            # not wrapped in a GPU call: on ZeroGPU render_video makes one per chunk (animefy/app/zerogpu.py)
            with self._lock:
                token = self._tokens.get(job.id)
            result = as_caller(token, render_video, str(clip), VideoRequest.model_validate_json(job.request),
                               self.settings, str(picture) if picture else None, progress, str(out))  # fmt: skip
            ended = self.store.finish(job.id, "done", report=result.report.as_dict(), messages=list(result.messages),
                                      frames=result.frames, output=Path(result.path).name)  # fmt: skip
        except Cancelled:
            log.info("video job %s cancelled while running", job.id)
            self.store.finish(job.id, "cancelled", error=CANCELLED)
        except AnimefyError as exc:
            log.info("video job %s failed: %s", job.id, exc)
            self.store.finish(job.id, "failed", error={"code": exc.code, "message": str(exc)})
        except Exception:
            log.exception("video job %s failed", job.id)
            self.store.finish(job.id, "failed", error=INTERNAL)
        finally:
            self._forget(job.id)
            storage.remove(clip, picture)
            if not ended:
                storage.remove_names(self.folder, job.names())
