"""Whisper's encoder in NumPy, on the weights of a CTranslate2 Whisper folder: every layer's states; and the
30 s log-mel windows both Whisper backends encode.

CTranslate2 gives only the encoder's final output. This re-implementation (convolutions, sinusoidal
positions, pre-norm attention blocks, final layer norm) reads the same `model.bin` and returns the input
to each block, the output of the last block before the final layer norm, and the final output; a test
holds it to CTranslate2's `encode` on the same log-mel windows. No torch needed.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ModelNotFoundError
from .ct2file import read_ct2

_SQRT_HALF = np.float32(np.sqrt(0.5))


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return x * np.float32(0.5) * (np.float32(1.0) + erf(x * _SQRT_HALF))


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = np.square(x - mu).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def _conv1d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """(C, T) -> (O, T // stride): kernel 3, padding 1, as Whisper's two input convolutions."""
    c, t = x.shape
    padded = np.pad(x, ((0, 0), (1, 1)))
    n = (t + 2 - 3) // stride + 1
    cols = np.stack([padded[:, k:k + stride * (n - 1) + 1:stride] for k in range(3)], axis=1)  # (C, 3, n)
    return weight.reshape(weight.shape[0], -1) @ cols.reshape(c * 3, n) + bias[:, None]


class NumpyWhisperEncoder:
    """A Whisper encoder whose `states(mel)` returns the hidden states of every layer as float32 arrays."""

    def __init__(self, weights: dict[str, np.ndarray], num_heads: int):
        self.w = weights
        self.num_heads = num_heads
        self.n_layers = sum(1 for k in weights if k.endswith("/self_attention/linear_0/weight"))
        self.dim = int(weights["encoder/conv1/weight"].shape[0])
        self.n_mels = int(weights["encoder/conv1/weight"].shape[1])

    @classmethod
    def from_ct2(cls, folder: str | Path) -> "NumpyWhisperEncoder":
        """Load the encoder weights of a CTranslate2 Whisper folder (float32/float16; int8 is dequantised)."""
        folder = Path(folder)
        spec, raw = read_ct2(folder / "model.bin", prefix="encoder/")
        if spec != "WhisperSpec" or "encoder/conv1/weight" not in raw:
            raise ModelNotFoundError(f"{folder}: not a CTranslate2 Whisper model (spec {spec!r})")
        weights = {}
        for name, arr in raw.items():
            if name.endswith("_scale"):
                continue
            scale = raw.get(name + "_scale")
            if arr.dtype == np.int8 and scale is not None:  # CTranslate2 int8: weight = q / scale per row
                arr = arr.astype(np.float32) / np.asarray(scale, np.float32).reshape(-1, *[1] * (arr.ndim - 1))
            weights[name] = np.ascontiguousarray(arr, dtype=np.float32)
        heads = raw.get("encoder/num_heads")
        if heads is None:
            cfg = folder / "config.json"
            heads = json.loads(cfg.read_text()).get("num_heads") if cfg.is_file() else None
        if heads is None:
            raise ModelNotFoundError(f"{folder}: the model file does not say how many attention heads it has")
        return cls(weights, int(np.asarray(heads)))

    @property
    def n_states(self) -> int:
        """Hidden states on offer: the embeddings (0), each block's output (1..n_layers), the final output."""
        return self.n_layers + 2

    def _block(self, x: np.ndarray, i: int) -> np.ndarray:
        w, p = self.w, f"encoder/layer_{i}/"
        t, d = x.shape
        h = _layer_norm(x, w[p + "self_attention/layer_norm/gamma"], w[p + "self_attention/layer_norm/beta"])
        qkv = h @ w[p + "self_attention/linear_0/weight"].T + w[p + "self_attention/linear_0/bias"]
        dh = d // self.num_heads
        q, k, v = (qkv[:, j * d:(j + 1) * d].reshape(t, self.num_heads, dh).transpose(1, 0, 2) for j in range(3))
        scores = (q * np.float32(dh ** -0.5)) @ k.transpose(0, 2, 1)
        scores -= scores.max(-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(-1, keepdims=True)
        att = (scores @ v).transpose(1, 0, 2).reshape(t, d)
        x = x + att @ w[p + "self_attention/linear_1/weight"].T + w[p + "self_attention/linear_1/bias"]
        h = _layer_norm(x, w[p + "ffn/layer_norm/gamma"], w[p + "ffn/layer_norm/beta"])
        h = _gelu(h @ w[p + "ffn/linear_0/weight"].T + w[p + "ffn/linear_0/bias"])
        return x + h @ w[p + "ffn/linear_1/weight"].T + w[p + "ffn/linear_1/bias"]

    def states(self, mel: np.ndarray, layers: list[int]) -> np.ndarray:
        """(len(layers), frames, dim) states of one log-mel window (n_mels, 3000); index 0 is the embeddings,
        k the output of block k (before the final layer norm), n_layers + 1 the final output."""
        w = self.w
        x = _gelu(_conv1d(np.asarray(mel, np.float32), w["encoder/conv1/weight"], w["encoder/conv1/bias"], 1))
        x = _gelu(_conv1d(x, w["encoder/conv2/weight"], w["encoder/conv2/bias"], 2)).T
        x = x + w["encoder/position_encodings/encodings"][: len(x)]
        wanted = set(layers)
        kept = {0: x} if 0 in wanted else {}
        for i in range(self.n_layers):
            if max(wanted) <= i:
                break
            x = self._block(x, i)
            if i + 1 in wanted:
                kept[i + 1] = x
        if self.n_layers + 1 in wanted:
            kept[self.n_layers + 1] = _layer_norm(x, w["encoder/layer_norm/gamma"], w["encoder/layer_norm/beta"])
        return np.stack([kept[i] for i in layers]).astype(np.float32)


@functools.lru_cache(maxsize=8)
def encoder_shape(folder: str) -> tuple[int, int]:
    """(blocks, width) of the encoder of a CTranslate2 Whisper folder, from the model file (nothing loaded)."""
    _, arrays = read_ct2(Path(folder) / "model.bin", prefix="encoder/")
    blocks = {m.group(1) for name in arrays if (m := re.match(r"encoder/layer_(\d+)/", name))}
    if "encoder/conv1/weight" not in arrays:
        raise ConfigError(f"{folder}: not a CTranslate2 Whisper model (no encoder)")
    return len(blocks), int(arrays["encoder/conv1/weight"].shape[0])


def encoder_layers(folder: str) -> int:
    """How many blocks the encoder of a CTranslate2 Whisper folder has."""
    return encoder_shape(folder)[0]


TAIL_FRAMES = 100  # a last window holding under 1 s of audio is dropped: it would cost a whole 30 s encoder pass


def log_mel_windows(feature_extractor, audio: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """(windows (K, n_mels, 3000) float32, encoder frames holding audio in each) of a 16 kHz clip. A last window
    with under 1 s of audio (a 60.07 s answer's 0.07 s) is left out when there are others."""
    from faster_whisper.audio import pad_or_trim

    mel = feature_extractor(audio)  # (n_mels, n_frames) for the whole clip
    window = feature_extractor.nb_max_frames
    content = max(mel.shape[-1] - 1, 1)  # the extractor pads 160 samples: one frame beyond the audio
    starts = list(range(0, content, window))
    if len(starts) > 1 and content - starts[-1] < TAIL_FRAMES:
        starts.pop()
    batch = np.stack([pad_or_trim(mel[:, s:min(s + window, content)]) for s in starts]).astype(np.float32)
    valid = [max(1, int(np.ceil(min(window, content - s) / 2))) for s in starts]
    return batch, valid
