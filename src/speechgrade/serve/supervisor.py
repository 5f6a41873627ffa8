"""`serve --workers N`: N server processes that are one service.

The parent takes the bundle snapshot once, binds the socket, and starts N processes that each load that
snapshot and accept on that socket; everything a process needs travels as its arguments (no environment
variables). A process that dies is replaced at once with the same snapshot; one that cannot start (a damaged
snapshot, a model that fails to load) is retried with a backoff (1 s, 2 s ... 60 s) and one log line per try,
and the snapshot is checked before each try. A process whose parent is gone stops by itself.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Callable

from ..bundle import read_manifest
from ..errors import BundleError, ConfigError
from .config import ServeConfig

log = logging.getLogger("speechgrade.serve")
STARTUP_FAILED = 3  # a server process's exit code when it could not load the snapshot
START_TIMEOUT_S = 600.0  # loading a large model on a busy machine
STOP_TIMEOUT_S = 30.0  # requests in progress get this long to finish at shutdown
MAX_DELAY_S = 60.0


@dataclass(frozen=True)
class ServerSpec:
    """What every server process runs: the app factory (`create_app`), the config, the snapshot it serves, and
    the connection bounds."""

    app_factory: Callable[[ServeConfig, str], Any]
    config: ServeConfig
    snapshot: str
    host: str = "127.0.0.1"
    port: int = 8000
    header_timeout_s: float = 10.0
    max_waiting: int = 512


def setup_logging() -> None:
    """Lines from speechgrade.serve in uvicorn's format, once per process."""
    logger = logging.getLogger("speechgrade.serve")
    if logger.handlers:
        return
    from uvicorn.logging import DefaultFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def uvicorn_config(app: Any, spec: ServerSpec):
    """uvicorn's Config for one server process, with the header bounds of protocol.py."""
    import uvicorn

    from .protocol import GuardedH11Protocol

    return uvicorn.Config(app, host=spec.host, port=spec.port, log_level="info", timeout_keep_alive=5,
                          http=GuardedH11Protocol.bounded(spec.header_timeout_s, spec.max_waiting))


def one_line(exc: BaseException) -> str:
    """An exception as one line (a SpeechgradeError's message already names the file and the reason)."""
    text = " ".join(str(exc).split())
    return text if isinstance(exc, (BundleError, ConfigError)) else f"{type(exc).__name__}: {text}"


def _exit_with_parent(conn: Connection) -> None:
    """Block until the parent's end of the pipe closes (the parent exited, or was killed), then stop."""
    try:
        while True:
            conn.recv()
    except (EOFError, OSError):
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's own graceful shutdown


def _tell(conn: Connection, message: tuple) -> bool:
    """Send the parent a message; False when it is gone."""
    try:
        conn.send(message)
        return True
    except OSError:
        return False


def server_process(spec: ServerSpec, sock: socket.socket, conn: Connection) -> None:
    """One server process: load the snapshot, tell the parent, serve on the shared socket until stopped."""
    import uvicorn

    setup_logging()
    try:
        app = spec.app_factory(spec.config, spec.snapshot)
    except Exception as exc:  # the parent logs one line and backs off: no traceback per restart
        _tell(conn, ("failed", one_line(exc)))
        sys.exit(STARTUP_FAILED)
    if not _tell(conn, ("ready", None)):
        sys.exit(STARTUP_FAILED)  # the parent is gone: nothing supervises this process
    threading.Thread(target=_exit_with_parent, args=(conn,), daemon=True, name="speechgrade-parent-watch").start()
    uvicorn.Server(uvicorn_config(app, spec)).run(sockets=[sock])


def bind(host: str, port: int) -> socket.socket:
    """The listening socket every server process shares."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})") from None
    sock.set_inheritable(True)
    return sock


@dataclass
class _Slot:
    """One server process's place: the process now in it, and when and how soon to try again."""

    process: Any = None
    conn: Connection | None = None
    ready: bool = False
    reason: str = ""
    delay: float = 1.0
    next_try: float = 0.0


class Supervisor:
    """`size` server processes for one snapshot on one socket, kept alive until `stop()` or SIGINT/SIGTERM."""

    TICK_S = 0.25

    def __init__(self, spec: ServerSpec, sock: socket.socket, size: int):
        self.spec, self.sock, self.size = spec, sock, size
        self._ctx = mp.get_context("spawn")  # a fresh interpreter: nothing inherited but the arguments
        self._slots = [_Slot() for _ in range(size)]
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the supervisor to stop its processes and return."""
        self._stop.set()

    def _spawn(self, slot: _Slot) -> None:
        parent_end, child_end = self._ctx.Pipe()
        process = self._ctx.Process(target=server_process, args=(self.spec, self.sock, child_end),
                                    name="speechgrade-server")
        process.start()
        child_end.close()
        slot.process, slot.conn, slot.ready, slot.reason = process, parent_end, False, ""

    def _hear(self, slot: _Slot) -> None:
        """Read what a process said (ready, or why it could not start)."""
        try:
            while slot.conn is not None and slot.conn.poll():
                status, detail = slot.conn.recv()
                if status == "ready":
                    slot.ready, slot.delay = True, 1.0
                    log.info("server process [%d] is serving", slot.process.pid)
                else:
                    slot.reason = str(detail)
        except (EOFError, OSError):
            pass

    def _ended(self, slot: _Slot) -> bool:
        """Whether the process in `slot` exited (its place is then empty)."""
        if slot.process is None or slot.process.exitcode is None:
            return False
        self._hear(slot)
        slot.process.join()
        slot.conn.close()
        return True

    def start(self) -> None:
        """Start every process and wait until one serves (the others are tended like restarts from then on);
        BundleError with the reason if one cannot load the model before any serves."""
        for slot in self._slots:
            self._spawn(slot)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not any(s.ready for s in self._slots):
            for slot in self._slots:
                self._hear(slot)
                if not slot.ready and self._ended(slot):
                    self.close()
                    raise BundleError(slot.reason or f"a server process exited with code {slot.process.exitcode} "
                                      f"before serving")
            if self._stop.wait(self.TICK_S) or time.monotonic() > deadline:
                self.close()
                if self._stop.is_set():
                    return
                raise BundleError(f"{self.spec.config.model_dir}: the server processes did not load the model "
                                  f"within {START_TIMEOUT_S:g} s")

    def _tend(self, slot: _Slot) -> None:
        """Replace a process that died: at once if it had served, after the backoff if it never started."""
        now = time.monotonic()
        self._hear(slot)
        if slot.process is not None:
            if not self._ended(slot):
                return
            code, pid = slot.process.exitcode, slot.process.pid
            if slot.ready:
                log.warning("server process [%d] died (exit code %s); starting another", pid, code)
                slot.next_try = now
            else:
                log.error("server process [%d] could not start (%s); next try in %g s", pid,
                          slot.reason or f"exit code {code}", slot.delay)
                slot.next_try, slot.delay = now + slot.delay, min(slot.delay * 2, MAX_DELAY_S)
            slot.process, slot.conn = None, None
        if now < slot.next_try:
            return
        try:
            read_manifest(self.spec.snapshot)  # a snapshot that cannot load is not worth a process
        except Exception as exc:
            log.error("cannot restart a server process: %s; next try in %g s", one_line(exc), slot.delay)
            slot.next_try, slot.delay = now + slot.delay, min(slot.delay * 2, MAX_DELAY_S)
            return
        self._spawn(slot)

    def run(self) -> None:
        """Start the processes, keep them alive until SIGINT/SIGTERM or `stop()`, then stop them."""
        previous = {sig: signal.signal(sig, lambda *_: self._stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            log.info("serving http://%s:%d with %d server processes (parent process [%d]); press CTRL+C to stop",
                     self.spec.host, self.spec.port, self.size, os.getpid())
            while not self._stop.wait(self.TICK_S):
                for slot in self._slots:
                    self._tend(slot)
        finally:
            self.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def close(self) -> None:
        """Stop every process (SIGTERM: requests in progress finish), killing those still up after the wait."""
        running = [s for s in self._slots if s.process is not None]
        for slot in running:
            if slot.process.exitcode is None:
                slot.process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for slot in running:
            slot.process.join(max(0.0, deadline - time.monotonic()))
            if slot.process.exitcode is None:
                slot.process.kill()
                slot.process.join(5)
            slot.conn.close()
            slot.process, slot.conn = None, None
