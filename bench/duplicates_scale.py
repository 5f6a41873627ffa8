"""Duplicate detection at platform scale: time and peak memory for 10k and 100k clips, and recall of planted
re-encoded copies. Fingerprints are synthetic (2 s each, a shared speech-like spectral shape so that, as on
real answers, about 0.6% of unrelated pairs pass the spectral prefilter); real clips are checked in the tests.

Run: python bench/duplicates_scale.py [N ...]   (each N in a fresh process, so peak memory is its own)
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import numpy as np


def synthetic(n: int, seed: int = 0, frames: int = 100, dup_share: float = 0.01):
    """n fingerprints (frames x 16, float16) of which dup_share are noisy copies of others, and the planted pairs."""
    rng = np.random.default_rng(seed)
    base = np.linspace(1.0, -1.0, 16) + 0.3 * np.sin(np.arange(16))
    n_dup = int(n * dup_share)
    n_orig = n - n_dup
    fps = []
    for _ in range(n_orig):
        shape = base + 0.2 * rng.standard_normal(16)  # per-speaker average spectrum
        fps.append((shape + 0.8 * rng.standard_normal((frames, 16))).astype(np.float16))
    pairs = []
    for k in range(n_dup):  # a re-encode: the same frames, a level change and codec-like noise
        src = int(rng.integers(n_orig))
        fps.append((fps[src].astype(np.float32) * 0.98 + 0.1 * rng.standard_normal((frames, 16))).astype(np.float16))
        pairs.append((src, n_orig + k))
    return fps, pairs


def run(n: int) -> dict:
    from speechgrade.duplicates import duplicate_clusters

    fps, pairs = synthetic(n)
    names = [f"clip{i}" for i in range(n)]
    hashes = [f"h{i}" for i in range(n)]  # no exact copies: every pair is found by the near-duplicate path
    start = time.perf_counter()
    clusters = duplicate_clusters(names, hashes, fps)
    seconds = time.perf_counter() - start
    together = {name: k for k, c in enumerate(clusters) for name in c}
    found = sum(1 for a, b in pairs if together.get(names[a], -1) == together.get(names[b], -2))
    false = sum(len(c) for c in clusters) - 2 * found
    return {"n": n, "seconds": round(seconds, 1), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "planted_pairs": len(pairs), "found": found, "recall": round(found / max(1, len(pairs)), 3),
            "clips_in_unplanted_clusters": max(0, false)}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(run(int(sys.argv[2]))))
        sys.exit(0)
    for n in [int(a) for a in sys.argv[1:]] or [10_000, 100_000]:
        out = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, check=True)
        print(out.stdout.strip())
