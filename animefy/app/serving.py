"""How the app's HTTP server (uvicorn, started by Gradio's `demo.launch`) runs:

- X-Forwarded-For is believed only from settings.trusted_proxies (ANIMEFY_TRUSTED_PROXIES).
  uvicorn's own default trusts it from 127.0.0.1 and rewrites the client's address before the
  app sees it, so any local client could choose its own rate-limit key.
- A connection that sends nothing of an unfinished request (headers or body) for
  settings.read_timeout seconds, or takes over settings.request_timeout seconds to send one,
  is closed (slow-header and slow-body clients); idle keep-alive connections close after 5 s.

Gradio's launch has no parameter for uvicorn's options: `use_for_gradio(settings)` gives
Gradio's server module a `uvicorn` whose `Config` carries them (that module only)."""

from __future__ import annotations

import asyncio
import logging

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from animefy.settings import Settings

log = logging.getLogger(__name__)

TIMEOUT_REPLY = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a read timeout and a deadline for each request's headers
    and body (uvicorn has only the keep-alive timeout, which starts after a response)."""

    read_timeout = 30.0
    request_timeout = 900.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._timer: asyncio.TimerHandle | None = None
        self._began: float | None = None
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        """(Re)start the timer while a request is still arriving; stop it once it is in."""
        self._disarm()
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY) or self.transport.is_closing():
            self._began = None
            return
        now = self.loop.time()
        self._began = self._began or now
        delay = min(self.read_timeout, self._began + self.request_timeout - now)
        self._timer = self.loop.call_later(max(0.0, delay), self._expire)

    def _expire(self) -> None:
        self._timer = None
        if self.transport.is_closing() or self.transport.get_protocol() is not self:  # closed, or upgraded
            return
        if self.flow.read_paused:  # the app is slow to read, not the client to send
            self._began = None
            return self._arm()
        log.info("closed a connection from %s: the request did not arrive in time", (self.client or ("?",))[0])
        if self.conn.our_state == h11.IDLE:
            self.transport.write(TIMEOUT_REPLY)
        self.transport.close()


def server_options(settings: Settings) -> dict:
    """uvicorn.Config keyword arguments for the app's server."""
    protocol = type("TimedH11Protocol", (TimedH11Protocol,), {
        "read_timeout": float(settings.read_timeout), "request_timeout": float(settings.request_timeout)})  # fmt: skip
    return {
        "http": protocol,
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies),
        "timeout_keep_alive": 5,
    }


class _Uvicorn:
    """uvicorn, with `Config` given the app's options."""

    def __init__(self, options: dict) -> None:
        self.options = options

    def __getattr__(self, name: str):
        return getattr(uvicorn, name)

    def Config(self, *args, **kw) -> uvicorn.Config:  # stands in for uvicorn.Config
        return uvicorn.Config(*args, **{**kw, **self.options})


def use_for_gradio(settings: Settings) -> None:
    """Make Gradio's `demo.launch` start uvicorn with `server_options(settings)`."""
    import gradio.http_server

    gradio.http_server.uvicorn = _Uvicorn(server_options(settings))
