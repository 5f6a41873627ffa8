"""Tiny randomly initialised speech encoders saved with save_pretrained (offline, seconds to build)."""

from __future__ import annotations

from pathlib import Path

CONV = dict(conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def save_tiny(path: Path, config, model_cls, extractor) -> str:
    """Save a seeded random model and its feature extractor into `path`."""
    import torch

    torch.manual_seed(0)
    model_cls(config).save_pretrained(path)
    extractor.save_pretrained(path)
    return str(path)


def w2v_extractor():
    """The feature extractor WavLM, HuBERT, wav2vec2 and data2vec-audio use."""
    import transformers

    return transformers.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, do_normalize=True,
                                                 return_attention_mask=True)


def save_tiny_wavlm(path: Path) -> str:
    """A 2-layer, 32-d WavLM."""
    import transformers

    return save_tiny(path, transformers.WavLMConfig(**SMALL, **CONV, num_buckets=32), transformers.WavLMModel,
                     w2v_extractor())
