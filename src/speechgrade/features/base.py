"""The Featurizer interface, its registry, and the `name:arg?key=value&...` spec syntax."""

from __future__ import annotations

from typing import Any, ClassVar, Sequence
from urllib.parse import unquote

import numpy as np

from ..cache import config_digest
from ..errors import ConfigError
from ..options import FeaturizerOptions
from ..speech.transcriber import TranscriptOptions

FEATURIZERS: dict[str, type["Featurizer"]] = {}


def register_featurizer(cls: type["Featurizer"]) -> type["Featurizer"]:
    """Class decorator: make a featurizer available by its `name`."""
    FEATURIZERS[cls.name] = cls
    return cls


class Featurizer:
    """Turns one mono 16 kHz float32 clip into a fixed-length float32 vector with named columns."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    extra: ClassVar[str | None] = None  # the pip extra that provides its dependencies
    libraries: ClassVar[tuple[str, ...]] = ()  # distributions whose versions a bundle records
    title: ClassVar[str] = ""  # what it measures, in a few words a user reads (the web page)
    descriptions: ClassVar[dict[str, str]] = {}  # column -> meaning (`speechgrade list --columns`)
    default_rank: ClassVar[int | None] = None  # place in the default feature set (None: not in it)
    stage: ClassVar[str] = "measuring"  # what a progress line says while it runs ("transcribing" for ASR)
    Options: ClassVar[type[FeaturizerOptions]] = FeaturizerOptions  # its options, declared once
    batch_size: int = 1

    def __init__(self, options: FeaturizerOptions | None = None, **kwargs: Any):
        if options is not None and kwargs:
            raise ConfigError(f"featurizer '{self.name}': give options or keyword options, not both")
        if options is not None and not isinstance(options, self.Options):
            raise ConfigError(f"featurizer '{self.name}' takes {self.Options.__name__} (got {type(options).__name__})")
        self.options = options if options is not None else self.Options(**kwargs)

    def summary_columns(self) -> list[str]:
        """Columns worth showing beside a score (the server's `features`)."""
        return []

    def language_model(self) -> str | None:
        """The Whisper model this featurizer already loads (the abstain rules' English check reuses it)."""
        return None

    def details(self, decoded_sha256: str) -> dict[str, Any]:
        """What to show beside a score besides the numbers (e.g. `transcript`, timed `words`, `grammar` findings),
        from what the cache holds for the clip with this decoded-audio hash."""
        return {}

    def warnings(self, decoded_sha256: str) -> list[str]:
        """Why this clip's output is not to be trusted (e.g. a hallucinated transcript), from the cache; the
        abstain rules add these to their own reasons."""
        return []

    @classmethod
    def check_default(cls) -> None:
        """Raise a SpeechgradeError when the default configuration cannot run offline here."""
        cls.check_available()

    def config(self) -> dict[str, Any]:
        """Everything that changes the output, JSON-able (goes into the cache key and the bundle)."""
        return {**self.options.config(), **self.fingerprints()}

    def fingerprints(self) -> dict[str, Any]:
        """What identifies the models behind the options (digests of weights), added to the config."""
        return {}

    def with_asr(self, model: str) -> "Featurizer":
        """This featurizer with its Whisper model (transcripts, encoder) set to `model`; itself when it has none."""
        options = self.options.with_asr(model)
        return self if options == self.options else type(self)(options)

    def columns(self) -> list[str]:
        """Column names of the output vector, in order."""
        raise NotImplementedError

    def featurize(self, audio: np.ndarray) -> np.ndarray:
        """Feature vector of one clip."""
        raise NotImplementedError

    def featurize_batch(self, audios: list[np.ndarray]) -> list[np.ndarray]:
        """Feature vectors of several clips (override to batch on an accelerator)."""
        return [self.featurize(a) for a in audios]

    def featurize_keyed(self, audios: list[np.ndarray], keys: list[str]) -> list[np.ndarray]:
        """Feature vectors of several clips whose decoded-audio hashes (`decoded_sha256`, hashed once per run by
        the extractor, which calls this) are `keys`: a featurizer that finds per-clip entries in the cache (such as
        transcripts) overrides this to use them instead of hashing the audio again. Default: `featurize_batch`."""
        return self.featurize_batch(audios)

    def bind(self, cache) -> None:
        """Give the featurizer the feature cache (for intermediate results such as transcripts)."""

    @classmethod
    def check_available(cls) -> None:
        """Raise ConfigError saying what to install when a dependency is missing."""

    @classmethod
    def from_spec(cls, arg: str | None, options: dict[str, str]) -> "Featurizer":
        """Build from the parts of a spec string; `options` are the `key=value` pairs."""
        return cls(cls.Options.from_spec(cls.name, arg, options))

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Featurizer":
        """Rebuild from `config()` output (used when loading a bundle)."""
        return cls(cls.Options.from_config(config))

    @property
    def identity(self) -> dict[str, Any]:
        """Name, version and config: what the cache key and the bundle record."""
        return {"name": self.name, "version": self.version, "config": self.config()}

    @property
    def cache_namespace(self) -> str:
        """Folder of this featurizer+config in the cache."""
        return f"{self.name}-{config_digest(self.identity)}"

    @property
    def spec(self) -> str:
        """A spec string that rebuilds an equivalent featurizer."""
        return self.options.spec(self.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


class TranscriptFeaturizer(Featurizer):
    """A featurizer of the (cached) Whisper transcript: its options say which model writes the transcript and
    how, the feature cache holds the transcripts, so `whisper` and every transcript featurizer share one ASR pass
    per clip."""

    Options: ClassVar[type[FeaturizerOptions]] = TranscriptOptions
    stage: ClassVar[str] = "transcribing"  # the first to run transcribes; the others read the cached transcript
    cache: Any = None

    def bind(self, cache) -> None:
        self.cache = cache

    @property
    def asr(self):
        """The WhisperOptions of the transcript this featurizer reads."""
        return self.options.transcript()

    def transcriber(self):
        """The transcriber of these options, on the bound cache, with this featurizer's models (if it holds them)."""
        from ..speech.transcriber import Transcriber

        return Transcriber(self.asr, self.cache, getattr(self, "models", None))

    def warnings(self, decoded_sha256: str) -> list[str]:
        return self.transcriber().warnings(decoded_sha256)

    def vectors(self, transcripts: list) -> list[np.ndarray]:
        """Feature vectors of transcripts (what each transcript featurizer computes)."""
        raise NotImplementedError

    def featurize(self, audio: np.ndarray) -> np.ndarray:
        return self.featurize_batch([audio])[0]

    def featurize_batch(self, audios: list[np.ndarray]) -> list[np.ndarray]:
        """The missing transcripts first, two clips at a time; then each clip's features."""
        return self.vectors(self.transcriber().transcribe_many(audios))

    def featurize_keyed(self, audios: list[np.ndarray], keys: list[str]) -> list[np.ndarray]:
        """As `featurize_batch`, with the run's decoded-audio hashes as the transcripts' keys (no second hash)."""
        return self.vectors(self.transcriber().transcribe_many(audios, keys=keys))

    def language_model(self) -> str | None:
        return self.options.asr

    def fingerprints(self) -> dict[str, Any]:
        return {"asr_fingerprint": self.asr.identity()["model_fingerprint"]}

    @classmethod
    def check_default(cls) -> None:
        from ..speech.whisper_weights import resolve_whisper_model

        cls.check_available()
        resolve_whisper_model(cls.Options().asr)


def parse_spec(spec: str) -> tuple[str, str | None, dict[str, str]]:
    """Split `name[:arg][?key=value&...]` into its parts."""
    spec = spec.strip()
    options: dict[str, str] = {}
    if "?" in spec:
        spec, query = spec.split("?", 1)
        # not parse_qsl: it reads '+' as a space, and '+' means "and" here (mean+std, 6+8)
        for pair in filter(None, query.split("&")):
            key, sep, value = pair.partition("=")
            if not sep:
                raise ConfigError(f"option {pair!r} in feature spec {spec!r} needs the form key=value")
            options[unquote(key).strip()] = unquote(value).strip()
    name, _, arg = spec.partition(":")
    return name.strip(), (arg.strip() or None), options


def get_featurizer(spec: "str | Featurizer") -> Featurizer:
    """A featurizer from a spec such as `acoustic` or `ssl:microsoft/wavlm-large?layers=6-12`."""
    if isinstance(spec, Featurizer):
        return spec
    name, arg, options = parse_spec(spec)
    if name not in FEATURIZERS:
        raise ConfigError(f"unknown featurizer '{name}' (available: {', '.join(sorted(FEATURIZERS))})")
    cls = FEATURIZERS[name]
    cls.check_available()
    try:
        return cls.from_spec(arg, options)
    except ConfigError as exc:
        raise ConfigError(f"feature spec {spec.strip()!r}: {exc}") from None


def as_featurizers(featurizers: "str | Featurizer | Sequence[str | Featurizer]",
                   asr: str | None = None) -> list[Featurizer]:
    """Featurizer objects from specs (`"acoustic,ssl:DIR"`), objects, or a list of either; `asr` sets the Whisper
    model of every featurizer that uses one (transcripts and encoder), so one model serves them all."""
    if isinstance(featurizers, (str, Featurizer)):
        featurizers = split_specs(featurizers) if isinstance(featurizers, str) else [featurizers]
    out = [get_featurizer(f) for f in featurizers]
    if not out:
        raise ConfigError("no featurizer given")
    if asr is not None:
        if not str(asr).strip():
            raise ConfigError("--asr needs a Whisper model: a name (base, small...), a hub id or a folder")
        out = [f.with_asr(str(asr).strip()) for f in out]
    return out


def split_specs(text: str) -> list[str]:
    """Split a comma-separated feature list (`acoustic,ssl:model?layers=6-12`)."""
    return [part for part in (p.strip() for p in text.split(",")) if part]
