"""Start `speechgrade serve` on a free loopback port for a test, and wait until it answers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model, *options: str, env=None) -> tuple[subprocess.Popen, int, str]:
    """(process, port, url) of a server for `model`, once /v1/health answers (the test fails if it exits)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "speechgrade", "serve", str(model), "--port", str(port), *options],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return proc, port, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            pytest.fail(proc.stdout.read())
        time.sleep(0.5)
    proc.kill()
    pytest.fail("the server did not answer within 120 s")


def launch_chromium(playwright, executable: str):
    """Headless Chromium with nothing that reaches the network."""
    return playwright.chromium.launch(executable_path=executable, headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"])
