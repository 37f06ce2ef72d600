"""Per-stage wall-clock timings, collected by the pipeline and printed by --timings. `calls`
counts what a stage says it did: frames or batches for most stages, faces redrawn for the
"face pass" stage (so its seconds / calls is the cost of one face)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Timings:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float, calls: int = 1) -> None:
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds
            self.calls[name] = self.calls.get(name, 0) + calls

    def total(self) -> float:
        return sum(self.seconds.values())

    def table(self) -> str:
        width = max([len(n) for n in self.seconds] + [5])
        lines = [f"{'stage':<{width}}  {'seconds':>8}  {'calls':>5}"]
        for name, sec in self.seconds.items():
            lines.append(f"{name:<{width}}  {sec:8.3f}  {self.calls[name]:5d}")
        lines.append(f"{'total':<{width}}  {self.total():8.3f}")
        lines.append("calls: how many times the stage ran (for a video, once per batch of frames, not per frame)")
        return "\n".join(lines)
