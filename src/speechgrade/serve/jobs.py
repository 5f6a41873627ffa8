"""Scoring jobs that report their stage while they run: `POST /v1/jobs`, then `GET /v1/jobs/{id}`.

A job is one upload scored in the background; its record says which stage it is in (queued, decoding,
transcribing, measuring, scoring, done, failed), since when, and at the end the result or the error. The
table is one SQLite file (WAL mode) that every process of a server shares, so a poll that lands on another
process than the one scoring finds the job. It is bounded: at most `max_running` jobs at once across the
server (more are refused), and finished jobs are forgotten after `keep_s` seconds or when `max_kept` finished
ones are stored, oldest first. A job whose process died (killed, out of memory) is marked failed, not left
running forever.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from .pool import ApiError
from .snapshot import pid_alive

STAGES = ("queued", "decoding", "transcribing", "measuring", "scoring", "done", "failed")
JOBS_FILE = "jobs.sqlite"
_SCHEMA = """CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, filename TEXT NOT NULL, owner INTEGER NOT NULL, created REAL NOT NULL,
    finished REAL, stages TEXT NOT NULL, result TEXT, error TEXT);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(finished);"""


@dataclass
class Job:
    """One upload being scored: its stage history, then its result or error (times are wall-clock seconds,
    so every process reads the same ones)."""

    id: str
    filename: str
    created: float = field(default_factory=time.time)
    stages: list[tuple[str, float]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    finished: float | None = None
    on_change: Callable[["Job"], None] | None = field(default=None, repr=False, compare=False)

    @property
    def stage(self) -> str:
        """The stage the job is in now."""
        return self.stages[-1][0] if self.stages else "queued"

    def enter(self, stage: str) -> None:
        """Record that the job started `stage` (repeats of the current stage are ignored)."""
        if stage in STAGES and (not self.stages or stage != self.stage):
            self.stages.append((stage, time.time()))
            if self.on_change is not None:
                self.on_change(self)

    def to_dict(self) -> dict[str, Any]:
        """The job as the API answers it."""
        now = self.finished or time.time()
        out = {"id": self.id, "filename": self.filename, "stage": self.stage,
               "elapsed_s": round(max(now - self.created, 0.0), 3),
               "stages": [{"stage": s, "at_s": round(max(t - self.created, 0.0), 3)} for s, t in self.stages]}
        if self.result is not None:
            out["result"] = self.result
        if self.error is not None:
            out["error"] = self.error
        return out


class Jobs:
    """The server's job table, shared by its processes through `path` (None: private to this process, in
    memory); bounded in running and kept jobs."""

    def __init__(self, path: str | os.PathLike | None = None, max_running: int = 100, max_kept: int = 1000,
                 keep_s: float = 600.0):
        self.path, self.max_running, self.max_kept, self.keep_s = path, max_running, max_kept, keep_s
        self._lock = threading.Lock()  # stages arrive from the pool's threads; one connection per process
        self._db: sqlite3.Connection | None = None
        self._tasks: dict[str, asyncio.Task] = {}

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(str(self.path) if self.path else ":memory:", timeout=10.0, isolation_level=None,
                                 check_same_thread=False)
            if self.path:
                db.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
                db.execute("PRAGMA synchronous=NORMAL")  # a scratch table: no fsync per stage
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def __len__(self) -> int:
        """Jobs stored (running and kept)."""
        with self._lock:
            return self._conn().execute("SELECT COUNT(*) FROM jobs").fetchone()[0]

    @property
    def running(self) -> int:
        """Jobs not finished yet, across every process of the server."""
        with self._lock:
            return self._conn().execute("SELECT COUNT(*) FROM jobs WHERE finished IS NULL").fetchone()[0]

    def _forget_old(self, db: sqlite3.Connection) -> None:
        """Fail jobs whose process died, drop finished jobs older than `keep_s`, then the oldest finished ones
        beyond `max_kept`."""
        for row in db.execute("SELECT * FROM jobs WHERE finished IS NULL AND owner != ?", (os.getpid(),)).fetchall():
            if not pid_alive(row[2]):
                job = _job(row)
                job.error = {"code": "server_restarted", "status": 503,
                             "message": f"{job.filename}: the server process scoring it stopped; send it again"}
                job.enter("failed")
                job.finished = time.time()
                _write(db, job)
        db.execute("DELETE FROM jobs WHERE finished IS NOT NULL AND finished < ?", (time.time() - self.keep_s,))
        db.execute("DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE finished IS NOT NULL "
                   "ORDER BY created DESC, rowid DESC LIMIT -1 OFFSET ?)", (self.max_kept,))

    def _save(self, job: Job) -> None:
        with self._lock:
            _write(self._conn(), job)

    def start(self, filename: str, work: Callable[[Callable[[str], None]], Awaitable[dict[str, Any]]]) -> Job:
        """Run `work(on_stage)` in the background as a new job; ApiError 503 when too many are running."""
        job = Job(secrets.token_hex(16), filename)
        job.enter("queued")
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")  # count and insert as one step: other processes start jobs too
            try:
                self._forget_old(db)
                running = db.execute("SELECT COUNT(*) FROM jobs WHERE finished IS NULL").fetchone()[0]
                if running >= self.max_running:
                    raise ApiError(503, "busy", f"{filename}: {running} jobs are running, the limit is "
                                   f"{self.max_running}; retry")
                db.execute("INSERT INTO jobs (id, filename, owner, created, stages) VALUES (?, ?, ?, ?, ?)",
                           (job.id, filename, os.getpid(), job.created, json.dumps(job.stages)))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        job.on_change = self._save

        async def run() -> None:
            try:
                job.result = await work(job.enter)
                job.enter("done")
            except ApiError as exc:
                job.error = {"code": exc.code, "message": exc.message, "status": exc.status}
                job.enter("failed")
            except asyncio.CancelledError:
                job.error = {"code": "server_stopped", "message": f"{filename}: the server stopped", "status": 503}
                job.enter("failed")
            except Exception as exc:  # never leave a job running forever
                job.error = {"code": "model_error", "message": f"{filename}: {type(exc).__name__}", "status": 500}
                job.enter("failed")
            finally:
                job.finished = time.time()
                self._save(job)
                self._tasks.pop(job.id, None)

        self._tasks[job.id] = asyncio.get_running_loop().create_task(run())
        return job

    def get(self, job_id: str) -> Job:
        """The job with this id, whichever process runs it; ApiError 404 when unknown or forgotten."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                self._forget_old(db)
                row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        if row is None:
            raise ApiError(404, "no_such_job", f"no job {job_id[:64]!r} (unknown, or finished more than "
                           f"{self.keep_s:g} s ago)")
        return _job(row)

    def cancel_all(self) -> None:
        """Stop every job this process runs (server shutdown); they are recorded as failed."""
        for task in list(self._tasks.values()):
            task.cancel()


def _write(db: sqlite3.Connection, job: Job) -> None:
    """Store a job's stages, result, error and end."""
    db.execute("UPDATE jobs SET stages = ?, result = ?, error = ?, finished = ? WHERE id = ?",
               (json.dumps(job.stages), None if job.result is None else json.dumps(job.result),
                None if job.error is None else json.dumps(job.error), job.finished, job.id))


def _job(row: tuple) -> Job:
    """A job read back from its row."""
    job_id, filename, _owner, created, finished, stages, result, error = row
    return Job(job_id, filename, created, [(s, t) for s, t in json.loads(stages)],
               None if result is None else json.loads(result), None if error is None else json.loads(error), finished)
