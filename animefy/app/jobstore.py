"""The REST API's video jobs, stored in SQLite (the standard library's sqlite3, WAL mode):
one file, `jobs.sqlite3`, in the instance's output folder. The store is the record of truth:
workers claim queued jobs from it, status is read from it, the sweeper asks it which files
are still held. Paths are stored as names relative to the output folder.

States: queued -> running -> done | failed | cancelled | interrupted (the server stopped
while the job ran); a queued job can also go straight to cancelled."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

DB_NAME = "jobs.sqlite3"
LIVE = ("queued", "running")
ENDED = ("done", "failed", "cancelled", "interrupted")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    request TEXT NOT NULL,          -- the VideoRequest as JSON
    state TEXT NOT NULL,
    frames_done INTEGER NOT NULL DEFAULT 0,
    frames_total INTEGER NOT NULL DEFAULT 0,
    report TEXT NOT NULL DEFAULT '{}',
    messages TEXT NOT NULL DEFAULT '[]',
    error TEXT,                     -- {"code", "message"} as JSON
    upload TEXT NOT NULL,           -- the clip, e.g. upload_ab12/input.mp4
    picture TEXT,                   -- background picture, in its own upload folder
    output TEXT NOT NULL,           -- the result's name; written as a .part file first
    owner TEXT NOT NULL,            -- the client's rate-limit key (its address)
    created REAL NOT NULL,
    started REAL,
    finished REAL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created);
"""


@dataclass
class JobRecord:
    id: str
    request: str
    state: str
    upload: str
    output: str
    owner: str
    created: float
    picture: str | None = None
    frames_done: int = 0
    frames_total: int = 0
    report: dict = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    error: dict | None = None
    started: float | None = None
    finished: float | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRecord:
        data = dict(row)
        data["report"] = json.loads(data["report"])
        data["messages"] = json.loads(data["messages"])
        data["error"] = json.loads(data["error"]) if data["error"] else None
        return cls(**data)

    def names(self) -> list[str]:
        """The top-level entries of the output folder this job holds: its upload folders,
        its result and the result's partial file(s)."""
        out = Path(self.output)
        held = [Path(p).parts[0] for p in (self.upload, self.picture) if p]
        return [*held, out.name, f".{out.stem}.part{out.suffix}", f".{out.stem}.part.zip"]


class JobStore:
    """Thread-safe access to the jobs table (one connection, one lock)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / DB_NAME
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def _run(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def add(self, job: JobRecord, max_queued: int) -> bool:
        """Insert a queued job unless `max_queued` jobs already wait; True when added."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                waiting = self._db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued'").fetchone()[0]
                if waiting >= max_queued:
                    return False
                self._db.execute(
                    "INSERT INTO jobs (id, request, state, frames_total, upload, picture, output, owner, created)"
                    " VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
                    (job.id, job.request, job.frames_total, job.upload, job.picture, job.output, job.owner,
                     job.created),
                )  # fmt: skip
                return True
            finally:
                self._db.execute("COMMIT")

    def get(self, job_id: str) -> JobRecord | None:
        rows = self._run("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return JobRecord.from_row(rows[0]) if rows else None

    def claim_next(self) -> JobRecord | None:
        """Mark the oldest queued job running and return it (None when none waits)."""
        rows = self._run(
            "UPDATE jobs SET state = 'running', started = ? WHERE id = "
            "(SELECT id FROM jobs WHERE state = 'queued' ORDER BY created, rowid LIMIT 1) RETURNING *",
            (time.time(),),
        )
        return JobRecord.from_row(rows[0]) if rows else None

    def progress(self, job_id: str, done: int, total: int) -> None:
        self._run("UPDATE jobs SET frames_done = ?, frames_total = ? WHERE id = ?", (done, total, job_id))

    def finish(self, job_id: str, state: str, *, error: dict | None = None, report: dict | None = None,
               messages: list[str] | None = None, frames: int | None = None, output: str | None = None,
               only_if: tuple[str, ...] = LIVE) -> bool:  # fmt: skip
        """End a job (when its state is one of `only_if`); True when it changed."""
        assert state in ENDED
        rows = self._run(
            f"UPDATE jobs SET state = ?, finished = ?, error = ?, report = COALESCE(?, report),"
            f" messages = COALESCE(?, messages), frames_done = COALESCE(?, frames_done), output = COALESCE(?, output)"
            f" WHERE id = ? AND state IN ({','.join('?' * len(only_if))}) RETURNING id",
            (state, time.time(), json.dumps(error) if error else None, json.dumps(report) if report is not None else None,
             json.dumps(messages) if messages is not None else None, frames, output, job_id, *only_if),
        )  # fmt: skip
        return bool(rows)

    def in_state(self, *states: str) -> list[JobRecord]:
        rows = self._run(
            f"SELECT * FROM jobs WHERE state IN ({','.join('?' * len(states))}) ORDER BY created, rowid", states
        )
        return [JobRecord.from_row(r) for r in rows]

    def expired(self, ttl: float, now: float | None = None) -> list[JobRecord]:
        """Ended jobs whose result time is over."""
        cutoff = (time.time() if now is None else now) - ttl
        rows = self._run(
            f"SELECT * FROM jobs WHERE state IN ({','.join('?' * len(ENDED))}) AND finished < ?", (*ENDED, cutoff)
        )
        return [JobRecord.from_row(r) for r in rows]

    def forget(self, job_id: str) -> None:
        self._run("DELETE FROM jobs WHERE id = ?", (job_id,))

    def seconds_per_frame(self, last: int = 10) -> float | None:
        """Measured wall-clock seconds per frame of the last finished jobs, or None."""
        rows = self._run(
            "SELECT SUM(finished - started), SUM(frames_done) FROM (SELECT finished, started, frames_done FROM jobs"
            " WHERE state = 'done' AND frames_done > 0 AND started IS NOT NULL ORDER BY finished DESC LIMIT ?)",
            (last,),
        )  # fmt: skip
        seconds, frames = rows[0]
        return seconds / frames if frames else None
