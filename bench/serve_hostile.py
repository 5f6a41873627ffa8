"""A real server on 127.0.0.1 under hostile clients: large, long, slow, over-budget and concurrent requests.

Every loop is bounded in count and time and stops by itself; traffic goes to loopback only. Prints, for each
case, the answer, how long it took, and the server's peak memory (its process and its scoring workers).
Usage: python bench/serve_hostile.py [--features acoustic] [--slow-clients 50]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, speechlike  # noqa: E402
from audiogen import encode  # noqa: E402

import speechgrade as sg  # noqa: E402


def tree_peak_mb(pid: int) -> float:
    """Peak RSS (VmHWM) of a process plus its children, MiB."""
    total = 0.0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmHWM"):
                total += int(line.split()[1]) / 1024
    return total


def opus_low(audio: np.ndarray, bit_rate: int = 6000) -> bytes:
    """Mono 16 kHz audio as low-bitrate Opus in Ogg (an hour fits in a few MB)."""
    import io

    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=16000, layout="mono")
        stream.bit_rate = bit_rate
        for i in range(0, len(audio), 16000 * 60):
            frame = av.AudioFrame.from_ndarray(audio[None, i:i + 16000 * 60].astype(np.float32), format="flt",
                                               layout="mono")
            frame.sample_rate = 16000
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raw(port: int, data: bytes, then: bytes = b"", seconds: float = 0.0, wait: float = 60.0) -> tuple[float, str, int]:
    """Send `data`, then `then` one byte a second for up to `seconds`; (seconds to the answer, status, bytes sent)."""
    started, sent = time.perf_counter(), 0
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(data)
        sent += len(data)
        s.settimeout(1.0)
        answer = b""
        for byte in then[: int(seconds)]:
            try:
                answer = s.recv(4096)
                if answer:
                    break
            except socket.timeout:
                pass
            try:
                s.sendall(bytes([byte]))
                sent += 1
            except OSError:
                break
        s.settimeout(wait)
        try:
            answer = answer or s.recv(4096)
        except (socket.timeout, OSError):
            pass
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace") or "(closed)"
    return time.perf_counter() - started, status, sent


def stream_until_refused(port: int, limit_mb: float, chunk: int = 1 << 20) -> tuple[float, str, float]:
    """A chunked upload (no declared length) sent as fast as possible, up to 10x the limit."""
    head = (b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    part = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.wav\"\r\n\r\n"
    started, sent = time.perf_counter(), 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head + f"{len(part):x}\r\n".encode() + part + b"\r\n")
        block = f"{chunk:x}\r\n".encode() + b"\0" * chunk + b"\r\n"
        try:
            while sent < 10 * limit_mb * 2**20:
                s.sendall(block)
                sent += chunk
        except OSError:
            pass
        try:
            answer = s.recv(4096)
        except OSError:
            answer = b""
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace") or "(connection closed by the server)"
    return time.perf_counter() - started, status, sent / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--features", default="acoustic")
    ap.add_argument("--slow-clients", type=int, default=50)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="speechgrade-hostile-"))
    model = sg.Scorer(args.features, "ridge", trials=0, cache=work / "cache").fit(sg.datasets.sample("total"))
    model = model.save(work / "model")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "speechgrade", "serve", str(model), "--port", str(port),
                               "--max-upload-mb", "25", "--max-audio-s", "600", "--timeout", "5",
                               "--body-timeout", "10", "--concurrency", "2", "--cache", str(work / "cache")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        print(f"machine: {machine()}")
        print(f"features: {args.features}; limits: 25 MB, 600 s of audio, --timeout 5, --body-timeout 10, "
              f"--concurrency 2")
        print(f"server + workers at rest: {tree_peak_mb(server.pid):.0f} MiB peak\n")
        print("| case | answer | time | server + workers peak MiB |")
        print("|---|---|---|---|")

        def row(case, status, seconds):
            print(f"| {case} | {status} | {seconds:.2f} s | {tree_peak_mb(server.pid):.0f} |")

        head = (b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                b"Content-Length: 2097152000\r\n\r\n")
        took, status, _ = raw(port, head)
        row("2,000 MB declared upload", status, took)
        took, status, mb = stream_until_refused(port, 25)
        row(f"chunked upload, no length (sent {mb:.0f} MB before the answer)", status, took)

        hour = opus_low(np.tile(speechlike(10.0, seed=1), 360))
        started = time.perf_counter()
        r = httpx.post(f"{url}/v1/score", files={"file": ("hour.opus", hour)}, timeout=120)
        row(f"1-hour Opus ({len(hour) / 2**20:.1f} MB)", f"{r.status_code} {r.json()['error']['code']}",
            time.perf_counter() - started)

        ten = encode(np.tile(speechlike(10.0, seed=2), 59))  # 590 s, under the audio limit: slow to score
        short = encode(speechlike(5.0, seed=3))
        started = time.perf_counter()
        r = httpx.post(f"{url}/v1/score", files={"file": ("ten-minutes.wav", ten)}, timeout=120)
        row("590 s WAV with --timeout 5", r.status_code, time.perf_counter() - started)
        for _ in range(60):
            started = time.perf_counter()
            r = httpx.post(f"{url}/v1/score", files={"file": ("short.wav", short)}, timeout=120)
            if r.status_code != 503:
                break
            time.sleep(0.5)
        row("then a 5 s clip", r.status_code, time.perf_counter() - started)

        body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.wav\"\r\n\r\n"
        slow_head = (b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     b"Content-Length: 100000\r\n\r\n") + body
        with concurrent.futures.ThreadPoolExecutor(args.slow_clients) as pool:
            started = time.perf_counter()
            results = list(pool.map(lambda _: raw(port, slow_head, b"x" * 60, 60), range(args.slow_clients)))
        times = sorted(t for t, _, _ in results)
        statuses = {s for _, s, _ in results}
        row(f"{args.slow_clients} clients sending 1 byte/s (open for max {times[-1]:.1f} s)",
            ", ".join(sorted(statuses)), time.perf_counter() - started)

        clip = encode(np.tile(speechlike(10.0, seed=4), 6))  # 60 s
        lat: list[float] = []
        lock = threading.Lock()

        def one(_):
            t = time.perf_counter()
            code = httpx.post(f"{url}/v1/score", files={"file": ("c.wav", clip)}, timeout=120).status_code
            with lock:
                lat.append(time.perf_counter() - t)
            return code

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            started = time.perf_counter()
            codes = list(pool.map(one, range(32)))
        row(f"32 x 60 s clips, 16 at a time (p50 {np.percentile(lat, 50):.2f} s, p95 {np.percentile(lat, 95):.2f} s)",
            ", ".join(f"{c} x{codes.count(c)}" for c in sorted(set(codes))), time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait(20)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
