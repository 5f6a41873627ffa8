"""`ssl`: pooled hidden states of a Hugging Face speech encoder (WavLM, HuBERT, wav2vec2, data2vec, Whisper).

Long clips are cut into windows (20 s; 30 s for Whisper) encoded independently. The frames of all
windows are pooled as one sequence: the mean (and std) is frame-weighted over the whole clip. For
Whisper only the encoder frames that hold audio are pooled, not the padding of the 30 s input.
Windows of equal length are batched together. The encoder is the `transformers` speech-model backend
(`speechgrade.speech.transformers`), from the registry; this module only pools. Needs `pip install speechgrade[ssl]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio import windows
from ..errors import ConfigError
from ..options import FeaturizerOptions, option
from .frames import SEGMENTS, frame_columns, segment_means
from ..speech import layers_value, show_layers, speech_model
from ..speech.model_cache import ModelCache
from ..speech.transformers import DEFAULT_MODEL, Transformers, model_digest, require_torch
from .base import Featurizer, register_featurizer

POOLINGS = ("mean", "mean+std", "learned")


@register_featurizer
class SSLFeaturizer(Featurizer):
    """Mean (or mean+std) pooled hidden states of a self-supervised speech encoder; `pooling=learned` keeps
    per-layer segment means for a pooling head fitted with the model (see `speechgrade.models.pooling`)."""

    name = "ssl"
    title = "a self-supervised speech encoder"
    version = "1"
    extra = "ssl"
    libraries = ("torch", "transformers")
    models: ModelCache | None = None  # where the encoder is held (None: the process-wide cache)

    @dataclass(frozen=True)
    class Options(FeaturizerOptions):
        """Options of the ssl featurizer."""

        model: str = option(DEFAULT_MODEL, "speech encoder (hub id or local folder)", arg=True)
        layers: Any = option("last", "hidden states pooled: last, all (mean of 1..L), N, A-B or A+B+C",
                             parse=lambda v: layers_value(v), show=lambda v: show_layers(v))
        pooling: str = option("mean", "pooling over frames", choices=POOLINGS)
        window_s: float | None = option(None, "window in seconds (none: 20, or 30 for Whisper)", kind=float,
                                        nullable=True, above=0.0, max=600.0)
        segments: int = option(SEGMENTS, "segments per clip kept for pooling=learned", kind=int, min=1, max=256)
        batch_size: int = option(4, "windows encoded together", kind=int, min=1, max=1024, key=False)
        device: str = option("auto", "cpu, cuda or auto", key=False)

    @property
    def batch_size(self) -> int:  # type: ignore[override]
        """Windows encoded together."""
        return self.options.batch_size

    @classmethod
    def check_available(cls) -> None:
        require_torch()

    @classmethod
    def from_config(cls, config):
        obj = super().from_config(config)
        digest = config.get("model_digest")
        if digest is not None and model_digest(obj.options.model) != digest:
            raise ConfigError(f"the encoder at '{obj.options.model}' is not the one this model was trained with "
                              f"(fingerprint {model_digest(obj.options.model)} != {digest})")
        return obj

    def fingerprints(self) -> dict:
        return {"model_digest": model_digest(self.options.model)}

    def speech_model(self) -> Transformers:
        """The `transformers` backend that encodes the windows."""
        o = self.options
        return speech_model("transformers", Transformers.Options(o.model, device=o.device), self.models)

    def _hidden_size(self) -> int:
        return self.speech_model().dim

    def _n_states(self) -> int:
        return self.speech_model().n_states

    def columns(self) -> list[str]:
        d = self._hidden_size()
        if self.options.pooling == "learned":
            return frame_columns(self._layer_indices(self._n_states()), self.options.segments, d)
        cols = [f"mean{i}" for i in range(d)]
        if self.options.pooling == "mean+std":
            cols += [f"std{i}" for i in range(d)]
        return cols

    def _layer_indices(self, n_states: int) -> list[int]:
        if self.options.layers == "last":
            return [n_states - 1]
        if self.options.layers == "all":
            return list(range(1, n_states)) or [0]
        bad = [i for i in self.options.layers if not 0 <= i < n_states]
        if bad:
            raise ConfigError(f"layer(s) {bad} out of range: {self.options.model} has hidden states 0..{n_states - 1}")
        return list(self.options.layers)

    def _encode(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        """Frame states (L, T, D) of the selected layers, per window."""
        return self.speech_model().encode_batch(batch, self._layer_indices)

    def featurize_batch(self, audios: list[np.ndarray]) -> list[np.ndarray]:
        window_s = self.options.window_s or self.speech_model().window_s
        pieces = [(i, w) for i, a in enumerate(audios) for w in windows(a, window_s)]
        d = self._hidden_size()
        sums = np.zeros((len(audios), d), np.float64)
        sq = np.zeros((len(audios), d), np.float64)
        counts = np.zeros(len(audios), np.int64)
        kept: dict[int, list[tuple[int, np.ndarray]]] = {i: [] for i in range(len(audios))}  # for learned pooling
        by_len: dict[int, list[tuple[int, int, np.ndarray]]] = {}
        for order, (i, w) in enumerate(pieces):
            by_len.setdefault(len(w), []).append((order, i, w))
        for group in by_len.values():
            for start in range(0, len(group), self.batch_size):
                chunk = group[start:start + self.options.batch_size]
                for (order, i, _), layered in zip(chunk, self._encode([w for _, _, w in chunk])):
                    if self.options.pooling == "learned":
                        kept[i].append((order, layered))
                        continue
                    frames = layered.mean(0)
                    sums[i] += frames.sum(0)
                    sq[i] += np.square(frames, dtype=np.float64).sum(0)
                    counts[i] += len(frames)
        if self.options.pooling == "learned":  # windows back in time order, then segment means per layer
            return [segment_means(np.concatenate([f for _, f in sorted(kept[i], key=lambda p: p[0])], axis=1),
                                  self.options.segments).astype(np.float32).ravel() for i in range(len(audios))]
        mean = sums / counts[:, None]
        parts = [mean]
        if self.options.pooling == "mean+std":
            parts.append(np.sqrt(np.maximum(sq / counts[:, None] - mean**2, 0.0)))
        return [v.astype(np.float32) for v in np.concatenate(parts, axis=1)]

    def featurize(self, audio: np.ndarray) -> np.ndarray:
        return self.featurize_batch([audio])[0]
