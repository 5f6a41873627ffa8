"""The speech-model seam: backends that transcribe a clip and/or give its encoder states, in a registry.

Shaped like the featurizer registry: each backend is one class with a `name`, frozen dataclass `Options`
and `identity()` for cache keys. `transcribe(audio) -> Transcript`, `encoder_states(audio, layers) ->
(layers, frames, dim)` of the frames that hold audio, optionally `detect_language(audio)`. Featurizers ask
`speech_model(name, options, models)` and get the instance that `models` (a `ModelCache`; None: the
process-wide one) holds, so a model loads once and a caller can drop it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Sequence

import numpy as np

from ..cache import config_digest
from ..errors import ConfigError
from ..options import FeaturizerOptions
from .model_cache import MODELS, ModelCache

SPEECH_MODELS: dict[str, type["SpeechModel"]] = {}


def register_speech_model(cls: type["SpeechModel"]) -> type["SpeechModel"]:
    """Class decorator: make a speech-model backend available by its `name`."""
    SPEECH_MODELS[cls.name] = cls
    return cls


class SpeechModel:
    """A speech model behind one interface; a backend implements what it can (the rest raises ConfigError)."""

    name: ClassVar[str] = ""
    extra: ClassVar[str | None] = None  # the pip extra that provides its dependencies
    Options: ClassVar[type[FeaturizerOptions]] = FeaturizerOptions

    def __init__(self, options: FeaturizerOptions, models: ModelCache | None = None):
        self.options = options
        self.models = models if models is not None else MODELS  # where its loaded weights are held

    @classmethod
    def options_for(cls, settings: FeaturizerOptions, model: str | None = None) -> FeaturizerOptions:
        """This backend's Options from a featurizer's settings: every option both declare (beam size, language,
        device...) is passed on, and `model` (when given) sets the backend's `:argument` option."""
        given = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
        names = {f.name for f in cls.Options.fields()}
        kwargs = {k: v for k, v in given.items() if k in names}
        arg = cls.Options.arg_field()
        if arg is not None:  # the settings' model names this backend's model only when passed as `model`
            kwargs.pop(arg, None)
            if model is not None:
                kwargs[arg] = model
        return cls.Options(**kwargs)

    @classmethod
    def transcribes(cls) -> bool:
        """Whether this backend implements `transcribe`."""
        return cls.transcribe is not SpeechModel.transcribe

    @classmethod
    def detects_language(cls) -> bool:
        """Whether this backend implements `detect_language`."""
        return cls.detect_language is not SpeechModel.detect_language

    def identity(self) -> dict[str, Any]:
        """What changes this model's output (options and weights' fingerprint): part of cache keys."""
        return {"backend": self.name, **self.options.config()}

    def transcript_identity(self) -> dict[str, Any]:
        """What changes its transcripts: the key of the transcript cache (the identity unless a backend keeps an
        older key)."""
        return self.identity()

    def fingerprint(self) -> str:
        """A short identity of the weights behind this model (featurizers record it in their config)."""
        return config_digest(self.identity())[:16]

    @property
    def n_states(self) -> int:
        """Hidden states `encoder_states` can give: 0 the embeddings, k block k, the last the final output."""
        raise ConfigError(f"speech model backend '{self.name}' gives no encoder states")

    @property
    def dim(self) -> int:
        """Width of one encoder state."""
        raise ConfigError(f"speech model backend '{self.name}' gives no encoder states")

    def encoder_states(self, audio: np.ndarray, layers: Sequence[int]) -> np.ndarray:
        """(len(layers), frames, dim) float32 states of the frames that hold audio (all windows, in order)."""
        raise ConfigError(f"speech model backend '{self.name}' gives no encoder states")

    def transcribe(self, audio: np.ndarray) -> Any:
        """What was said, with timed words (a `speechgrade.speech.transcript.Transcript`)."""
        raise ConfigError(f"speech model backend '{self.name}' does not transcribe")

    def detect_language(self, audio: np.ndarray, language: str | None = None) -> tuple[str, float]:
        """(language code, probability) of the speech in the clip: the likeliest language, or `language` with its
        probability when one is given (NaN when the model cannot tell languages)."""
        raise ConfigError(f"speech model backend '{self.name}' does not detect languages")


def get_speech_model_class(name: str) -> type[SpeechModel]:
    """The registered backend called `name` (the package import registers the built-in ones); ConfigError
    listing the known ones otherwise."""
    if name not in SPEECH_MODELS:
        raise ConfigError(f"unknown speech model backend '{name}' (known: {', '.join(sorted(SPEECH_MODELS))})")
    return SPEECH_MODELS[name]


def speech_model(name: str, options: FeaturizerOptions, models: ModelCache | None = None) -> SpeechModel:
    """The backend `name` with these options, held by `models` (None: the process-wide `MODELS`), so it and the
    weights it loads are built once until the cache is cleared."""
    cls = get_speech_model_class(name)
    if not isinstance(options, cls.Options):
        raise ConfigError(f"speech model backend '{name}' takes {cls.Options.__name__} (got {type(options).__name__})")
    models = models if models is not None else MODELS
    return models.get(("speech-model", name, options), lambda: cls(options, models))


def parse_layers(text: Any) -> str | list[int]:
    """`last`, `top`, `all`, `6`, `6-12` or `6+8+10` -> 'last' | 'top' | 'all' | [indices]."""
    if isinstance(text, (list, tuple)):
        return [int(i) for i in text]
    text = str(text).strip().lower()
    if text in ("last", "all", "top"):
        return text
    try:
        if "-" in text:
            lo, hi = (int(t) for t in text.split("-", 1))
            if not 0 <= lo <= hi <= 1000:
                raise ValueError
            return list(range(lo, hi + 1))
        return [int(t) for t in text.split("+")]
    except ValueError:
        raise ConfigError(f"layers must be last, top, all, N, A-B or A+B+C (got {text!r})") from None


def layers_value(value: Any, named: Sequence[str] = ("last", "all")) -> str | tuple[int, ...]:
    """The `layers` option as stored: one of `named`, or a tuple of 1-1000 hidden-state indices in 0..1000."""
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list) and not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise ConfigError(f"layers must be whole numbers (got {value!r})")
    parsed = parse_layers(value)
    if isinstance(parsed, str):
        if parsed not in named:
            raise ConfigError(f"layers must be {', '.join(named)}, N, A-B or A+B+C (got {parsed!r})")
        return parsed
    if not parsed or len(parsed) > 1000 or any(i < 0 or i > 1000 for i in parsed):
        raise ConfigError(f"layers must be 1 to 1000 indices between 0 and 1000 (got {value!r})")
    return tuple(parsed)


def show_layers(value: str | tuple[int, ...]) -> str:
    """`layers` as a spec writes it: a name, `6-12` for a run, else `6+8+10`."""
    if isinstance(value, str):
        return value
    run = list(range(value[0], value[-1] + 1))
    return f"{value[0]}-{value[-1]}" if len(value) > 2 and list(value) == run else "+".join(map(str, value))
