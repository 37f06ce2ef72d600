"""Page runs that can be stopped. The Stop buttons and a closed page (Gradio's unload event,
sent when the browser's heartbeat connection ends) stop every run of that browser session;
so does a client that no longer waits for the result (`gone`: its connection to the queue
closed, or it cancelled). A run checks between the stages of a photo and between the frames of
a video, and ends there.
(Gradio's own cancel only abandons the waiting task: the worker thread would keep the CPU
busy until the photo or clip was done.)"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from animefy.timings import Timings


class Stopped(Exception):
    """The person pressed Stop or closed the page: the run ends at its next check."""


class Run:
    def __init__(self, gone: Callable[[], bool] | None = None) -> None:
        self.stopped = threading.Event()
        self.gone = gone  # True once nobody waits for the result (the client went away)

    def check(self) -> None:
        if self.stopped.is_set() or (self.gone is not None and self.gone()):
            raise Stopped


class Runs:
    """The runs in progress per browser session (only while they run: nothing is kept for
    sessions that ended)."""

    def __init__(self) -> None:
        self._runs: dict[str, list[Run]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def start(self, session: str, gone: Callable[[], bool] | None = None) -> Iterator[Run]:
        run = Run(gone)
        with self._lock:
            self._runs.setdefault(session, []).append(run)
        try:
            yield run
        finally:
            with self._lock:
                runs = self._runs.get(session, [])
                if run in runs:
                    runs.remove(run)
                if not runs:
                    self._runs.pop(session, None)

    def stop(self, session: str) -> int:
        """Stop the session's runs; returns how many were running."""
        if not session:
            return 0
        with self._lock:
            runs = list(self._runs.get(session, []))
        for run in runs:
            run.stopped.set()
        return len(runs)

    def running(self, session: str) -> int:
        with self._lock:
            return len(self._runs.get(session, []))


class CheckedTimings(Timings):
    """Timings that check for Stop before each stage and tell `on_stage` which one starts."""

    def __init__(self, check: Callable[[], None], on_stage: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.check, self.on_stage = check, on_stage

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.check()
        if self.on_stage is not None:
            self.on_stage(name)
        with super().stage(name):
            yield
