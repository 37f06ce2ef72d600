"""Video jobs for the REST API: a bounded queue and one worker thread that runs them in
order. Finished jobs keep their result for settings.result_ttl seconds (then the file is
deleted and the job forgotten); the uploaded clip is deleted when its job ends, whatever the
outcome."""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from animefy.app import storage
from animefy.app.service import render_video
from animefy.errors import AnimefyError
from animefy.schema import VideoRequest
from animefy.settings import Settings

log = logging.getLogger(__name__)


class QueueFullError(AnimefyError):
    http_status = 503
    code = "queue_full"
    retry_after = 60


@dataclass
class Job:
    id: str
    status: str = "queued"  # queued | running | done | failed
    done: int = 0
    total: int = 0
    result: str | None = None
    error: dict | None = None
    report: dict = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    finished: float | None = None

    def public(self) -> dict:
        out = {
            "job_id": self.id,
            "status": self.status,
            "progress": {"frames_done": self.done, "frames_total": self.total},
            "messages": self.messages,
        }
        if self.error:
            out["error"] = self.error
        if self.status == "done":
            out["result_url"] = f"/api/v1/jobs/{self.id}/result"
            out["temporal_report"] = self.report
        return out


class VideoJobs:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.queue: queue.Queue = queue.Queue(maxsize=settings.max_queued_jobs)
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.lock = threading.Lock()
        threading.Thread(target=self._work, daemon=True, name="animefy-video-jobs").start()

    def submit(self, clip: Path, request: VideoRequest, picture: Path | None, total: int) -> Job:
        job = Job(uuid.uuid4().hex[:16], total=total)
        try:
            self.queue.put_nowait((job, clip, request, picture))
        except queue.Full as exc:
            raise QueueFullError("Too many video jobs are waiting; try again in a minute or two.") from exc
        with self.lock:
            self.jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        self.expire()
        with self.lock:
            return self.jobs.get(job_id)

    def expire(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.lock:
            old = [j for j in self.jobs.values() if j.finished and now - j.finished > self.settings.result_ttl]
            for job in old:
                del self.jobs[job.id]
                if job.result:
                    Path(job.result).unlink(missing_ok=True)

    def _work(self) -> None:
        run = render_video  # on ZeroGPU it makes its own GPU calls, one per chunk (animefy/app/zerogpu.py)
        while True:
            job, clip, request, picture = self.queue.get()
            job.status = "running"

            def progress(done: int, total: int, job: Job = job) -> None:
                job.done, job.total = done, total

            try:
                result = run(str(clip), request, self.settings, str(picture) if picture else None,
                             progress)  # fmt: skip
                job.result, job.report, job.done = str(result.path), result.report.as_dict(), result.frames
                job.messages = list(result.messages)
                job.status = "done"
            except AnimefyError as exc:
                log.info("video job %s failed: %s", job.id, exc)
                job.error, job.status = {"code": exc.code, "message": str(exc)}, "failed"
            except Exception:
                log.exception("video job %s failed", job.id)
                job.error = {"code": "internal_error", "message": "The job failed on the server; try again later."}
                job.status = "failed"
            finally:
                job.finished = time.time()
                storage.remove(clip, picture)
