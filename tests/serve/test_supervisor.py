"""`serve --workers N` is one service: one snapshot served by every process and every restart, one job table,
restarts that back off with one line a try, and no snapshot left behind by a stopped or killed server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest
from audiogen import encode, speechlike
from servers import spawned_children, start_server, stop_server

import speechgrade as sg

pytest.importorskip("fastapi")

CLIP = encode(speechlike(2.0, seed=7))


@pytest.fixture(scope="module")
def two_models(tone_dataset, tmp_path_factory):
    """Two different models of the tone data (trained once for the module: the servers never write to them)."""
    root = tmp_path_factory.mktemp("models")
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    a = sg.Scorer("acoustic", "ridge", trials=0, cache=root / "c").fit(ds).save(root / "a")
    b = sg.Scorer("acoustic", "lightgbm", trials=0, cache=root / "c").fit(ds).save(root / "b")
    return a, b


def _env(tmp: Path) -> dict[str, str]:
    """The test's environment with a private temp folder (where snapshots go)."""
    tmp.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp)}


def _snapshots(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("speechgrade-serve-*"))


def _serving(log: Path, n: int, timeout: float = 120.0) -> None:
    """Wait until `n` server processes have started serving (uvicorn says so once per process)."""
    deadline = time.monotonic() + timeout
    while log.read_text().count("Application startup complete.") < n:
        if time.monotonic() > deadline:
            pytest.fail(f"fewer than {n} server processes served within {timeout:g} s:\n{log.read_text()}")
        time.sleep(0.2)


def _kill_each(server_pid: int, log: Path) -> None:
    """SIGKILL each server process, one after the other, each once its replacement serves."""
    _serving(log, 2)
    for i, pid in enumerate(spawned_children(server_pid)):
        os.kill(pid, signal.SIGKILL)
        _serving(log, 3 + i)


def _fingerprints(url: str, n: int = 10) -> set[str]:
    """The fingerprint in `n` answers of /v1/model and /v1/score, each on a new connection."""
    seen = set()
    for i in range(n):
        if i % 2:
            r = httpx.post(f"{url}/v1/score", files={"file": ("a.wav", CLIP, "audio/wav")}, timeout=60)
            assert r.status_code == 200, r.text
            seen.add(r.json()["model"]["fingerprint"])
        else:
            r = httpx.get(f"{url}/v1/model", timeout=60)
            assert r.status_code == 200, r.text
            seen.add(r.json()["fingerprint"])
    return seen


@pytest.mark.slow
def test_every_process_and_every_restart_serves_the_snapshot_taken_at_start(two_models, tmp_path):
    """Row 5: retrain into the folder, kill the server processes: every answer still has the first fingerprint."""
    a, b = two_models
    live, log = tmp_path / "live", tmp_path / "server.log"
    shutil.copytree(a, live)
    proc, _, url = start_server(live, "--workers", "2", "--concurrency", "1", env=_env(tmp_path / "tmp"), log=log)
    try:
        first = httpx.get(f"{url}/v1/model").json()["fingerprint"]
        shutil.rmtree(live)
        shutil.copytree(b, live)  # retrained into the same folder
        _kill_each(proc.pid, log)  # every process now is a restart
        assert _fingerprints(url) == {first}
    finally:
        stop_server(proc)


@pytest.mark.slow
def test_a_job_is_found_by_every_server_process_and_settings_arrive_without_environment(two_models, tmp_path):
    """Row 6: eight polls on new connections all find the job; the processes get their settings as arguments
    (none in their environment), and the header bound still closes a silent connection."""
    a, _ = two_models
    log = tmp_path / "server.log"
    proc, port, url = start_server(a, "--workers", "2", "--concurrency", "1", "--header-timeout", "2",
                                   env=_env(tmp_path / "tmp"), log=log)
    try:
        _serving(log, 2)  # both processes take connections
        job = httpx.post(f"{url}/v1/jobs", files={"file": ("a.wav", CLIP, "audio/wav")}, timeout=60).json()
        codes = [httpx.get(f"{url}/v1/jobs/{job['id']}", timeout=30).status_code for _ in range(8)]
        assert codes == [200] * 8
        deadline = time.monotonic() + 60
        while (answer := httpx.get(f"{url}/v1/jobs/{job['id']}", timeout=30).json())["stage"] not in ("done", "failed"):
            assert time.monotonic() < deadline, answer
            time.sleep(0.2)
        assert answer["stage"] == "done" and answer["result"]["filename"] == "a.wav"
        for pid in spawned_children(proc.pid):
            environ = open(f"/proc/{pid}/environ", "rb").read()
            assert b"SPEECHGRADE_SERVE_CONFIG" not in environ and b"SPEECHGRADE_HEADER_TIMEOUT" not in environ
        silent = socket.create_connection(("127.0.0.1", port))
        silent.settimeout(6)
        assert silent.recv(1) == b""  # closed by the server after --header-timeout
        silent.close()
    finally:
        stop_server(proc)


@pytest.mark.slow
def test_a_deleted_folder_and_dead_processes_restart_once_each_without_tracebacks(two_models, tmp_path):
    """Row 7: the folder gone, each killed process is replaced once from the snapshot, and the server answers."""
    a, _ = two_models
    live, log = tmp_path / "live", tmp_path / "server.log"
    shutil.copytree(a, live)
    proc, _, url = start_server(live, "--workers", "2", "--concurrency", "1", env=_env(tmp_path / "tmp"), log=log)
    try:
        first = httpx.get(f"{url}/v1/model").json()["fingerprint"]
        shutil.rmtree(live)
        _kill_each(proc.pid, log)
        assert _fingerprints(url, 4) == {first}
        time.sleep(3)  # a restart loop would show by now
    finally:
        stop_server(proc)
    text = log.read_text()
    assert "Traceback" not in text
    assert text.count("died (exit code") == 2 and "could not start" not in text and "cannot restart" not in text


@pytest.mark.slow
def test_a_snapshot_that_cannot_load_is_retried_with_a_backoff_one_line_a_try(two_models, tmp_path):
    """A damaged snapshot: the dead process is retried 1 s, 2 s, 4 s ... apart with one line each, the other
    process goes on serving, and nothing prints a traceback."""
    a, _ = two_models
    tmp, log = tmp_path / "tmp", tmp_path / "server.log"
    proc, _, url = start_server(a, "--workers", "2", "--concurrency", "1", env=_env(tmp), log=log)
    try:
        first = httpx.get(f"{url}/v1/model").json()["fingerprint"]
        _serving(log, 2)
        (snapshot,) = _snapshots(tmp)
        victim = next(p for p in sorted((snapshot / "model").rglob("*")) if p.is_file() and p.name != "manifest.json")
        victim.write_bytes(b"damaged")
        os.kill(spawned_children(proc.pid)[0], signal.SIGKILL)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:  # the survivor answers throughout
            r = httpx.get(f"{url}/v1/model", timeout=30)
            assert r.status_code == 200 and r.json()["fingerprint"] == first
            time.sleep(0.5)
    finally:
        stop_server(proc)
    text = log.read_text()
    tries = [line for line in text.splitlines() if "cannot restart a server process" in line]
    assert 2 <= len(tries) <= 5, text  # 1 s, 2 s, 4 s apart: not a restart every tick
    assert all(victim.name in line and "next try in" in line for line in tries), tries
    assert "Traceback" not in text


@pytest.mark.slow
def test_no_snapshot_is_left_behind_by_a_killed_process_or_a_killed_server(two_models, tmp_path):
    """A server process killed with SIGKILL leaves nothing once the server stops; a whole server killed leaves
    its snapshot, which the next server to start removes."""
    a, _ = two_models
    tmp, log = tmp_path / "tmp", tmp_path / "server.log"
    proc, _, url = start_server(a, "--workers", "2", "--concurrency", "1", env=_env(tmp), log=log)
    try:
        _serving(log, 2)
        assert len(_snapshots(tmp)) == 1
        os.kill(spawned_children(proc.pid)[0], signal.SIGKILL)
        _serving(log, 3)
    finally:
        stop_server(proc)
    assert _snapshots(tmp) == []

    proc, _, url = start_server(a, "--workers", "2", "--concurrency", "1", env=_env(tmp), log=log)
    _serving(log, 2)
    servers = spawned_children(proc.pid)
    proc.kill()
    proc.wait(10)
    deadline = time.monotonic() + 60  # its server processes stop by themselves once the parent is gone
    while any(os.path.exists(f"/proc/{p}") and b"Z" not in open(f"/proc/{p}/stat", "rb").read().split(b")")[-1][:3]
              for p in servers):
        assert time.monotonic() < deadline, "server processes outlived their parent"
        time.sleep(0.2)
    (stale,) = _snapshots(tmp)
    proc, _, url = start_server(a, env=_env(tmp))
    try:
        assert stale not in _snapshots(tmp) and len(_snapshots(tmp)) == 1
    finally:
        stop_server(proc)
    assert _snapshots(tmp) == []


def test_an_upload_is_decoded_once(two_models, monkeypatch):
    """The worker decodes an upload once and the scorer reuses those samples (no second decode)."""
    import av

    from speechgrade.scorer import Scorer
    from speechgrade.serve.pool import _score_in_worker

    opened = []
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *args, **kw: opened.append(1) or real_open(*args, **kw))
    result = _score_in_worker(Scorer.load(two_models[0]), "a.wav", CLIP, 600.0)
    assert len(opened) == 1 and result["duration_s"] == pytest.approx(2.0, abs=0.01)


def test_stale_snapshots_of_dead_servers_are_removed_and_live_ones_kept(tmp_path):
    """A snapshot named for a process that has exited is removed; this process's and unrelated folders stay."""
    import subprocess
    import sys

    from speechgrade.serve.snapshot import PREFIX, remove_stale_snapshots

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale, live, other = tmp_path / f"{PREFIX}{dead.pid}-x", tmp_path / f"{PREFIX}{os.getpid()}-y", tmp_path / "keep"
    for folder in (stale, live, other):
        (folder / "model").mkdir(parents=True)
    assert remove_stale_snapshots(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and other.exists()
