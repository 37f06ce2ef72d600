"""A small REST API for mobile clients, mounted at /api/v1 next to the Gradio UI.

    GET  /api/v1/health            {"status": "ok", "version": ..., "engine": "onnxruntime on cpu"}
    GET  /api/v1/styles            styles with availability and licence
    POST /api/v1/image             multipart photo + the request fields -> image/png
    POST /api/v1/video             multipart clip + the request fields -> 202 {"job_id", ...}
    GET  /api/v1/jobs/{id}         job status, progress, queue position, estimate and messages
    GET  /api/v1/jobs/{id}/result  the finished video
    DELETE /api/v1/jobs/{id}       cancel a queued or running job
    GET  /api/v1/docs              the API described from its OpenAPI schema (/api/v1/openapi.json)

The form fields are the request schema's (animefy/schema.py). Errors are JSON:
{"error": {"code": "...", "message": "..."}} with a matching HTTP status, for every route.
Bodies over the upload limit are refused from Content-Length or as soon as the stream passes
it (FastAPI's max_body_size); clients are rate-limited by address (X-Forwarded-For only from trusted proxies).
A photo whose client disconnects stops at its next stage; photos have slots of their own
(settings.workers()) and never wait behind a video job.
"""

from __future__ import annotations

import asyncio
import html
import logging
import threading
import time
from collections import OrderedDict, deque
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import ConfigDict
from starlette.exceptions import HTTPException

from animefy import __version__
from animefy.app import storage
from animefy.app.jobs import Cancelled, VideoJobs
from animefy.app.runs import CheckedTimings
from animefy.app.service import check_output_folder, render_image
from animefy.app.zerogpu import gpu
from animefy.errors import AnimefyError, InputError, LimitError
from animefy.schema import ImageRequest, VideoRequest
from animefy.settings import Settings

log = logging.getLogger(__name__)


class ImageForm(ImageRequest):
    """The image request as multipart form fields (the uploads are separate parts)."""

    model_config = ConfigDict(extra="ignore")


class VideoForm(VideoRequest):
    model_config = ConfigDict(extra="ignore")


def _error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}}, headers=headers)


class RateLimiter:
    """At most `per_minute` requests per client in any sliding minute. A client is forgotten a
    minute after its last counted request (the oldest first: the keys are kept in the order
    of their last request), and at most `max_keys` are kept, so memory and the cost of a call
    stay bounded however many clients come and go."""

    window = 60.0

    def __init__(self, per_minute: int, max_keys: int = 100_000) -> None:
        self.per_minute, self.max_keys = per_minute, max_keys
        self.hits: OrderedDict[str, deque[float]] = OrderedDict()
        self.lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """0 when the request may go ahead (and is counted), else seconds to wait."""
        now = time.monotonic()
        with self.lock:
            while self.hits:  # forget idle clients
                oldest = next(iter(self.hits))
                if now - self.hits[oldest][-1] <= self.window and len(self.hits) < self.max_keys:
                    break
                del self.hits[oldest]
            hits = self.hits.get(client) or deque()
            while hits and now - hits[0] > self.window:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return max(1, int(self.window - (now - hits[0])) + 1)
            hits.append(now)
            self.hits[client] = hits
            self.hits.move_to_end(client)
            return 0


def client_address(request: Request, trusted: tuple[str, ...]) -> str:
    """The peer's address; behind a trusted proxy, the last address in X-Forwarded-For that is
    not itself a trusted proxy. A client cannot choose its own key by sending the header."""
    peer = request.client.host if request.client else "?"
    if peer not in trusted:
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
    return peer


class RateLimit:
    """ASGI middleware: POSTs over the client's allowance are refused with 429 before their
    body is read (a pure ASGI middleware, so the routes see the real connection and can tell
    when the client leaves)."""

    def __init__(self, app, limiter: RateLimiter, trusted: tuple[str, ...]) -> None:
        self.app, self.limiter, self.trusted = app, limiter, trusted

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            wait = self.limiter.retry_after(client_address(Request(scope), self.trusted))
            if wait:
                refusal = _error(429, "rate_limited", f"More than {self.limiter.per_minute} requests a minute; "
                                 f"retry in {wait} s.", {"Retry-After": str(wait)})  # fmt: skip
                return await refusal(scope, receive, send)
        return await self.app(scope, receive, send)


def body_limit(settings: Settings) -> int:
    """Largest request body: a photo or clip and a background picture, plus the form fields."""
    return (2 * settings.max_upload_mb << 20) + (1 << 20)


class DeclaredSizeLimit:
    """ASGI middleware: a body whose Content-Length is over `limit` is refused before a byte
    of it is read, with the documented JSON error (FastAPI's own limit, which also stops an
    undeclared stream, would answer in plain text)."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        length = dict(scope.get("headers") or []).get(b"content-length") if scope["type"] == "http" else None
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            refusal = _error(413, LimitError.code, "The upload is larger than the limit (ANIMEFY_MAX_UPLOAD_MB).")
            return await refusal(scope, receive, send)
        return await self.app(scope, receive, send)


async def _save_upload(upload: UploadFile, settings: Settings, default_suffix: str) -> Path:
    """Stream an upload into a private folder of its own (removed by the caller)."""
    folder = storage.new_upload_folder(settings)
    suffix = Path(upload.filename or "").suffix.lower()
    path = (
        folder / f"input{suffix if suffix.isascii() and suffix[1:].isalnum() and len(suffix) <= 6 else default_suffix}"
    )
    size = 0
    try:
        with path.open("wb") as fh:
            while chunk := await upload.read(1 << 20):
                size += len(chunk)
                if size > settings.max_upload_mb << 20:
                    raise LimitError(f"The upload is larger than {settings.max_upload_mb} MB (ANIMEFY_MAX_UPLOAD_MB).")
                fh.write(chunk)
        if size == 0:
            raise InputError("The uploaded file is empty; choose a photo or clip with content.")
    except BaseException:
        storage.remove(path)
        raise
    return path


def _check_fields(form, model: type[ImageRequest]) -> None:
    """Unknown form fields are refused (a typo must not be silently ignored)."""
    unknown = sorted(k for k, v in form.multi_items() if not hasattr(v, "read") and k not in model.model_fields)
    if unknown:
        raise InputError(f"Unknown field(s) {', '.join(unknown)}; known: {', '.join(model.model_fields)}.")


def form_fields(spec: dict, schema: dict) -> dict:
    """A request body's fields from the OpenAPI spec, with `allOf` references resolved."""
    props = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        ref = part.get("$ref", "").rsplit("/", 1)[-1]
        props = {**form_fields(spec, spec["components"]["schemas"].get(ref, {})), **props}
    return props


def _docs_page(spec: dict) -> str:
    """The API reference from the OpenAPI schema, as plain HTML with no external assets (so it
    renders offline)."""
    rows = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            rows.append(f"<h3>{method.upper()} /api/v1{html.escape(path)}</h3><p>{html.escape(op.get('summary', ''))}"
                        f"</p><p>{html.escape(op.get('description') or '')}</p>")  # fmt: skip
    forms = []
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        if not name.startswith("Body_"):
            continue
        props = "".join(
            f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(str(v.get('default', '')))}</td>"
            f"<td>{html.escape(', '.join(map(str, v.get('enum', []))))}</td>"
            f"<td>{html.escape(v.get('description', ''))}</td></tr>"
            for k, v in form_fields(spec, schema).items()
        )
        forms.append(f"<h3>{html.escape(name)}</h3><table><tr><th>field</th><th>default</th><th>choices</th>"
                     f"<th>meaning</th></tr>{props}</table>")  # fmt: skip
    return (f"<!doctype html><meta charset=utf-8><title>animefy REST API</title><style>body{{font-family:sans-serif;"
            f"max-width:60em;margin:auto}}td,th{{border-bottom:1px solid #ccc;padding:4px;text-align:left}}</style>"
            f"<h1>animefy REST API {__version__}</h1><p>Machine-readable schema: "
            f"<a href='openapi.json'>openapi.json</a>. Errors are JSON "
            f"<code>{{\"error\": {{\"code\", \"message\"}}}}</code>.</p>{''.join(rows)}<h2>Form fields</h2>"
            f"{''.join(forms)}")  # fmt: skip


def _add_error_handlers(app: FastAPI) -> None:
    """Every failure as the documented JSON shape; unexpected ones logged with their traceback."""

    @app.exception_handler(AnimefyError)
    async def _animefy_error(_request: Request, exc: AnimefyError) -> JSONResponse:
        retry = getattr(exc, "retry_after", None)
        return _error(exc.http_status, exc.code, str(exc), {"Retry-After": str(retry)} if retry else None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ())[1:])}: {e.get('msg')}" for e in exc.errors()]
        return _error(400, InputError.code, "; ".join(parts) or "invalid request")

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 413:  # FastAPI's body limit: from Content-Length, or as the stream passes it
            return _error(413, LimitError.code, "The upload is larger than the limit (ANIMEFY_MAX_UPLOAD_MB).")
        return _error(exc.status_code, "not_found" if exc.status_code == 404 else "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def _internal(_request: Request, exc: Exception) -> JSONResponse:
        log.error("REST request failed", exc_info=exc)
        return _error(500, "internal_error", "The server failed on this request; try again later.")


def _add_limits(app: FastAPI, settings: Settings) -> None:
    limiter = app.state.limiter = RateLimiter(settings.rate_limit_per_minute)  # the page counts with it too
    app.add_middleware(RateLimit, limiter=limiter, trusted=settings.trusted_proxies)
    app.add_middleware(DeclaredSizeLimit, limit=body_limit(settings))


def _add_info_routes(app: FastAPI, settings: Settings) -> None:
    @app.get("/health", summary="Liveness and version")
    def health() -> dict:
        from animefy.models.runtime import engine_info

        return {"status": "ok", "version": __version__, "engine": engine_info(settings)}

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> str:
        return _docs_page(app.openapi())

    @app.get("/styles", summary="Styles with availability and licence")
    def styles() -> dict:
        from animefy.models.catalog import load_catalog
        from animefy.models.hub import availability

        catalog = load_catalog(settings)
        return {"styles": [
            {"name": n, "display": s.display, "display_zh": s.display_zh, "licence": s.licence,
             "commercial": s.commercial, "terms": s.terms, **availability(s, settings).public()}
            for n, s in catalog.models.items() if s.role == "stylize"
        ]}  # fmt: skip


class StopTimings(CheckedTimings):
    """Timings that end the run (raise Cancelled) before the next stage once `stop` is set."""

    def __init__(self, stop: threading.Event) -> None:
        def check() -> None:
            if stop.is_set():
                raise Cancelled

        super().__init__(check)


async def _left(http: Request, pending: asyncio.Future | None = None, poll: float = 0.25) -> bool:
    """Wait for `pending` (or one poll); True when the client has disconnected meanwhile."""
    if pending is not None:
        await asyncio.wait({pending}, timeout=poll)
    return await http.is_disconnected()


def _add_image_route(app: FastAPI, settings: Settings) -> None:
    photo_slots = asyncio.Semaphore(settings.workers()[0])  # photos wait for a photo slot, never for a video
    render = gpu(duration=60)(render_image)

    async def rendered(http: Request, photo: Path, request: ImageRequest, picture: Path | None) -> tuple | None:
        """Render in a worker thread while watching the connection: a client that leaves stops
        the photo at its next stage (None is returned)."""
        stop = threading.Event()
        timings = None if settings.on_zerogpu else StopTimings(stop)
        slot = asyncio.ensure_future(photo_slots.acquire())
        while not slot.done():  # wait for a slot, unless the client leaves first
            if await _left(http, slot):
                slot.cancel() if not slot.done() else photo_slots.release()
                return None
        try:
            work = asyncio.ensure_future(run_in_threadpool(render, str(photo), request,
                                                           str(picture) if picture else None, settings, timings))  # fmt: skip
            while not work.done():
                if await _left(http, work) and not stop.is_set():
                    log.info("photo request stopped: the client disconnected")
                    stop.set()
            try:
                return work.result()
            except Cancelled:
                return None
        finally:
            photo_slots.release()

    # max_body_size: FastAPI stops reading a body without Content-Length once it passes the limit.
    @app.post("/image", response_class=Response, responses={200: {"content": {"image/png": {}}}},
              max_body_size=body_limit(settings),
              summary="Stylize a photo; returns a PNG (RGBA when background=transparent)")  # fmt: skip
    async def image(
        http: Request,
        request: Annotated[ImageForm, Form()],
        file: UploadFile = File(..., description="the photo (PNG, JPEG, WebP, ...)"),  # noqa: B008
        background_image: UploadFile | None = File(None, description="picture, with background=image"),  # noqa: B008
    ) -> Response:
        _check_fields(await http.form(), ImageForm)
        photo = picture = None
        try:
            photo = await _save_upload(file, settings, ".png")
            picture = await _save_upload(background_image, settings, ".png") if background_image else None
            done = await rendered(http, photo, ImageRequest(**request.model_dump()), picture)
            if done is None:
                return Response(status_code=499)  # nobody is listening any more
            png, messages = done
            data = Path(png).read_bytes()
            Path(png).unlink(missing_ok=True)
        finally:
            storage.remove(photo, picture)
        text = " | ".join(messages)[:1000].encode("ascii", "replace").decode()
        return Response(data, media_type="image/png", headers={"X-Animefy-Messages": text} if messages else {})


def _add_video_routes(app: FastAPI, settings: Settings) -> None:
    from animefy.app.service import check_video

    jobs = app.state.jobs = VideoJobs(settings)

    @app.post(
        "/video",
        status_code=202,
        summary="Queue a clip; poll the returned status_url",
        max_body_size=body_limit(settings),
    )
    async def video(
        http: Request,
        request: Annotated[VideoForm, Form()],
        file: UploadFile = File(..., description="the clip (MP4, MOV, WebM, AVI)"),  # noqa: B008
        background_image: UploadFile | None = File(None, description="picture, with background=image"),  # noqa: B008
    ) -> dict:
        _check_fields(await http.form(), VideoForm)
        plain = VideoRequest(**request.model_dump())
        clip = picture = None
        try:
            clip = await _save_upload(file, settings, ".mp4")
            picture = await _save_upload(background_image, settings, ".png") if background_image else None
            # Everything that can fail before the first frame is checked now, not in the queue.
            total = await run_in_threadpool(check_video, str(clip), plain, settings, picture is not None)
            job = jobs.submit(clip, plain, picture, total, client_address(http, settings.trusted_proxies))
        except BaseException:
            storage.remove(clip, picture)
            raise
        return {**jobs.public(job), "status_url": f"/api/v1/jobs/{job.id}"}

    def find(job_id: str):
        job = jobs.get(job_id) if len(job_id) <= 64 else None
        if job is None:
            raise HTTPException(404, "No such job (a result is kept for ANIMEFY_RESULT_TTL seconds after its job ends).")
        return job

    @app.get("/jobs/{job_id}", summary="A video job's status, progress, queue position, estimate and messages")
    def job_status(job_id: str) -> dict:
        return jobs.public(find(job_id))

    @app.delete("/jobs/{job_id}", summary="Cancel a queued or running video job",
                description="200 when the job is cancelled; 202 when a running job was asked to stop "
                            "(it stops at its next frame); 409 when it had already ended.")  # fmt: skip
    def cancel_job(job_id: str) -> JSONResponse:
        job = find(job_id)
        if job.state not in ("queued", "running", "cancelled"):
            raise HTTPException(409, f"The job is {job.state}; only a queued or running job can be cancelled.")
        job = jobs.cancel(job.id) or job
        return JSONResponse(jobs.public(job), status_code=200 if job.state == "cancelled" else 202)

    @app.get("/jobs/{job_id}/result", summary="The finished video")
    def job_result(job_id: str) -> FileResponse:
        job = find(job_id)
        if job.state != "done":
            raise HTTPException(409, f"The job is {job.state}; poll /api/v1/jobs/{job.id} until it is done.")
        path = jobs.folder / Path(job.output).name
        media = {".mp4": "video/mp4", ".webm": "video/webm", ".zip": "application/zip"}[path.suffix]
        return FileResponse(path, media_type=media, filename=f"animefy{path.suffix}")


def create_rest_app(settings: Settings | None = None, for_gradio: bool = False) -> FastAPI:
    """The REST app. `for_gradio`: it is about to be served by Gradio's `demo.launch`, whose
    uvicorn then gets the app's server options (animefy/app/serving.py)."""
    settings = settings or Settings.from_env()
    check_output_folder(settings)  # ConfigError naming the folder, before any route can fail on it
    if for_gradio:
        from animefy.app.serving import use_for_gradio

        use_for_gradio(settings)
    app = FastAPI(title="animefy REST API", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json",
                  description="Photos and videos of people into anime, for mobile and other HTTP clients.")  # fmt: skip
    _add_error_handlers(app)
    _add_limits(app, settings)
    _add_info_routes(app, settings)
    _add_image_route(app, settings)
    _add_video_routes(app, settings)
    return app
