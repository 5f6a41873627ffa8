"""Clips per second of `--preset large`'s encoders and Whisper-base's encoder through torch on a GPU.

Random weights in the real shapes (WavLM-large: 24 layers x 1024; Whisper-large-v3's encoder: 32 blocks x 1280,
128 mels; Whisper-base's encoder: 6 blocks x 512, 80 mels): speed and memory do not depend on the weight values.
Each goes through the same `ssl` featurizer the preset uses (fp16 on CUDA, windows batched), on `--clips` clips of
60 s, at several `batch_size`s (windows encoded together); peak GPU memory is torch's own count.

Run (on a machine with a GPU): python bench/gpu_encoders.py [--clips 64] [--batches 1,8,32] [--tiny]
`--tiny` builds toy sizes, to check the script on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, speechlike  # noqa: E402

SHAPES = {  # name: (kind, hidden, layers, heads, ffn, mels, layers pooled)
    "wavlm-large": ("wavlm", 1024, 24, 16, 4096, None, "18-23"),
    "whisper-large-v3": ("whisper", 1280, 32, 20, 5120, 128, "29-32"),
    "whisper-base": ("whisper", 512, 6, 8, 2048, 80, "last"),
}


def build(name: str, root: Path, tiny: bool) -> str:
    """A random-weight model folder of `name`'s real architecture (toy sizes with `tiny`)."""
    import torch
    import transformers as tf

    kind, d, n, heads, ffn, mels, _ = SHAPES[name]
    if tiny:
        d, n, heads, ffn = 32, 2, 2, 64
    folder = root / name
    torch.manual_seed(0)
    if kind == "wavlm":
        cfg = tf.WavLMConfig(hidden_size=d, num_hidden_layers=n, num_attention_heads=heads, intermediate_size=ffn,
                             feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=False)
        tf.WavLMModel(cfg).save_pretrained(folder)
        tf.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, do_normalize=True,
                                    return_attention_mask=True).save_pretrained(folder)
    else:
        cfg = tf.WhisperConfig(d_model=d, encoder_layers=n, encoder_attention_heads=heads, encoder_ffn_dim=ffn,
                               decoder_layers=1, decoder_attention_heads=heads, decoder_ffn_dim=ffn, num_mel_bins=mels,
                               vocab_size=51866)
        tf.WhisperModel(cfg).save_pretrained(folder)
        tf.WhisperFeatureExtractor(feature_size=mels).save_pretrained(folder)
    return str(folder)


def measure(name: str, folder: str, clips: list, batch: int, device: str, tiny: bool) -> dict:
    """Encode `clips` through the ssl featurizer at `batch` windows a call; clips/s and peak GPU memory."""
    import torch

    from speechgrade.features import get_featurizer

    layers = "last" if tiny else SHAPES[name][6]
    f = get_featurizer(f"ssl:{folder}?layers={layers}&pooling=mean+std&batch_size={batch}&device={device}")
    f.featurize_batch(clips[:max(1, batch // 2)])  # load and warm up
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    vectors = f.featurize_batch(clips)
    if device == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    return {"encoder": name, "layers": layers, "batch_windows": batch, "clips": len(clips),
            "clip_s": round(len(clips[0]) / 16000), "wall_s": round(wall, 2), "clips_per_s": round(len(clips) / wall, 1),
            "x_real_time": round(len(clips) * len(clips[0]) / 16000 / wall), "peak_gpu_gib": round(peak, 2),
            "dim": int(vectors[0].shape[0])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--only", default=",".join(SHAPES))
    ap.add_argument("--tiny", action="store_true")
    args = ap.parse_args()
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "none"
    print(f"machine: {machine()}; GPU: {gpu}; torch {torch.__version__}", flush=True)
    clips = [speechlike(args.seconds, seed=i) for i in range(args.clips)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only.split(","):
            t = time.perf_counter()
            folder = build(name, Path(tmp), args.tiny)
            print(f"{name}: built in {time.perf_counter() - t:.0f} s", flush=True)
            for batch in (int(b) for b in args.batches.split(",")):
                row = measure(name, folder, clips, batch, device, args.tiny)
                rows.append(row)
                print(json.dumps(row), flush=True)
            torch.cuda.empty_cache() if device == "cuda" else None
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_encoders.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    sys.exit(main())
