"""The `transformers` backend: hidden states of Hugging Face speech encoders (WavLM, HuBERT, wav2vec2,
data2vec-audio, Whisper's encoder) from a hub id or a local folder, on CPU or GPU (torch).

Clips are cut into 20 s windows (30 s for Whisper, whose padding frames are dropped); `encoder_states`
returns every requested hidden state (0 the embeddings, k layer k; for Whisper the last is the final,
normalised output) for the frames of all windows; `encode_batch` encodes windows of equal length together,
which the `ssl` featurizer pools.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..audio import SAMPLE_RATE, windows
from ..errors import ConfigError, ModelNotFoundError
from ..extras import require
from ..options import FeaturizerOptions, option
from .base import SpeechModel, register_speech_model
from .model_cache import MODELS, ModelCache

DEFAULT_MODEL = "microsoft/wavlm-large"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


def require_torch() -> None:
    """ConfigError naming the extra when torch/transformers are missing."""
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


def load_encoder(model: str, device: str = "cpu", models: ModelCache | None = None) -> tuple[Any, Any, bool]:
    """(feature extractor, encoder, is_whisper) from a local dir, cache or hub, loaded once into `models` (None:
    the process-wide cache)."""
    return (models if models is not None else MODELS).get(("transformers", model, device),
                                                           lambda: _load_encoder(model, device))


def _load_encoder(model: str, device: str) -> tuple[Any, Any, bool]:
    require_torch()
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


def encode_windows(loaded: tuple[Any, Any, bool], batch: list[np.ndarray],
                   indices: Callable[[int], list[int]]) -> list[np.ndarray]:
    """Hidden states (L, T, D) per window of `batch` (equal lengths); `indices(n_states)` picks the layers."""
    import torch

    extractor, net, is_whisper = loaded
    device = next(net.parameters()).device
    dtype = next(net.parameters()).dtype
    inputs = extractor(batch, sampling_rate=SAMPLE_RATE, return_tensors="pt")
    x = (inputs.input_features if is_whisper else inputs.input_values).to(device=device, dtype=dtype)
    with torch.inference_mode():
        states = net(x, output_hidden_states=True).hidden_states
    idx = indices(len(states))
    stacked = torch.stack([states[i] for i in idx]).float().cpu().numpy()  # (L, B, T, D)
    out = []
    for k, audio in enumerate(batch):
        frames = stacked[:, k]
        if is_whisper:  # 50 encoder frames per second; the rest is padding of the 30 s input
            frames = frames[:, : max(1, int(np.ceil(len(audio) / 320)))]
        out.append(frames)
    return out


@register_speech_model
class Transformers(SpeechModel):
    """A Hugging Face speech encoder: every hidden state, windowed over long clips."""

    name = "transformers"
    extra = "ssl"

    @dataclass(frozen=True)
    class Options(FeaturizerOptions):
        """Which encoder, where it runs."""

        model: str = option(DEFAULT_MODEL, "speech encoder (hub id or local folder)", arg=True)
        device: str = option("auto", "cpu, cuda or auto", key=False)

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.options.model, "model_digest": model_digest(self.options.model)}

    @property
    def _loaded(self) -> tuple[Any, Any, bool]:
        return load_encoder(self.options.model, resolve_device(self.options.device), self.models)

    @property
    def is_whisper(self) -> bool:
        """Whether the encoder is Whisper's (30 s inputs whose padding frames are dropped)."""
        return self._loaded[2]

    @property
    def window_s(self) -> float:
        """The window long clips are cut into: 30 s for Whisper, else 20 s."""
        return 30.0 if self.is_whisper else 20.0

    def encode_batch(self, batch: list[np.ndarray], layers: Callable[[int], list[int]]) -> list[np.ndarray]:
        """Hidden states (L, T, D) per window of `batch` (windows of equal length, encoded together);
        `layers(n_states)` picks the hidden states."""
        return encode_windows(self._loaded, batch, layers)

    @property
    def n_states(self) -> int:
        cfg = self._loaded[1].config
        return int(getattr(cfg, "encoder_layers", None) or cfg.num_hidden_layers) + 1

    @property
    def dim(self) -> int:
        cfg = self._loaded[1].config
        return int(getattr(cfg, "d_model", None) or cfg.hidden_size)

    def encoder_states(self, audio: np.ndarray, layers: Sequence[int]) -> np.ndarray:
        n = self.n_states
        index = [i if i >= 0 else n + i for i in layers]
        if any(not 0 <= i < n for i in index):
            raise ConfigError(f"layer(s) out of range: {self.options.model} has hidden states 0..{n - 1}")
        parts = [self.encode_batch([w], lambda _: index)[0] for w in windows(audio, self.window_s)]
        return np.concatenate(parts, axis=1)
