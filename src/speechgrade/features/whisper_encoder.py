"""`whisper-encoder`: pooled Whisper encoder states of chosen layers, through the speech-model seam.

The log-mel spectrogram of the whole clip is cut into 30 s windows; each is padded to 30 s as Whisper
requires, and only the encoder frames that hold audio (2 mel frames each) are pooled, never the padding.
Frames of all windows are pooled as one sequence. Layers: `last` (the final output, what CTranslate2
gives), `top` (the last block before the final layer norm), `all` (every block), `N`, `A-B`, `A+B`
(0 the embeddings, k block k, L+1 the final output). Several layers are averaged frame by frame, or
concatenated with `layer_pool=concat`. `backend=auto` runs CTranslate2 for `last` (the encoder call that
transcription makes is shared) and the NumPy encoder for inner layers.
Spec: `whisper-encoder[:MODEL][?layers=top&pooling=mean]`; the default, the final output pooled by mean and
std, measured as good as the pre-norm top block on real answers and costs no extra encoder pass.
`pooling=learned` keeps 16 segment means.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..options import ASR_DEFAULT, FeaturizerOptions, option
from .frames import SEGMENTS, frame_columns, segment_means
from ..speech import SPEECH_MODELS, SpeechModel, layers_value, show_layers, speech_model
from ..speech.model_cache import ModelCache
from ..speech.whisper_layers import encoder_layers, encoder_shape
from ..speech.whisper_weights import model_fingerprint, require_faster_whisper, resolve_whisper_model
from .base import Featurizer, register_featurizer

LAYER_NAMES = ("last", "top", "all")


def encoder_backend(value: str) -> str:
    """The `backend` option: auto, or a registered speech-model backend (faster-whisper, whisper-numpy, a
    plug-in's) that gives encoder states of a Whisper model."""
    value = str(value).strip()
    if value != "auto" and value not in SPEECH_MODELS:
        raise ConfigError(f"option 'backend' must be auto or a speech model backend "
                          f"({', '.join(sorted(SPEECH_MODELS))}) (got {value!r})")
    return value
# what a bundle made before layer options meant by a config without them
LEGACY = {"layers": "last", "layer_pool": "average", "backend": "auto", "pooling": "mean"}


@register_featurizer
class WhisperEncoderFeaturizer(Featurizer):
    """Pooled encoder states of a Whisper model (chosen layers)."""

    name = "whisper-encoder"
    title = "Whisper's encoder states"
    version = "3"
    extra = "whisper"
    libraries = ("faster-whisper", "ctranslate2")
    default_rank = 2
    models: ModelCache | None = None  # where the speech model is held (None: the process-wide cache)

    @dataclass(frozen=True)
    class Options(FeaturizerOptions):
        """Options of the whisper-encoder featurizer."""

        model: str = option(ASR_DEFAULT, "Whisper model (name, hub id or CTranslate2 folder)", arg=True, asr=True)
        layers: Any = option("last", "states pooled: last (final output), top (last block before the final norm), "
                             "all (every block), N, A-B or A+B+C (0 embeddings .. L+1 final output)",
                             parse=lambda v: layers_value(v, LAYER_NAMES), show=lambda v: show_layers(v))
        layer_pool: str = option("average", "several layers: averaged frame by frame, or concatenated",
                                 choices=("average", "concat"))
        pooling: str = option("mean+std", "pooling over frames (mean+std measured best on real answers)",
                              choices=("mean", "mean+std", "learned"))
        segments: int = option(SEGMENTS, "segments per clip kept for pooling=learned", kind=int, min=1, max=256)
        backend: str = option("auto", "speech model backend: auto (CTranslate2 for last, NumPy for inner layers), "
                              "faster-whisper, whisper-numpy or a registered one", parse=encoder_backend)
        compute_type: str = option("auto", "CTranslate2 compute type (auto, int8, float16, float32...)")
        device: str = option("auto", "cpu, cuda or auto", key=False)

        @classmethod
        def from_config(cls, config: dict[str, Any]) -> "FeaturizerOptions":
            if isinstance(config, dict):
                config = {**LEGACY, **config}
            return super().from_config(config)

    @classmethod
    def check_available(cls) -> None:
        require_faster_whisper()

    @classmethod
    def check_default(cls) -> None:
        resolve_whisper_model(cls.Options().model)

    def language_model(self) -> str | None:
        return self.options.model

    def fingerprints(self) -> dict:
        return {"model_fingerprint": model_fingerprint(self.options.model)}

    @functools.cached_property
    def _folder(self) -> str:
        """The model's CTranslate2 folder, resolved once (not on every clip)."""
        return resolve_whisper_model(self.options.model)

    def layer_indices(self) -> list[int]:
        """The hidden-state indices pooled (0 embeddings, k block k, L+1 the final output)."""
        n = encoder_layers(self._folder) + 2
        layers = self.options.layers
        if isinstance(layers, str):
            return {"last": [n - 1], "top": [n - 2], "all": list(range(1, n - 1))}[layers]
        bad = [i for i in layers if i >= n]
        if bad:
            raise ConfigError(f"layer(s) {bad} out of range: {self.options.model} has states 0..{n - 1} "
                              f"(0 embeddings, {n - 1} the final output)")
        return list(layers)

    def speech_model(self) -> SpeechModel:
        """The backend that computes the states, from the registry (its options from these: model, device,
        compute type)."""
        o = self.options
        backend = o.backend
        if backend == "auto":
            last = self.layer_indices() == [encoder_layers(self._folder) + 1]
            backend = "faster-whisper" if last else "whisper-numpy"
        return speech_model(backend, SPEECH_MODELS[backend].options_for(o, o.model), self.models)

    def _dim(self) -> int:
        return encoder_shape(self._folder)[1]

    def columns(self) -> list[str]:
        d, layers = self._dim(), self.layer_indices()
        if self.options.pooling == "learned":
            return frame_columns(layers if self.options.layer_pool == "concat" else [0], self.options.segments, d)
        stats = ["mean"] + (["std"] if self.options.pooling == "mean+std" else [])
        if self.options.layer_pool == "concat" and len(layers) > 1:
            return [f"L{k}.{s}{i}" for k in layers for s in stats for i in range(d)]
        return [f"{s}{i}" for s in stats for i in range(d)]

    def states(self, audio: np.ndarray) -> np.ndarray:
        """(layers, T, D) encoder states of the frames that hold audio; averaged to (1, T, D) unless concat."""
        states = self.speech_model().encoder_states(audio, self.layer_indices())
        return states if self.options.layer_pool == "concat" else states.mean(0, keepdims=True)

    def frames(self, audio: np.ndarray) -> np.ndarray:
        """Encoder states (T, D) of the frames that hold audio (layers averaged)."""
        return self.states(audio).mean(0)

    def featurize(self, audio: np.ndarray) -> np.ndarray:
        states = self.states(audio)
        if self.options.pooling == "learned":
            return segment_means(states, self.options.segments).astype(np.float32).ravel()
        parts = [states.mean(1)] + ([states.std(1)] if self.options.pooling == "mean+std" else [])
        return np.stack(parts, axis=1).reshape(-1).astype(np.float32)
