"""Throughput and p50/p95 latency of POST /v1/score for 60 s clips at concurrency 1, 4, 16.

Trains a model on the bundled sample with the given features (default: the best offline set), starts
`speechgrade serve` on a free loopback port, and sends 60 s clips of real speech (bundled clips joined).
Usage: python bench/serve_load.py [--features ...] [--concurrency 1,4,16] [--requests-per-level 2]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from asr_speed import real_clips  # noqa: E402
from common import machine  # noqa: E402

import speechgrade as sg  # noqa: E402


def wav_bytes(audio: np.ndarray) -> bytes:
    """16-bit PCM WAV of a clip."""
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--features", default=None)
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--requests-per-level", type=int, default=2, help="requests = this x concurrency (at least 4)")
    args = ap.parse_args()
    features = args.features or sg.features.default_features()
    work = Path(tempfile.mkdtemp(prefix="speechgrade-serve-bench-"))
    model = sg.Scorer(features, "ridge", trials=0).fit(sg.datasets.sample("total")).save(work / "model")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "speechgrade", "serve", str(model), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        base = real_clips(4)
        counter = iter(range(10**6))

        def fresh_clip() -> bytes:
            # every request carries audio the server has never heard (a tiny gain change), so no
            # transcript comes from the cache
            i = next(counter)
            return wav_bytes(base[i % len(base)] * (1.0 - 1e-3 * (i + 1)))

        print(f"machine: {machine()}")
        print(f"features: {features}; 60 s WAV clips of real speech; server: 1 process, --concurrency 2")
        print(f"{'concurrency':>11s} {'requests':>9s} {'clips/min':>10s} {'p50 s':>7s} {'p95 s':>7s} {'errors':>7s}")
        # one warm-up request (models are loaded at start, but the first call warms caches)
        httpx.post(f"{url}/v1/score", files={"file": ("w.wav", fresh_clip())}, timeout=600)
        for level in (int(c) for c in args.concurrency.split(",")):
            n = max(4, args.requests_per_level * level)

            payloads = [fresh_clip() for _ in range(n)]

            def call(i: int) -> tuple[float, int]:
                t = time.perf_counter()
                r = httpx.post(f"{url}/v1/score", files={"file": (f"c{i}.wav", payloads[i])}, timeout=900)
                return time.perf_counter() - t, r.status_code

            t0 = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(level) as pool:
                results = list(pool.map(call, range(n)))
            wall = time.perf_counter() - t0
            lat = np.array([r[0] for r in results])
            errors = sum(r[1] != 200 for r in results)
            print(f"{level:11d} {n:9d} {n / wall * 60:10.1f} {np.percentile(lat, 50):7.1f} "
                  f"{np.percentile(lat, 95):7.1f} {errors:7d}", flush=True)
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
