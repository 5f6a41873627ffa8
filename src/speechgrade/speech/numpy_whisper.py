"""The `whisper-numpy` backend: every encoder layer of a CTranslate2 Whisper folder, in NumPy (no torch).

The same log-mel windows as the faster-whisper backend; `NumpyWhisperEncoder` runs the encoder on the
folder's own weights (held equal to CTranslate2's output by a test).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from ..options import ASR_DEFAULT, FeaturizerOptions, option
from .base import SpeechModel, register_speech_model
from .whisper_layers import NumpyWhisperEncoder, encoder_layers, encoder_shape, log_mel_windows
from .whisper_weights import model_fingerprint, require_faster_whisper, resolve_whisper_model


@register_speech_model
class NumpyWhisper(SpeechModel):
    """Whisper's encoder in NumPy on a CTranslate2 folder's weights: every layer's states, no torch.

    States: the embeddings, every block (before the final layer norm) and the final output."""

    name = "whisper-numpy"
    extra = "whisper"

    @dataclass(frozen=True)
    class Options(FeaturizerOptions):
        """Which Whisper model's encoder."""

        model: str = option(ASR_DEFAULT, "Whisper model (name, hub id or CTranslate2 folder)", arg=True, asr=True)

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.options.model,
                "model_fingerprint": model_fingerprint(self.options.model)}

    @functools.cached_property
    def folder(self) -> str:
        """The resolved CTranslate2 folder (once per backend instance)."""
        require_faster_whisper()  # its log-mel front end
        return resolve_whisper_model(self.options.model)

    @property
    def encoder(self) -> NumpyWhisperEncoder:
        """The loaded encoder (once per model cache)."""
        return self.models.get(("whisper-numpy", self.folder), lambda: NumpyWhisperEncoder.from_ct2(self.folder))

    @property
    def n_states(self) -> int:
        return encoder_layers(self.folder) + 2

    @property
    def dim(self) -> int:
        return encoder_shape(self.folder)[1]

    @functools.cached_property
    def _feature_extractor(self):
        from faster_whisper.feature_extractor import FeatureExtractor

        return FeatureExtractor(feature_size=self.encoder.n_mels)

    def encoder_states(self, audio: np.ndarray, layers: Sequence[int]) -> np.ndarray:
        n = self.n_states
        index = [i if i >= 0 else n + i for i in layers]
        if any(not 0 <= i < n for i in index):
            raise ConfigError(f"layer(s) out of range: {self.options.model} has states 0..{n - 1}")
        batch, valid = log_mel_windows(self._feature_extractor, audio)
        return np.concatenate([self.encoder.states(b, index)[:, :k] for b, k in zip(batch, valid)], axis=1)
