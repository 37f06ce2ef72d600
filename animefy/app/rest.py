"""A small REST API for mobile clients, mounted at /api/v1 next to the Gradio UI.

    GET  /api/v1/health            {"status": "ok", "version": ..., "engine": "onnxruntime on cpu"}
    GET  /api/v1/styles            styles with availability and licence
    POST /api/v1/image             multipart photo (+ form fields) -> image/png
    POST /api/v1/video             multipart clip (+ form fields) -> 202 {"job_id", ...}
    GET  /api/v1/jobs/{id}         job status and progress
    GET  /api/v1/jobs/{id}/result  the finished video
    GET  /api/v1/docs              OpenAPI docs (schema at /api/v1/openapi.json)

Errors are JSON: {"error": {"code": "...", "message": "..."}} with a matching HTTP status.
Uploads are size-limited, clients rate-limited, and concurrent requests wait their turn.
"""

from __future__ import annotations

import asyncio
import queue
import shutil
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response

from animefy import __version__
from animefy.app.service import StyleRequest, gpu, output_dir, render_image, render_video, video_seconds
from animefy.errors import AnimefyError, LimitError
from animefy.models.catalog import load_catalog
from animefy.settings import Settings
from animefy.video.temporal import DEFAULT_STRENGTH, TemporalOptions


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}})


class RateLimiter:
    """At most `per_minute` requests per client in any sliding minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.hits: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self.lock:
            hits = self.hits.setdefault(client, deque())
            while hits and now - hits[0] > 60:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return False
            hits.append(now)
            if len(self.hits) > 10_000:  # forget idle clients
                for key in [k for k, v in self.hits.items() if not v]:
                    del self.hits[key]
            return True


@dataclass
class Job:
    id: str
    status: str = "queued"  # queued | running | done | failed
    done: int = 0
    total: int = 0
    result: str | None = None
    error: dict | None = None
    report: dict = field(default_factory=dict)
    created: float = field(default_factory=time.time)

    def public(self) -> dict:
        out = {
            "job_id": self.id,
            "status": self.status,
            "progress": {"frames_done": self.done, "frames_total": self.total},
        }
        if self.error:
            out["error"] = self.error
        if self.status == "done":
            out["result_url"] = f"/api/v1/jobs/{self.id}/result"
            out["temporal_report"] = self.report
        return out


class VideoJobs:
    """One worker thread runs video jobs in order from a bounded queue; finished jobs are
    kept for the newest `keep` only."""

    def __init__(self, settings: Settings, keep: int = 64) -> None:
        self.settings = settings
        max_queued = settings.max_queued_jobs
        self.queue: queue.Queue = queue.Queue(maxsize=max_queued)
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.keep = keep
        self.lock = threading.Lock()
        threading.Thread(target=self._work, daemon=True, name="animefy-video-jobs").start()

    def submit(self, clip: Path, request: StyleRequest, temporal: TemporalOptions, fmt: str) -> Job:
        job = Job(uuid.uuid4().hex[:16])
        try:
            self.queue.put_nowait((job, clip, request, temporal, fmt))
        except queue.Full as exc:
            raise LimitError("Too many video jobs are waiting; try again in a few minutes.") from exc
        with self.lock:
            self.jobs[job.id] = job
            while len(self.jobs) > self.keep:
                _, old = self.jobs.popitem(last=False)
                if old.result:
                    Path(old.result).unlink(missing_ok=True)
        return job

    def get(self, job_id: str) -> Job | None:
        with self.lock:
            return self.jobs.get(job_id)

    def _work(self) -> None:
        run = gpu(duration=video_seconds)(render_video)
        while True:
            job, clip, request, temporal, fmt = self.queue.get()
            job.status = "running"

            def progress(done: int, total: int, job: Job = job) -> None:
                job.done, job.total = done, total

            try:
                result = run(
                    str(clip), request, temporal, fmt, self.settings, None if self.settings.on_zerogpu else progress
                )
                job.result, job.report, job.done = str(result.path), result.report.as_dict(), result.frames
                job.status = "done"
            except AnimefyError as exc:
                job.error, job.status = {"code": exc.code, "message": str(exc)}, "failed"
            except Exception as exc:  # noqa: BLE001 - reported to the client, server keeps serving
                job.error, job.status = {"code": "internal_error", "message": f"The job failed: {exc}"}, "failed"
            finally:
                shutil.rmtree(clip.parent, ignore_errors=True)


async def _save_upload(upload: UploadFile, settings: Settings, suffix_default: str) -> Path:
    """Stream an upload to a private temp folder, refusing it past the size limit."""
    limit_bytes = settings.max_upload_mb << 20
    folder = output_dir(settings) / f"upload_{uuid.uuid4().hex[:12]}"
    folder.mkdir()
    suffix = Path(upload.filename or "").suffix.lower()[:8] or suffix_default
    path = folder / f"input{suffix}"
    size = 0
    with path.open("wb") as fh:
        while chunk := await upload.read(1 << 20):
            size += len(chunk)
            if size > limit_bytes:
                fh.close()
                shutil.rmtree(folder, ignore_errors=True)
                raise LimitError(f"The upload is larger than {limit_bytes // (1 << 20)} MB (ANIMEFY_MAX_UPLOAD_MB).")
            fh.write(chunk)
    if size == 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise AnimefyError("The uploaded file is empty.")
    return path


def create_rest_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    app = FastAPI(
        title="animefy REST API",
        version=__version__,
        docs_url="/docs",
        openapi_url="/openapi.json",
        description="Photos and videos of people into anime, for mobile and other HTTP clients.",
    )
    limiter = RateLimiter(settings.rate_limit_per_minute)
    image_slot = asyncio.Semaphore(1)  # photos wait their turn instead of failing
    jobs = VideoJobs(settings)
    render = gpu(duration=60)(render_image)

    @app.exception_handler(AnimefyError)
    async def _animefy_error(_request: Request, exc: AnimefyError) -> JSONResponse:
        return _error(exc.http_status, exc.code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ())[1:])}: {e.get('msg')}" for e in exc.errors()]
        return _error(422, "invalid_request", "; ".join(parts) or "invalid request")

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, "http_error", str(exc.detail))

    @app.middleware("http")
    async def _rate_limit(request: Request, call_next):  # noqa: ANN001, ANN202
        if request.method == "POST" and not limiter.allow(request.client.host if request.client else "?"):
            return _error(429, "rate_limited", f"More than {limiter.per_minute} requests a minute; slow down.")
        return await call_next(request)

    @app.get("/health")
    def health() -> dict:
        from animefy.models.runtime import engine_info

        return {"status": "ok", "version": __version__, "engine": engine_info(settings)}

    @app.get("/styles")
    def styles() -> dict:
        from animefy.models.catalog import load_catalog
        from animefy.models.hub import availability

        catalog = load_catalog(settings)
        return {"styles": [
            {"name": n, "display": s.display, "licence": s.licence, "commercial": s.commercial,
             "available": availability(s, settings) != "missing"}
            for n, s in catalog.models.items() if s.role == "stylize"
        ]}  # fmt: skip

    @app.post("/image", response_class=Response, responses={200: {"content": {"image/png": {}}}})
    async def image(
        file: UploadFile = File(..., description="the photo (PNG, JPEG, WebP, ...)"),  # noqa: B008
        person_style: str = Form(..., description="style for the person, see /styles"),
        background_style: str = Form("", description="style for the background; empty = same as person"),
        face_style: str = Form("", description="style for faces; empty = same as person"),
        background: str = Form("keep", description="keep | transparent | color | image"),
        colour: str = Form("#ffffff", description="#RRGGBB, with background=color"),
        variation: str = Form("none", description="none | day | dusk | night | spring | summer | autumn | winter"),
        background_image: UploadFile | None = File(None, description="picture, with background=image"),  # noqa: B008
    ) -> Response:
        photo = await _save_upload(file, settings, ".png")
        picture = await _save_upload(background_image, settings, ".png") if background_image else None
        request = StyleRequest(person_style, background_style, face_style, background, colour, variation)
        try:
            async with image_slot:
                png, messages = await run_in_threadpool(
                    render, str(photo), request, str(picture) if picture else None, settings
                )
            data = Path(png).read_bytes()
            Path(png).unlink(missing_ok=True)
        finally:
            for p in (photo, picture):
                if p is not None:
                    shutil.rmtree(p.parent, ignore_errors=True)
        headers = {"X-Animefy-Messages": " | ".join(messages)[:1000]} if messages else {}
        return Response(data, media_type="image/png", headers=headers)

    @app.post("/video", status_code=202)
    async def video(
        file: UploadFile = File(..., description="the clip (MP4, MOV, WebM, AVI)"),  # noqa: B008
        person_style: str = Form(...),
        background_style: str = Form(""),
        transparent: bool = Form(False, description="WebM with alpha (or png-zip) instead of MP4"),
        transparent_format: str = Form("webm", description="webm | png-zip"),
        strength: float = Form(DEFAULT_STRENGTH, description="flicker suppression 0..1"),
        hold: int = Form(1, description="1 every frame, 2 on twos, 3 on threes"),
    ) -> dict:
        temporal = TemporalOptions(strength=strength, hold=hold).validate()
        request = StyleRequest(person_style, background_style, "", "transparent" if transparent else "keep")
        request.options(settings=settings).validate(load_catalog(settings))  # fail now, not in the queue
        clip = await _save_upload(file, settings, ".mp4")
        job = jobs.submit(clip, request, temporal, transparent_format)
        return {**job.public(), "status_url": f"/api/v1/jobs/{job.id}"}

    @app.get("/jobs/{job_id}")
    def job_status(job_id: str) -> dict:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"No job {job_id} (finished jobs are kept for a while only).")
        return job.public()

    @app.get("/jobs/{job_id}/result")
    def job_result(job_id: str) -> FileResponse:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"No job {job_id}.")
        if job.status != "done" or not job.result:
            raise HTTPException(409, f"Job {job_id} is {job.status}; poll /api/v1/jobs/{job_id} until it is done.")
        media = {".mp4": "video/mp4", ".webm": "video/webm", ".zip": "application/zip"}[Path(job.result).suffix]
        return FileResponse(job.result, media_type=media, filename=f"animefy{Path(job.result).suffix}")

    return app
