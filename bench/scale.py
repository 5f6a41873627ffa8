"""Extraction throughput, local engine vs Ray Data on this machine (overhead, not gain, on 2 cores).

Usage: python bench/scale.py [--clips 16] [--features acoustic,whisper?beam_size=5]
Each measurement starts from an empty cache; clips are 60 s of real speech (bundled clips joined).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from asr_speed import real_clips  # noqa: E402
from common import machine  # noqa: E402
from serve_load import wav_bytes  # noqa: E402

import speechgrade as sg  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--features", default="acoustic;whisper", help="featurizer specs separated by ;")
    args = ap.parse_args()
    import ray

    folder = Path(tempfile.mkdtemp(prefix="speechgrade-scale-"))
    paths = []
    for i, audio in enumerate(real_clips(args.clips)):
        paths.append(folder / f"c{i:03d}.wav")
        paths[-1].write_bytes(wav_bytes(audio))
    ray.init(num_cpus=len(__import__("os").sched_getaffinity(0)), include_dashboard=False, log_to_driver=False)
    print(f"machine: {machine()}; {args.clips} clips x 60 s; Ray {ray.__version__}, one actor per core")
    print(f"{'featurizer':24s} {'engine':7s} {'clips/s':>8s} {'x real time':>12s} {'s per clip':>11s}")
    for spec in args.features.split(";"):
        for engine in ("local", "ray"):
            cache = Path(tempfile.mkdtemp(prefix="speechgrade-scale-cache-"))
            t = time.perf_counter()
            table = sg.extract(paths, spec, cache=cache, engine=engine, batch_size=2)
            wall = time.perf_counter() - t
            assert len(table) == len(paths)
            print(f"{spec:24s} {engine:7s} {len(paths) / wall:8.2f} {len(paths) * 60 / wall:12.1f} "
                  f"{wall / len(paths):11.2f}", flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
