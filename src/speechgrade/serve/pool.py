"""Scoring in worker processes, so that a request over its time budget can be stopped and its worker freed.

A thread cannot be interrupted in the middle of a featurizer; a process can. Each worker loads the model
once, decodes and scores the clips it is sent, and answers with a result or an error. A request that runs
past its budget gets its worker killed (a fresh one starts in the background) and answers 504; the other
workers go on, so one slow upload never makes the next short one time out.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import multiprocessing as mp
import threading
import time
import uuid
from typing import Any, Callable

import anyio

from ..errors import BundleError

log = logging.getLogger("speechgrade.serve")


class ApiError(Exception):
    """An error answered as JSON with an HTTP status."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _score_in_worker(scorer, name: str, data: bytes, max_audio_s: float,
                     on_stage: Callable[[str], None] | None = None, stretches: bool = False) -> dict[str, Any]:
    """Decode, check and score one upload (runs inside a worker process); `on_stage` hears each stage; with
    `stretches`, the record also has the score of each stretch (`stretches.stretch_record`)."""
    from ..audio import AudioTooLong, UnusableAudio, check_usable, decode_with_info
    from ..errors import AudioError
    from ..extraction import Clip

    started = time.perf_counter()
    if on_stage is not None:
        on_stage("decoding")
    try:
        audio, info = decode_with_info(data, max_duration_s=max_audio_s)
        check_usable(audio, name)
    except AudioTooLong as exc:
        raise ApiError(413, "audio_too_long", f"{name}: {exc.reason}") from None
    except UnusableAudio as exc:
        raise ApiError(422, "unusable_audio", f"{name}: {exc.reason}") from None
    except AudioError as exc:
        raise ApiError(422, "unreadable_audio", f"{name}: {exc.reason}") from None
    scores = scorer.score([Clip(name, audio, info)], explain=True, details=True, on_stage=on_stage)
    if name in scores.problems:
        raise RuntimeError(f"{name}: {scores.problems[name]}")
    record = {k: v for k, v in scores.record(name).items() if k != "filename"}
    if stretches:
        from ..stretches import stretch_record

        record["stretches"] = stretch_record(scorer, audio, record)
    return {**record, "duration_s": round(info.duration_s, 3), "processing_s": round(time.perf_counter() - started, 3)}


def _worker(conn, model_dir: str, cache: str | None, max_audio_s: float, plugins: list[str]) -> None:
    """A worker process: load the model, then answer (name, bytes) requests until the pipe closes."""
    for module in plugins:
        importlib.import_module(module)
    from ..scorer import Scorer

    try:
        scorer = Scorer.load(model_dir, cache=cache)
        scorer.extractor().columns()  # load every model now, not on the first request
        status = ("ready", None)
    except Exception as exc:  # the parent refuses to start and says why
        status = ("failed", f"{type(exc).__name__}: {exc}")
    try:
        conn.send(status)
    except OSError:  # the server process died while this one loaded: nobody to serve
        return
    if status[0] != "ready":
        return
    while True:
        try:
            name, data, stretches = conn.recv()
        except (EOFError, OSError):
            return
        last = [None]

        def stage(what: str) -> None:  # each new stage goes to the parent as it starts (progress lines)
            if what != last[0]:
                last[0] = what
                conn.send(("stage", what))

        try:
            answer = ("ok", _score_in_worker(scorer, name, data, max_audio_s, stage, stretches))
        except ApiError as exc:
            answer = ("api_error", (exc.status, exc.code, exc.message))
        except Exception as exc:  # a featurizer or the model failed: the parent logs it with an id
            answer = ("model_error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(answer)
        except OSError:  # the server process died meanwhile: nobody to answer
            return


class _Worker:
    def __init__(self, ctx, args: tuple):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker, args=(child, *args), daemon=True)
        self.process.start()
        child.close()

    def wait_ready(self, timeout: float) -> None:
        """Block until the model is loaded; BundleError with the reason if it cannot be."""
        if not self.conn.poll(timeout):
            self.kill()
            raise BundleError(f"the scoring worker did not load the model within {timeout:g} s")
        try:
            status, detail = self.conn.recv()
        except EOFError:
            status, detail = "failed", f"the process exited with code {self.process.exitcode}"
        if status != "ready":
            raise BundleError(f"the scoring worker could not load the model: {detail}")

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


class ScoringPool:
    """`size` worker processes, each with the model loaded; `score` runs one upload on a free one.

    A watcher thread replaces a worker that died while idle within about half a second; a request whose worker
    dies under it is retried once on another; replacements that fail to start back off (1 s, 2 s ... 60 s)."""

    WATCH_S = 0.5

    def __init__(self, model_dir: str, cache: str | None, size: int, max_audio_s: float,
                 plugins: list[str] | None = None, start_timeout: float = 600.0):
        self._ctx = mp.get_context("spawn")  # no fork: the parent may hold threads and loaded libraries
        self._args = (model_dir, cache, max_audio_s, list(plugins or []))
        self._start_timeout = start_timeout
        self.size = max(1, size)
        self._free: list[_Worker] = []
        self._busy = 0
        self._starting = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.start_error: str | None = None  # why the last replacement failed to start (None once one did)
        workers = [_Worker(self._ctx, self._args) for _ in range(self.size)]
        try:
            for w in workers:
                w.wait_ready(start_timeout)
        except BundleError:
            for w in workers:
                w.kill()
            raise
        self._free = workers
        self._slots = threading.Semaphore(len(workers))
        threading.Thread(target=self._watch, daemon=True, name="speechgrade-pool-watch").start()
        # at interpreter exit multiprocessing terminates the workers: that is not a death to repair
        atexit.register(self._closed.set)

    @property
    def alive(self) -> int:
        """Workers that can take a request now or are working on one."""
        with self._lock:
            return sum(w.process.is_alive() for w in self._free) + self._busy

    def status(self) -> dict[str, int]:
        """Alive, starting and configured worker counts, and why a restart failed (for /v1/health)."""
        with self._lock:
            starting = self._starting
        return {"alive": self.alive, "starting": starting, "size": self.size,
                **({"start_error": self.start_error} if self.start_error else {})}

    def _watch(self) -> None:
        """Find idle workers that died (killed, out of memory) and replace them."""
        while not self._closed.wait(self.WATCH_S):
            with self._lock:
                dead = [] if self._closed.is_set() else [w for w in self._free if not w.process.is_alive()]
                self._free = [w for w in self._free if w not in dead]
            for w in dead:
                log.warning("a scoring worker died (exit code %s); starting another", w.process.exitcode)
                w.kill()
                if self._slots.acquire(blocking=False):  # its slot is taken until the replacement is ready
                    self._replace()
                else:  # every slot is in use by requests: the replacement frees one when ready
                    self._replace(release=False)

    def _replace(self, release: bool = True) -> None:
        """Start a fresh worker in place of a dead or killed one (in the background: loading takes seconds);
        when it is ready its slot is released."""
        def start():
            delay = 1.0
            while not self._closed.is_set():
                try:
                    w = _Worker(self._ctx, self._args)
                    w.wait_ready(self._start_timeout)
                    self.start_error = None
                    break
                except Exception as exc:
                    self.start_error = str(exc)
                    log.error("a replacement scoring worker failed to start (%s); retrying in %g s", exc, delay)
                    self._closed.wait(delay)
                    delay = min(delay * 2, 60.0)
            else:
                return
            with self._lock:
                self._starting -= 1
                self._free.append(w)
            self._slots.release()

        with self._lock:
            self._starting += 1
        threading.Thread(target=start, daemon=True).start()

    def _take(self, name: str, queue_timeout: float) -> _Worker:
        deadline = time.monotonic() + queue_timeout
        if not self._slots.acquire(timeout=queue_timeout):
            raise ApiError(503, "busy", f"{name}: every scoring worker stayed busy for {queue_timeout:g} s; retry")
        while True:  # the slot may be a dead worker's that the watcher just took away: its replacement comes
            with self._lock:
                if self._free:
                    self._busy += 1
                    return self._free.pop()
            if time.monotonic() > deadline:
                self._slots.release()
                raise ApiError(503, "busy", f"{name}: no scoring worker became free in {queue_timeout:g} s; retry")
            time.sleep(0.05)

    def _give_back(self, worker: _Worker | None) -> None:
        with self._lock:
            self._busy -= 1
            if worker is not None:
                self._free.append(worker)
        if worker is not None:
            self._slots.release()

    def _run(self, name: str, data: bytes, timeout: float, queue_timeout: float, retry: bool = True,
             on_stage: Callable[[str], None] | None = None, stretches: bool = False) -> tuple[str, Any]:
        worker: _Worker | None = self._take(name, queue_timeout)
        deadline = time.monotonic() + timeout
        try:
            worker.conn.send((name, data, stretches))
            while True:
                if not worker.conn.poll(max(0.0, deadline - time.monotonic())):
                    worker.kill()
                    self._replace()
                    worker = None
                    raise ApiError(504, "timeout", f"{name}: scoring took longer than {timeout:g} s")
                status, payload = worker.conn.recv()
                if status != "stage":
                    return status, payload
                if on_stage is not None:
                    on_stage(str(payload))
        except (EOFError, OSError, BrokenPipeError):  # the worker died (killed, out of memory, a crash)
            if worker is not None:
                worker.kill()
                self._replace()
                worker = None
            if retry:  # once, on another worker: the request did nothing wrong
                return self._run(name, data, timeout, queue_timeout, False, on_stage, stretches)
            raise ApiError(500, "model_error", f"{name}: the scoring worker died twice; it has been restarted")
        finally:
            self._give_back(worker)

    async def score(self, name: str, data: bytes, timeout: float,
                    on_stage: Callable[[str], None] | None = None, stretches: bool = False) -> dict[str, Any]:
        """Score one upload within `timeout` seconds of work (waiting for a worker is bounded separately);
        `on_stage` hears "queued", then the worker's stages ("decoding", "transcribing", "measuring", "scoring");
        `stretches` adds each stretch's score to the record (within the same time)."""
        if self.alive == 0 and self.start_error is not None:  # not a restart in progress: a model that fails
            raise ApiError(503, "no_workers", f"{name}: no scoring worker is running ({self.start_error}); "
                           f"retrying in the background")
        if on_stage is not None:
            on_stage("queued")
        status, payload = await anyio.to_thread.run_sync(self._run, name, data, timeout, timeout, True, on_stage,
                                                         stretches, abandon_on_cancel=True)
        if status == "ok":
            return payload
        if status == "api_error":
            raise ApiError(*payload)
        error_id = uuid.uuid4().hex[:12]
        log.error("model error %s on %s: %s", error_id, name, payload)
        raise ApiError(500, "model_error", f"{name}: the model failed (error id {error_id})")

    def close(self) -> None:
        """Stop every worker (and the watcher)."""
        self._closed.set()
        with self._lock:
            for w in self._free:
                w.kill()
            self._free = []
