"""The `faster-whisper` backend (CTranslate2): transcripts, language detection, the encoder's final output.

Encoder states come from the 30 s log-mel windows of `whisper_layers.log_mel_windows`. The first window is
the one transcription encodes first, so one encoder call serves both (`load_whisper`'s model remembers its
outputs by their input for a few windows).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from ..transcribe import Transcript, WhisperOptions, load_whisper, resolve_whisper_model, transcribe_audio
from .base import SpeechModel, register_speech_model
from .whisper_layers import encoder_layers, encoder_shape, log_mel_windows


@register_speech_model
class FasterWhisper(SpeechModel):
    """Whisper on CTranslate2 (int8 on CPU): transcribes; its encoder states are the final output only."""

    name = "faster-whisper"
    extra = "whisper"
    Options = WhisperOptions

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, **self.options.identity()}

    @property
    def model(self):
        """The loaded faster_whisper.WhisperModel."""
        o = self.options
        return load_whisper(o.model, o.device, o.compute_type)

    @functools.cached_property
    def folder(self) -> str:
        """The resolved CTranslate2 folder (once: this backend is built once per process and options)."""
        return resolve_whisper_model(self.options.model)

    @property
    def n_states(self) -> int:
        return encoder_layers(self.folder) + 2

    @property
    def dim(self) -> int:
        return encoder_shape(self.folder)[1]

    def encoder_states(self, audio: np.ndarray, layers: Sequence[int]) -> np.ndarray:
        last = self.n_states - 1
        if any(i not in (-1, last) for i in layers):
            raise ConfigError("the faster-whisper backend gives only the encoder's final output (layers=last); "
                              "use backend=whisper-numpy for inner layers")
        w = self.model
        batch, valid = log_mel_windows(w.feature_extractor, audio)
        out = np.concatenate([np.array(w.encode(b[None]))[0][:n] for b, n in zip(batch, valid)])
        return np.repeat(out[None].astype(np.float32), len(layers), axis=0)

    def transcribe(self, audio: np.ndarray) -> Transcript:
        return transcribe_audio(audio, self.options)

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        language, probability, _ = self.model.detect_language(audio)
        return language, float(probability)

