"""A server that stays one model and stays alive: the bundle it started with is the one it serves, dead workers
are replaced at once, /v1/health tells the truth, silent connections neither block requests nor stay forever."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time

import httpx
import pytest
from audiogen import encode, speechlike
from servers import spawned_children, start_server

import speechgrade as sg

pytestmark = pytest.mark.slow


def _workers(server_pid: int) -> list[int]:
    """The scoring worker processes of a server (spawned children that run the worker loop)."""
    return spawned_children(server_pid)


@pytest.fixture
def two_models(tone_dataset, tmp_path):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    a = sg.Scorer("acoustic", "ridge", trials=0, cache=tmp_path / "c").fit(ds).save(tmp_path / "a")
    b = sg.Scorer("acoustic", "lightgbm", trials=0, cache=tmp_path / "c").fit(ds).save(tmp_path / "b")
    return a, b


CLIP = encode(speechlike(2.0, seed=5))


def _score(url: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/score", files={"file": ("a.wav", CLIP, "audio/wav")}, timeout=60)


def test_a_replaced_bundle_never_changes_what_is_served(two_models, tmp_path):
    a, b = two_models
    live = tmp_path / "live"
    shutil.copytree(a, live)
    proc, port, url = start_server(live, "--concurrency", "2", "--timeout", "30")
    try:
        first = _score(url).json()
        fingerprint = first["model"]["fingerprint"]
        shutil.rmtree(live)
        shutil.copytree(b, live)  # the bundle on disk is now another model
        for pid in _workers(proc.pid):
            os.kill(pid, signal.SIGKILL)  # and every worker restarts
        time.sleep(0.5)
        answers = [_score(url) for _ in range(6)]
        assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
        assert {r.json()["score"] for r in answers} == {first["score"]}
        assert {r.json()["model"]["fingerprint"] for r in answers} == {fingerprint}
        assert httpx.get(f"{url}/v1/health").json()["fingerprint"] == fingerprint
        shutil.rmtree(live)  # even gone, the server goes on
        assert _score(url).status_code == 200
    finally:
        proc.kill()


def test_a_killed_worker_is_replaced_without_a_failed_request(two_models):
    a, _ = two_models
    proc, port, url = start_server(a, "--concurrency", "2")
    try:
        before = _workers(proc.pid)
        assert len(before) == 2
        os.kill(before[0], signal.SIGKILL)
        answers = [_score(url) for _ in range(4)]  # at once: one of them may land on the dead worker
        assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
        deadline = time.monotonic() + 30  # a fresh process loads the model (seconds on a busy machine)
        while time.monotonic() < deadline and httpx.get(f"{url}/v1/health").json()["workers"]["alive"] < 2:
            time.sleep(0.2)
        health = httpx.get(f"{url}/v1/health").json()
        assert health["workers"]["alive"] == 2 and health["status"] == "ok"
        assert before[0] not in _workers(proc.pid)
        # with every worker dead, health says so with a 503, and a request gets a JSON error, not a hang
        for pid in _workers(proc.pid):
            os.kill(pid, signal.SIGKILL)
        time.sleep(1.0)
        down = httpx.get(f"{url}/v1/health")
        if down.status_code == 503:  # (a replacement may already be up on a fast machine)
            assert down.json()["workers"]["alive"] == 0
    finally:
        proc.kill()


def test_silent_connections_do_not_stop_a_request_and_are_closed(two_models):
    a, _ = two_models
    proc, port, url = start_server(a, "--max-connections", "20", "--header-timeout", "2")
    socks = []
    try:
        for _ in range(100):  # more silent connections than the request limit
            s = socket.create_connection(("127.0.0.1", port))
            socks.append(s)
        trickle = socket.create_connection(("127.0.0.1", port))
        trickle.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        socks.append(trickle)
        r = _score(url)
        assert r.status_code == 200, r.text
        time.sleep(3.5)  # past the header bound, every silent connection has been closed by the server
        closed = 0
        for s in socks:
            s.settimeout(1.0)
            try:
                closed += s.recv(1) == b""
            except (ConnectionResetError, socket.timeout):
                closed += 0
        assert closed == len(socks)
        assert _score(url).status_code == 200
    finally:
        for s in socks:
            s.close()
        proc.kill()
