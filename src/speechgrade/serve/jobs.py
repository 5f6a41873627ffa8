"""Scoring jobs that report their stage while they run: `POST /v1/jobs`, then `GET /v1/jobs/{id}`.

A job is one upload scored in the background; its record says which stage it is in (queued, decoding,
transcribing, measuring, scoring, done, failed), since when, and at the end the result or the error. The
table is bounded: at most `max_running` jobs at once (more are refused), and finished jobs are forgotten after
`keep_s` seconds or when `max_kept` finished ones are stored, oldest first.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from .pool import ApiError

STAGES = ("queued", "decoding", "transcribing", "measuring", "scoring", "done", "failed")


@dataclass
class Job:
    """One upload being scored: its stage history, then its result or error."""

    id: str
    filename: str
    created: float = field(default_factory=time.monotonic)
    stages: list[tuple[str, float]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    task: asyncio.Task | None = None
    finished: float | None = None

    @property
    def stage(self) -> str:
        """The stage the job is in now."""
        return self.stages[-1][0] if self.stages else "queued"

    def enter(self, stage: str) -> None:
        """Record that the job started `stage` (repeats of the current stage are ignored)."""
        if stage in STAGES and (not self.stages or stage != self.stage):
            self.stages.append((stage, time.monotonic()))

    def to_dict(self) -> dict[str, Any]:
        """The job as the API answers it."""
        now = self.finished or time.monotonic()
        out = {"id": self.id, "filename": self.filename, "stage": self.stage,
               "elapsed_s": round(now - self.created, 3),
               "stages": [{"stage": s, "at_s": round(t - self.created, 3)} for s, t in self.stages]}
        if self.result is not None:
            out["result"] = self.result
        if self.error is not None:
            out["error"] = self.error
        return out


class Jobs:
    """The server's job table (bounded in running and kept jobs)."""

    def __init__(self, max_running: int = 100, max_kept: int = 1000, keep_s: float = 600.0):
        self.max_running, self.max_kept, self.keep_s = max_running, max_kept, keep_s
        self._jobs: OrderedDict[str, Job] = OrderedDict()

    @property
    def running(self) -> int:
        """Jobs not finished yet."""
        return sum(j.finished is None for j in self._jobs.values())

    def _forget_old(self) -> None:
        """Drop finished jobs older than `keep_s`, then the oldest finished ones beyond `max_kept`."""
        now = time.monotonic()
        finished = [j for j in self._jobs.values() if j.finished is not None]
        expired = [j for j in finished if now - j.finished > self.keep_s]
        extra = [j for j in finished if j not in expired][:max(0, len(finished) - len(expired) - self.max_kept)]
        for j in expired + extra:
            del self._jobs[j.id]

    def start(self, filename: str, work: Callable[[Callable[[str], None]], Awaitable[dict[str, Any]]]) -> Job:
        """Run `work(on_stage)` in the background as a new job; ApiError 503 when too many are running."""
        self._forget_old()
        if self.running >= self.max_running:
            raise ApiError(503, "busy", f"{filename}: {self.running} jobs are running, the limit is "
                           f"{self.max_running}; retry")
        job = Job(secrets.token_hex(16), filename)
        job.enter("queued")
        self._jobs[job.id] = job

        async def run() -> None:
            try:
                job.result = await work(job.enter)
                job.enter("done")
            except ApiError as exc:
                job.error = {"code": exc.code, "message": exc.message, "status": exc.status}
                job.enter("failed")
            except Exception as exc:  # never leave a job running forever
                job.error = {"code": "model_error", "message": f"{filename}: {type(exc).__name__}", "status": 500}
                job.enter("failed")
            finally:
                job.finished = time.monotonic()
                job.task = None

        job.task = asyncio.get_running_loop().create_task(run())
        return job

    def get(self, job_id: str) -> Job:
        """The job with this id; ApiError 404 when unknown or forgotten."""
        self._forget_old()
        job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, "no_such_job", f"no job {job_id[:64]!r} (unknown, or finished more than "
                           f"{self.keep_s:g} s ago)")
        return job

    def cancel_all(self) -> None:
        """Stop every running job (server shutdown)."""
        for job in self._jobs.values():
            if job.task is not None:
                job.task.cancel()
