"""Real-time factor of Whisper transcription and encoder embedding, per model and compute type, and of
the whole default feature set, on 60 s clips.

Usage: python bench/asr_speed.py [--models base] [--compute-types int8,float32] [--clips 3]
Clips are 60 s of real speech: the bundled sample's clips joined end to end (speech-like, not silence).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine  # noqa: E402

import speechgrade as sg  # noqa: E402
from speechgrade.cache import MemoryCache  # noqa: E402
from speechgrade.features import get_featurizer  # noqa: E402
from speechgrade.transcribe import WhisperOptions, transcribe_audio  # noqa: E402


def real_clips(n: int, seconds: float = 60.0) -> list[np.ndarray]:
    """`n` clips of `seconds` made by joining the bundled sample's recordings (different orders)."""
    data = sg.datasets.sample("total")
    audios = [sg.decode_audio(p) for p in data.paths]
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        parts, total = [], 0
        for i in rng.permutation(len(audios)):
            parts.append(audios[i])
            total += len(audios[i])
            if total >= seconds * 16000:
                break
        out.append(np.concatenate(parts)[: int(seconds * 16000)])
    return out


def timed(fn, clips) -> float:
    """Audio seconds per wall second of fn over the clips."""
    fn(clips[0][:16000 * 5])  # load the model, warm up
    t = time.perf_counter()
    for c in clips:
        fn(c)
    return sum(len(c) for c in clips) / 16000 / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="base")
    ap.add_argument("--compute-types", default="int8,float32")
    ap.add_argument("--clips", type=int, default=3)
    args = ap.parse_args()
    clips = real_clips(args.clips)
    print(f"machine: {machine()}")
    print(f"{args.clips} clips x 60 s of real non-native speech; figures are x real time (60 s clip takes 60/x s)")
    print(f"{'model':8s} {'compute':8s} {'transcribe b5':>14s} {'transcribe b1':>14s} {'encoder':>8s}")
    for model in args.models.split(","):
        for ct in args.compute_types.split(","):
            b5 = timed(lambda a: transcribe_audio(a, WhisperOptions(model, beam_size=5, compute_type=ct)), clips)
            b1 = timed(lambda a: transcribe_audio(a, WhisperOptions(model, beam_size=1, compute_type=ct)), clips)
            enc = get_featurizer(f"whisper-encoder:{model}?compute_type={ct}")
            e = timed(enc.featurize, clips)
            print(f"{model:8s} {ct:8s} {b5:14.1f} {b1:14.1f} {e:8.1f}", flush=True)
    feats = [get_featurizer(s) for s in sg.features.default_features().split(",")]
    shared = MemoryCache()  # as in extraction: text-embedding reuses the transcript of the whisper featurizer
    for f in feats:
        f.bind(shared)

    def all_features(a):
        for f in feats:
            f.featurize(a)

    print(f"default feature set ({', '.join(f.name for f in feats)}), every clip new: "
          f"{timed(all_features, clips):.1f} x real time")


if __name__ == "__main__":
    main()
