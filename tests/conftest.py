"""Shared fixtures: a temporary feature cache and small generated datasets."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from audiogen import speechlike, tone, write  # noqa: E402


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh cache folder, also set as SPEECHGRADE_CACHE."""
    path = tmp_path / "cache"
    monkeypatch.setenv("SPEECHGRADE_CACHE", str(path))
    return path


def make_tone_dataset(root: Path, n: int = 40, seed: int = 0, shuffle_labels: bool = False) -> Path:
    """Clips whose label is a known function of their pitch (label = (f0 - 100) / 40)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = float(rng.uniform(1, 5))
        f0 = 100 + 40 * label
        audio = speechlike(1.5, f0=f0, seed=i, syllables_per_s=3 + rng.uniform(0, 2))
        write(root / "wav" / f"clip{i:03d}.wav", audio)
        rows.append({"filename": f"clip{i:03d}", "label": round(label, 3), "group": f"spk{i // 2}"})
    frame = pd.DataFrame(rows)
    if shuffle_labels:
        frame["label"] = rng.permutation(frame["label"].to_numpy())
    frame.to_csv(root / "data.csv", index=False)
    return root / "data.csv"


@pytest.fixture(scope="session")
def tone_dataset(tmp_path_factory) -> Path:
    """CSV of 40 generated clips whose label follows their pitch."""
    return make_tone_dataset(tmp_path_factory.mktemp("tones"))


@pytest.fixture(scope="session")
def shuffled_dataset(tmp_path_factory) -> Path:
    """The same kind of clips with labels shuffled (nothing to learn)."""
    return make_tone_dataset(tmp_path_factory.mktemp("shuffled"), shuffle_labels=True)


__all__ = ["speechlike", "tone", "write", "make_tone_dataset"]


@pytest.fixture(scope="session")
def tiny_ct2(tmp_path_factory):
    """A randomly initialised 2-layer Whisper converted to CTranslate2, with Whisper's real tokenizer files."""
    pytest.importorskip("transformers")
    pytest.importorskip("faster_whisper")
    import ctranslate2
    from speechgrade.transcribe import assemble_packaged_base, packaged_parts
    import torch
    import transformers

    if packaged_parts() is None:
        pytest.skip("needs the packaged tokenizer files")
    torch.manual_seed(0)
    src = tmp_path_factory.mktemp("tiny-hf")
    base = assemble_packaged_base(tmp_path_factory.mktemp("assembled"))
    cfg = json.loads((base / "config.json").read_text())
    config = transformers.WhisperConfig(
        vocab_size=51865, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=80,
        max_target_positions=448, decoder_start_token_id=50258, pad_token_id=50257, bos_token_id=50257,
        eos_token_id=50257, suppress_tokens=cfg.get("suppress_ids", []), begin_suppress_tokens=[220, 50257])
    model = transformers.WhisperForConditionalGeneration(config)
    model.generation_config.alignment_heads = [[1, 0], [1, 1]]
    model.save_pretrained(src)
    out = tmp_path_factory.mktemp("tiny-ct2") / "model"
    ctranslate2.converters.TransformersConverter(str(src)).convert(str(out))
    for name in ("tokenizer.json", "vocabulary.json", "config.json"):
        if name != "config.json" or not (out / name).exists():
            (out / name).write_bytes((base / name).read_bytes())
    return str(out)
