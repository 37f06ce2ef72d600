"""Uploads are shown back only to the browser that sent them. Gradio serves every file in its
upload folder through its file route to anyone who has the path; this ASGI middleware notes
which browser (a random HttpOnly cookie set on its first upload) uploaded each file and
refuses the file route to any other client. Results and examples are served as before."""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections import OrderedDict
from http.cookies import CookieError, SimpleCookie

COOKIE = "animefy_uploader"
UPLOAD_ROUTE = "/gradio_api/upload"
FILE_ROUTES = ("/gradio_api/file=", "/gradio_api/file/")


def _cookie(scope) -> str | None:
    raw = b"; ".join(v for k, v in scope.get("headers") or [] if k == b"cookie").decode("latin-1")
    try:
        morsel = SimpleCookie(raw).get(COOKIE)
    except CookieError:
        return None
    return morsel.value if morsel else None


def file_target(path: str) -> str | None:
    """The file a request to Gradio's file route asks for (resolved), else None."""
    for route in FILE_ROUTES:
        at = path.find(route)
        if at >= 0:
            wanted = path[at + len(route) :]
            return os.path.realpath(wanted) if wanted else None
    return None


async def _forbidden(send) -> None:
    await send({"type": "http.response.start", "status": 403, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"File not allowed."})


class UploadOwners:
    """ASGI middleware over the Gradio app (see the module's docstring)."""

    def __init__(self, app, limit: int = 100_000) -> None:
        self.app, self.limit = app, limit
        self.owners: OrderedDict[str, set[str]] = OrderedDict()  # resolved upload path -> uploaders' cookies
        self.lock = threading.Lock()

    def allowed(self, path: str, cookie: str | None) -> bool:
        """Whether a client with `cookie` may fetch `path`: yes unless it is someone else's upload."""
        with self.lock:
            owners = self.owners.get(path)
            return owners is None or cookie in owners

    def _remember(self, paths: list, owner: str) -> None:
        with self.lock:
            for p in paths:
                if isinstance(p, str):
                    self.owners.setdefault(os.path.realpath(p), set()).add(owner)  # the same photo: same path
            if len(self.owners) > self.limit:  # forget files that are gone first, then the oldest
                for gone in [p for p in self.owners if not os.path.exists(p)]:
                    del self.owners[gone]
                while len(self.owners) > self.limit:
                    self.owners.popitem(last=False)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope.get("path", ""), scope.get("method", "")
        if method == "POST" and path.rstrip("/").endswith(UPLOAD_ROUTE):
            return await self._upload(scope, receive, send)
        target = file_target(path) if method in ("GET", "HEAD") else None
        if target is not None and not self.allowed(target, _cookie(scope)):
            return await _forbidden(send)
        return await self.app(scope, receive, send)

    async def _upload(self, scope, receive, send) -> None:
        """Let Gradio store the upload; note the paths it answers with under the browser's cookie
        (set now when it has none)."""
        owner = _cookie(scope)
        new = owner is None
        owner = owner or secrets.token_urlsafe(18)
        status, body = 0, bytearray()

        async def watch(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if new:
                    cookie = f"{COOKIE}={owner}; Path=/; HttpOnly; SameSite=Lax".encode()
                    message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            elif message["type"] == "http.response.body" and status == 200 and len(body) < 1 << 20:
                body.extend(message.get("body", b""))
                if not message.get("more_body"):
                    try:
                        paths = json.loads(bytes(body))
                    except ValueError:
                        paths = []
                    self._remember(paths if isinstance(paths, list) else [], owner)
            await send(message)

        await self.app(scope, receive, watch)
