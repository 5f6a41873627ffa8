"""Start `speechgrade serve` on a free loopback port for a test, and wait until it answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model, *options: str, env=None, log: Path | None = None) -> tuple[subprocess.Popen, int, str]:
    """(process, port, url) of a server for `model`, once /v1/health answers (the test fails if it exits).
    With `log`, its output goes to that file (read it after the server stops) instead of a pipe."""
    port = free_port()
    out = open(log, "w") if log is not None else subprocess.PIPE
    proc = subprocess.Popen([sys.executable, "-m", "speechgrade", "serve", str(model), "--port", str(port), *options],
                            stdout=out, stderr=subprocess.STDOUT, text=True, env=env)
    if log is not None:
        out.close()
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return proc, port, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            pytest.fail(Path(log).read_text() if log is not None else proc.stdout.read())
        time.sleep(0.5)
    proc.kill()
    pytest.fail("the server did not answer within 120 s")


def stop_server(proc: subprocess.Popen, timeout: float = 60.0) -> int:
    """Stop a server as Ctrl+C does and wait for it (killed after `timeout` s); its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


def child_processes(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (Linux /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return out


def spawned_children(pid: int) -> list[int]:
    """The Python processes `pid` started with multiprocessing (not its resource tracker): a server's scoring
    workers, or with --workers N its server processes."""
    found = []
    for child in child_processes(pid):
        try:
            cmd = open(f"/proc/{child}/cmdline", "rb").read()
        except OSError:
            continue
        if b"multiprocessing" in cmd and b"resource_tracker" not in cmd:
            found.append(child)
    return found


def launch_chromium(playwright, executable: str):
    """Headless Chromium with nothing that reaches the network."""
    return playwright.chromium.launch(executable_path=executable, headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"])
