"""`serve --workers 4` as one service under process deaths: 200 jobs submitted and polled on new connections
while server processes are killed with SIGKILL; every poll must find its job and every answer carry one
fingerprint.

Trains a small acoustic model on generated clips, starts `speechgrade serve --workers 4 --concurrency 1` on a
free 127.0.0.1 port (loopback only), submits the jobs from a few client threads (each request on a new
connection), polls each job until it ends, and kills one server process every few seconds meanwhile. Every
loop is bounded in count and time. Prints the figures; exits 1 if a poll missed its job or two fingerprints
were seen.
Usage: python bench/serve_workers.py [--jobs 200] [--clients 8] [--kills 4] [--kill-every 8]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from common import machine  # noqa: E402
from audiogen import encode, speechlike, write  # noqa: E402

import speechgrade as sg  # noqa: E402

DEADLINE_S = 900.0  # the whole run, start included
MAX_POLLS = 400  # per job


def train(work: Path) -> Path:
    """A ridge model on 40 generated clips whose label follows their pitch."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        label = float(rng.uniform(1, 5))
        write(work / "wav" / f"clip{i:03d}.wav", speechlike(1.5, f0=100 + 40 * label, seed=i))
        rows.append({"filename": f"clip{i:03d}", "label": round(label, 3), "group": f"spk{i // 2}"})
    pd.DataFrame(rows).to_csv(work / "data.csv", index=False)
    ds = sg.load_dataset(work / "data.csv", work / "wav")
    return sg.Scorer("acoustic", "ridge", trials=0, cache=work / "train-cache").fit(ds).save(work / "model")


def server_processes(parent: int) -> list[int]:
    """The parent's spawned server processes (not its resource tracker)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and b"multiprocessing" in cmd and b"resource_tracker" not in cmd:
            found.append(int(entry))
    return found


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--kills", type=int, default=4, help="server processes killed with SIGKILL during the run")
    ap.add_argument("--kill-every", type=float, default=8.0, help="seconds between kills")
    args = ap.parse_args()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="speechgrade-bench-workers-"))
    model = train(work)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = work / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-m", "speechgrade", "serve", str(model), "--host", "127.0.0.1",
                                   "--port", str(port), "--workers", "4", "--concurrency", "1",
                                   "--cache", str(work / "cache")], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    ok = True
    try:
        while log.read_text().count("Application startup complete.") < 4:
            if server.poll() is not None or time.monotonic() - started > 300:
                sys.exit(f"the server did not start:\n{log.read_text()}")
            time.sleep(0.5)
        ready_s = time.monotonic() - started
        fingerprint = httpx.get(f"{url}/v1/model", timeout=30).json()["fingerprint"]
        fingerprints: Counter[str] = Counter()
        polls: Counter[int] = Counter()
        ends: Counter[str] = Counter()
        submit_s, poll_s, retried = [], [], [0]
        lock = threading.Lock()
        stop = threading.Event()
        kills: list[int] = []

        def killer() -> None:
            while len(kills) < args.kills and not stop.wait(args.kill_every):
                alive = server_processes(server.pid)
                if alive:
                    os.kill(alive[len(kills) % len(alive)], signal.SIGKILL)
                    kills.append(alive[len(kills) % len(alive)])

        def one_job(i: int) -> None:
            clip = encode(speechlike(2.0, f0=120 + (i % 50), seed=1000 + i))  # audio the cache has not seen
            for attempt in range(3):  # a connection cut by a killed process is sent again, as a client would
                t = time.monotonic()
                try:
                    r = httpx.post(f"{url}/v1/jobs", files={"file": (f"a{i}.wav", clip, "audio/wav")}, timeout=60)
                    break
                except httpx.TransportError:
                    with lock:
                        retried[0] += 1
            else:
                raise RuntimeError(f"job {i}: three submissions failed")
            with lock:
                submit_s.append(time.monotonic() - t)
            if r.status_code != 202:
                raise RuntimeError(f"job {i}: {r.status_code} {r.text[:200]}")
            job_id = r.json()["id"]
            for n in range(MAX_POLLS):
                t = time.monotonic()
                try:
                    answer = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=60)  # a new connection each time
                except httpx.TransportError:
                    with lock:
                        retried[0] += 1
                    continue
                with lock:
                    poll_s.append(time.monotonic() - t)
                    polls[answer.status_code] += 1
                if answer.status_code != 200:
                    continue
                body = answer.json()
                if body["stage"] in ("done", "failed"):
                    with lock:
                        ends[body["stage"] if body["stage"] == "done" else body["error"]["code"]] += 1
                        if body["stage"] == "done":
                            fingerprints[body["result"]["model"]["fingerprint"]] += 1
                    return
                if n % 5 == 4:
                    try:
                        seen = httpx.get(f"{url}/v1/model", timeout=60).json()["fingerprint"]
                    except httpx.TransportError:
                        seen = None
                    with lock:
                        fingerprints[seen] += seen is not None
                time.sleep(0.1)
            raise RuntimeError(f"job {i}: not finished after {MAX_POLLS} polls")

        threading.Thread(target=killer, daemon=True).start()
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            futures = [pool.submit(one_job, i) for i in range(args.jobs)]
            errors = []
            for f in futures:
                try:
                    f.result(timeout=max(1.0, DEADLINE_S - (time.monotonic() - started)))
                except Exception as exc:
                    errors.append(str(exc))
        stop.set()
        wall = time.monotonic() - t0
        text = log.read_text()
        restarts = text.count("died (exit code") + text.count("could not start (")
        ok = not errors and set(polls) == {200} and set(fingerprints) == {fingerprint} and "Traceback" not in text
        print(f"machine: {machine()}")
        print(f"server: --workers 4 --concurrency 1, acoustic ridge model; ready in {ready_s:.0f} s (training "
              f"included)")
        print(f"jobs submitted {args.jobs} from {args.clients} clients in {wall:.1f} s "
              f"({args.jobs / wall:.1f} jobs/s); connections cut and sent again: {retried[0]}")
        print(f"server processes killed (SIGKILL): {len(kills)}; restarts logged: {restarts}; "
              f"tracebacks in the log: {text.count('Traceback')}")
        print(f"polls: {sum(polls.values())} on new connections, answers {dict(sorted(polls.items()))}")
        print(f"job ends: {dict(ends)}")
        print(f"fingerprints: {dict(fingerprints)} (expected {fingerprint})")
        print(f"submit latency p50 {percentile(submit_s, 50):.3f} s, p95 {percentile(submit_s, 95):.3f} s; "
              f"poll latency p50 {percentile(poll_s, 50):.3f} s, p95 {percentile(poll_s, 95):.3f} s")
        print(f"errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
        print("OK: every poll found its job, one fingerprint" if ok else "FAILED")
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
        leftovers = list(Path(tempfile.gettempdir()).glob(f"speechgrade-serve-{server.pid}-*"))
        print(f"snapshots left after stop: {len(leftovers)}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
