"""`ssl`: pooled hidden states of a Hugging Face speech encoder (WavLM, HuBERT, wav2vec2, data2vec, Whisper).

Long clips are cut into windows (20 s; 30 s for Whisper) encoded independently. The frames of all
windows are pooled as one sequence: the mean (and std) is frame-weighted over the whole clip. For
Whisper only the encoder frames that hold audio are pooled, not the padding of the 30 s input.
Windows of equal length are batched together. Needs `pip install speechgrade[ssl]`.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import SAMPLE_RATE, windows
from ..errors import ConfigError, ModelNotFoundError
from ..extras import require
from ..pooling import SEGMENTS, frame_columns, segment_means
from .base import Featurizer, register_featurizer

DEFAULT_MODEL = "microsoft/wavlm-large"
POOLINGS = ("mean", "mean+std", "learned")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


def _require_torch():
    require("the 'ssl' featurizer", ("torch", "transformers"), "torch==2.13.0 'speechgrade[ssl]'")


def model_digest(model: str) -> str:
    """Fingerprint of a local model directory (config + weights head), or the id itself for hub ids."""
    path = Path(model)
    if not path.is_dir():
        return model
    h = hashlib.sha256()
    for name in ("config.json", *WEIGHT_FILES):
        f = path / name
        if f.is_file():
            h.update(name.encode())
            h.update(str(f.stat().st_size).encode())
            with open(f, "rb") as fh:
                h.update(fh.read(4 << 20))
    return h.hexdigest()[:16]


def resolve_device(device: str = "auto") -> str:
    """`cuda` when available (for `auto`), else `cpu`."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.lru_cache(maxsize=4)
def load_encoder(model: str, device: str = "cpu") -> tuple[Any, Any, bool]:
    """Load (feature extractor, encoder, is_whisper) once per process from a local dir, cache or hub."""
    _require_torch()
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

    local = Path(model).is_dir()
    attempts = [True] if local or os.environ.get("HF_HUB_OFFLINE") == "1" else [True, False]
    last: Exception | None = None
    for local_only in attempts:
        try:
            config = AutoConfig.from_pretrained(model, local_files_only=local_only)
            extractor = AutoFeatureExtractor.from_pretrained(model, local_files_only=local_only)
            net = AutoModel.from_pretrained(model, local_files_only=local_only)
            break
        except Exception as exc:  # transformers raises OSError/ValueError/HTTP errors alike
            last = exc
    else:
        where = "the directory has no loadable model" if local else \
            "it is not a local directory, not in the Hugging Face cache, and the hub could not be reached"
        raise ModelNotFoundError(
            f"cannot load speech encoder '{model}': {where} ({type(last).__name__}). "
            f"On a machine with network run `huggingface-cli download {model if not local else DEFAULT_MODEL} "
            f"--local-dir DIR`, copy DIR here and use --features ssl:DIR") from None
    is_whisper = config.model_type == "whisper"
    if is_whisper:
        net = net.get_encoder()
    net.eval().to(device)
    if device.startswith("cuda"):
        net.half()
    return extractor, net, is_whisper


def parse_layers(text: str | int | list) -> str | list[int]:
    """`last`, `all`, `6`, `6-12` or `6+8+10` → 'last' | 'all' | [indices]."""
    if isinstance(text, list):
        return [int(i) for i in text]
    text = str(text).strip().lower()
    if text in ("last", "all"):
        return text
    try:
        if "-" in text:
            lo, hi = (int(t) for t in text.split("-", 1))
            return list(range(lo, hi + 1))
        return [int(t) for t in text.split("+")]
    except ValueError:
        raise ConfigError(f"layers must be last, all, N, A-B or A+B+C (got {text!r})") from None


@register_featurizer
class SSLFeaturizer(Featurizer):
    """Mean (or mean+std) pooled hidden states of a self-supervised speech encoder; `pooling=learned` keeps
    per-layer segment means for a pooling head fitted with the model (see `speechgrade.pooling`)."""

    name = "ssl"
    title = "a self-supervised speech encoder"
    version = "1"
    extra = "ssl"
    libraries = ("torch", "transformers")

    def __init__(self, model: str = DEFAULT_MODEL, layers: str | list[int] = "last", pooling: str = "mean",
                 window_s: float | None = None, batch_size: int = 4, device: str = "auto", segments: int = SEGMENTS):
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)} (got {pooling!r})")
        self.segments = int(segments)
        self.model = str(model)
        self.layers = parse_layers(layers)
        self.pooling = pooling
        self.window_s = window_s
        self.batch_size = int(batch_size)
        self.device = device

    @classmethod
    def check_available(cls) -> None:
        _require_torch()

    @classmethod
    def from_spec(cls, arg, options):
        known = {"layers", "pooling", "window_s", "batch_size", "device", "segments"}
        unknown = set(options) - known
        if unknown:
            raise ConfigError(f"unknown ssl option(s) {sorted(unknown)} (known: {sorted(known)})")
        kwargs: dict[str, Any] = dict(options)
        if "window_s" in kwargs:
            kwargs["window_s"] = float(kwargs["window_s"])
        for key in ("batch_size", "segments"):
            if key in kwargs:
                kwargs[key] = int(kwargs[key])
        return cls(model=arg or DEFAULT_MODEL, **kwargs)

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        digest = config.pop("model_digest", None)
        obj = cls(**config)
        if digest is not None and model_digest(obj.model) != digest:
            raise ConfigError(f"the encoder at '{obj.model}' is not the one this model was trained with "
                              f"(fingerprint {model_digest(obj.model)} != {digest})")
        return obj

    def config(self) -> dict:
        # batch size and device do not change the output beyond float noise, so they stay out of the key
        return {"model": self.model, "model_digest": model_digest(self.model), "layers": self.layers,
                "pooling": self.pooling, "window_s": self.window_s,
                **({"segments": self.segments} if self.pooling == "learned" else {})}

    @property
    def spec(self) -> str:
        layers = self.layers if isinstance(self.layers, str) else "+".join(map(str, self.layers))
        extra = f"&segments={self.segments}" if self.pooling == "learned" else ""
        return f"ssl:{self.model}?layers={layers}&pooling={self.pooling}{extra}"

    def _loaded(self):
        return load_encoder(self.model, resolve_device(self.device))

    def _hidden_size(self) -> int:
        _, net, _ = self._loaded()
        cfg = net.config
        return int(getattr(cfg, "d_model", None) or cfg.hidden_size)

    def _n_states(self) -> int:
        cfg = self._loaded()[1].config
        return int(getattr(cfg, "encoder_layers", None) or cfg.num_hidden_layers) + 1

    def columns(self) -> list[str]:
        d = self._hidden_size()
        if self.pooling == "learned":
            return frame_columns(self._layer_indices(self._n_states()), self.segments, d)
        cols = [f"mean{i}" for i in range(d)]
        if self.pooling == "mean+std":
            cols += [f"std{i}" for i in range(d)]
        return cols

    def _layer_indices(self, n_states: int) -> list[int]:
        if self.layers == "last":
            return [n_states - 1]
        if self.layers == "all":
            return list(range(1, n_states)) or [0]
        bad = [i for i in self.layers if not 0 <= i < n_states]
        if bad:
            raise ConfigError(f"layer(s) {bad} out of range: {self.model} has hidden states 0..{n_states - 1}")
        return list(self.layers)

    def _encode(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        """Frame states (L, T, D) of the selected layers, per window."""
        import torch

        extractor, net, is_whisper = self._loaded()
        device = next(net.parameters()).device
        dtype = next(net.parameters()).dtype
        if is_whisper:
            inputs = extractor(batch, sampling_rate=SAMPLE_RATE, return_tensors="pt")
            x = inputs.input_features.to(device=device, dtype=dtype)
        else:
            inputs = extractor(batch, sampling_rate=SAMPLE_RATE, return_tensors="pt")
            x = inputs.input_values.to(device=device, dtype=dtype)
        with torch.inference_mode():
            states = net(x, output_hidden_states=True).hidden_states
        idx = self._layer_indices(len(states))
        stacked = torch.stack([states[i] for i in idx]).float().cpu().numpy()  # (L, B, T, D)
        out = []
        for k, audio in enumerate(batch):
            frames = stacked[:, k]
            if is_whisper:  # 50 encoder frames per second; the rest is padding of the 30 s input
                frames = frames[:, : max(1, int(np.ceil(len(audio) / 320)))]
            out.append(frames)
        return out

    def featurize_batch(self, audios: list[np.ndarray]) -> list[np.ndarray]:
        _, _, is_whisper = self._loaded()
        window_s = self.window_s or (30.0 if is_whisper else 20.0)
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
                chunk = group[start:start + self.batch_size]
                for (order, i, _), layered in zip(chunk, self._encode([w for _, _, w in chunk])):
                    if self.pooling == "learned":
                        kept[i].append((order, layered))
                        continue
                    frames = layered.mean(0)
                    sums[i] += frames.sum(0)
                    sq[i] += np.square(frames, dtype=np.float64).sum(0)
                    counts[i] += len(frames)
        if self.pooling == "learned":  # windows back in time order, then segment means per layer
            return [segment_means(np.concatenate([f for _, f in sorted(kept[i], key=lambda p: p[0])], axis=1),
                                  self.segments).astype(np.float32).ravel() for i in range(len(audios))]
        mean = sums / counts[:, None]
        parts = [mean]
        if self.pooling == "mean+std":
            parts.append(np.sqrt(np.maximum(sq / counts[:, None] - mean**2, 0.0)))
        return [v.astype(np.float32) for v in np.concatenate(parts, axis=1)]

    def featurize(self, audio: np.ndarray) -> np.ndarray:
        return self.featurize_batch([audio])[0]
