"""Audio seconds processed per wall second: decoding, `acoustic`, and `ssl` (random WavLM-large weights).

Usage: python bench/extract_speed.py [--clips 20] [--ssl-clips 3]
Each stage runs in its own process so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, make_clips, peak_rss_mb  # noqa: E402


def stage_decode(paths):
    from speechgrade.audio import decode_audio

    t = time.perf_counter()
    total = sum(len(decode_audio(p)) for p in paths) / 16000
    return {"audio_s": total, "wall_s": time.perf_counter() - t}


def stage_acoustic(paths):
    from speechgrade.audio import decode_audio
    from speechgrade.features import get_featurizer

    f = get_featurizer("acoustic")
    audios = [decode_audio(p) for p in paths]
    t = time.perf_counter()
    for a in audios:
        f.featurize(a)
    return {"audio_s": sum(map(len, audios)) / 16000, "wall_s": time.perf_counter() - t}


def _wavlm_large_random(folder: Path) -> str:
    import torch
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMModel

    if not (folder / "config.json").exists():
        torch.manual_seed(0)
        # microsoft/wavlm-large's architecture; speed does not depend on the weight values
        cfg = WavLMConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                          feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=False)
        WavLMModel(cfg).save_pretrained(folder)
        Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, do_normalize=True,
                                 return_attention_mask=True).save_pretrained(folder)
    return str(folder)


def stage_ssl(paths, batch_size):
    from speechgrade.audio import decode_audio
    from speechgrade.features import get_featurizer

    model = _wavlm_large_random(Path(tempfile.gettempdir()) / "speechgrade-bench-wavlm-large")
    f = get_featurizer(f"ssl:{model}?batch_size={batch_size}")
    audios = [decode_audio(p) for p in paths]
    f.featurize(audios[0][:16000])  # load and warm up
    t = time.perf_counter()
    if batch_size > 1:
        f.featurize_batch(audios)
    else:
        for a in audios:
            f.featurize(a)
    return {"audio_s": sum(map(len, audios)) / 16000, "wall_s": time.perf_counter() - t}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--ssl-clips", type=int, default=3)
    ap.add_argument("--stage")
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--fmt", default="wav")
    args = ap.parse_args()
    folder = Path(tempfile.gettempdir()) / "speechgrade-bench-clips"
    if args.stage:
        n = args.ssl_clips if args.stage == "ssl" else args.clips
        paths = make_clips(folder, n, fmt=args.fmt)
        fn = {"decode": stage_decode, "acoustic": stage_acoustic}.get(args.stage)
        result = fn(paths) if fn else stage_ssl(paths, args.batch_size)
        print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}))
        return
    make_clips(folder, args.clips)
    make_clips(folder, args.clips, fmt="aac")
    print(f"machine: {machine()}")
    print(f"{'stage':34s} {'x real time':>12s} {'peak RSS MiB':>13s}")
    stages = [("decode", "wav", 1, "decode WAV/PCM (60 s clips)"), ("decode", "aac", 1, "decode AAC-in-MP4 named .wav"),
              ("acoustic", "wav", 1, "acoustic (decoded audio)"),
              ("ssl", "wav", 1, "ssl wavlm-large, one by one"), ("ssl", "wav", 4, "ssl wavlm-large, batch 4")]
    for stage, fmt, bs, label in stages:
        cmd = [sys.executable, __file__, "--stage", stage, "--fmt", fmt, "--batch-size", str(bs),
               "--clips", str(args.clips), "--ssl-clips", str(args.ssl_clips)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            print(f"{label:34s} failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr else proc.returncode}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{label:34s} {r['audio_s'] / r['wall_s']:12.1f} {r['peak_rss_mb']:13.0f}")


if __name__ == "__main__":
    main()
