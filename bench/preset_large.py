"""What `--preset large`'s two encoders cost on this machine: random weights in the real architectures
(WavLM-large, Whisper-large-v3's encoder; speed and memory do not depend on the weight values), one 60 s
clip each through the same `ssl` featurizer the preset uses, in separate processes (peak RSS each).

Run: python bench/preset_large.py [--seconds 60]
Transcription with large-v3 is not timed: a CTranslate2 model needs the real weights to decode sensibly.
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
from common import machine, peak_rss_mb, speechlike  # noqa: E402

ROOT = Path(tempfile.gettempdir()) / "speechgrade-bench-large"


def build(kind: str) -> str:
    """A random-weight model folder of the real architecture (made once)."""
    import torch
    import transformers as tf

    folder = ROOT / kind
    if (folder / "config.json").exists():
        return str(folder)
    torch.manual_seed(0)
    if kind == "wavlm-large":
        cfg = tf.WavLMConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                             feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=False)
        tf.WavLMModel(cfg).save_pretrained(folder)
        tf.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, do_normalize=True,
                                    return_attention_mask=True).save_pretrained(folder)
    else:  # whisper-large-v3
        cfg = tf.WhisperConfig(d_model=1280, encoder_layers=32, encoder_attention_heads=20, encoder_ffn_dim=5120,
                               decoder_layers=1, decoder_attention_heads=20, decoder_ffn_dim=5120, num_mel_bins=128,
                               vocab_size=51866)
        tf.WhisperModel(cfg).save_pretrained(folder)
        tf.WhisperFeatureExtractor(feature_size=128).save_pretrained(folder)
    return str(folder)


def one(kind: str, seconds: float) -> dict:
    """Time the preset's featurizer for `kind` on one clip (run in a child process)."""
    from speechgrade.features import get_featurizer

    layers = {"wavlm-large": "18-23", "whisper-large-v3": "29-32"}[kind]
    f = get_featurizer(f"ssl:{build(kind)}?layers={layers}&pooling=mean+std")
    f.featurize(speechlike(2.0))  # load
    audio = speechlike(seconds, seed=1)
    t = time.perf_counter()
    f.featurize(audio)
    wall = time.perf_counter() - t
    return {"encoder": kind, "clip_s": seconds, "wall_s": round(wall, 1), "x_real_time": round(seconds / wall, 2),
            "peak_rss_mib": round(peak_rss_mb())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.seconds)))
        return
    print(f"machine: {machine()}")
    for kind in ("wavlm-large", "whisper-large-v3"):
        out = subprocess.run([sys.executable, __file__, "--one", kind, "--seconds", str(args.seconds)],
                             capture_output=True, text=True)
        print(out.stdout.strip().splitlines()[-1] if out.returncode == 0 else f"{kind}: failed {out.stderr[-500:]}",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
