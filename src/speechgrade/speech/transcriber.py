"""Transcripts through the speech-model registry, kept in the feature cache and read from it once per clip.

`asr_model(settings)` picks the backend a transcript featurizer's ASR setting names: `NAME` or `NAME:MODEL` for
a registered backend that transcribes (`--asr toy`, `--asr faster-whisper:small`), anything else a Whisper model
for the faster-whisper backend (`base`, a hub id, a CTranslate2 folder). `Transcriber` transcribes with it and
keeps transcripts in the feature cache under the backend's `transcript_identity()`; `TranscriptStore` hands the
parsed transcripts of one cache to every reader (featurizers, `warnings()`, `details()`), so the cache file of a
clip is read and parsed once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..audio import audio_digest
from ..cache import FeatureCache, config_digest
from ..machine import cpu_count
from ..options import ASR_DEFAULT, FeaturizerOptions, option
from .base import SPEECH_MODELS, SpeechModel, speech_model
from .faster_whisper import WhisperOptions, _beam_size, _language, _verbatim
from .model_cache import ModelCache
from .transcript import Transcript, transcript_warnings

DEFAULT_BACKEND = "faster-whisper"
STORE_SIZE = 256  # parsed transcripts a store keeps (a few KB each): a batch and its readers fit many times over


def asr_backend(asr: str) -> tuple[str, str | None]:
    """(backend, model or None for its default) named by an ASR setting: `NAME[:MODEL]` for a registered backend
    that transcribes (an existing folder of that name stays a folder), else the default backend with `asr`."""
    name, sep, model = asr.partition(":")
    cls = SPEECH_MODELS.get(name)
    if cls is not None and cls.transcribes() and not Path(asr).is_dir():
        return name, (model or None) if sep else None
    return DEFAULT_BACKEND, asr


def asr_model(settings: WhisperOptions, models: ModelCache | None = None) -> SpeechModel:
    """The speech model that transcribes with these settings (see `asr_backend`), from `models`."""
    backend, model = asr_backend(settings.model)
    if backend == DEFAULT_BACKEND and model == settings.model:
        return speech_model(backend, settings, models)  # the settings are its options as they are
    cls = SPEECH_MODELS[backend]
    return speech_model(backend, cls.options_for(settings, model), models)


@dataclass(frozen=True)
class TranscriptOptions(FeaturizerOptions):
    """Options of a featurizer that reads the transcript: which model writes it, and how."""

    asr: str = option(ASR_DEFAULT, "Whisper model that writes the transcript (name, hub id or folder)", asr=True)
    beam_size: int = _beam_size()
    language: str | None = _language()
    verbatim: bool = _verbatim()

    def transcript(self, device: str = "auto", compute_type: str = "auto") -> WhisperOptions:
        """The WhisperOptions these options transcribe with."""
        return WhisperOptions(self.asr, self.beam_size, self.language, self.verbatim, device, compute_type)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TranscriptOptions":
        # bundles before option dataclasses nested the transcription identity under "asr"
        if isinstance(config, dict) and isinstance(config.get("asr"), dict):
            nested = config["asr"]
            config = {**config, "asr": nested.get("model", ASR_DEFAULT),
                      **{k: nested[k] for k in ("beam_size", "language", "verbatim") if k in nested}}
        return super().from_config(config)


_ATTACH = threading.Lock()  # guards attaching a store to a cache (a constant lock, not state)


class TranscriptStore:
    """Parsed transcripts of one feature cache: each is read from the cache once, then handed out from memory
    (the newest `size`). `clear()` drops them."""

    def __init__(self, cache: FeatureCache, size: int = STORE_SIZE):
        self.cache = cache
        self.size = size
        self._parsed: OrderedDict[tuple[str, str], Transcript] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def of(cls, cache: FeatureCache) -> "TranscriptStore":
        """The store kept on this cache object (made on first use): every reader bound to the cache of one
        extraction run shares it."""
        with _ATTACH:
            store = getattr(cache, "transcripts", None)
            if not isinstance(store, cls) or store.cache is not cache:
                store = cls(cache)
                cache.transcripts = store
            return store

    def get(self, namespace: str, key: str) -> Transcript | None:
        """The transcript stored under (namespace, key): from memory, else read and parsed from the cache."""
        with self._lock:
            if (namespace, key) in self._parsed:
                self._parsed.move_to_end((namespace, key))
                return self._parsed[(namespace, key)]
        hit = self.cache.get_json(namespace, key)
        try:
            parsed = None if hit is None else Transcript.from_dict(hit)
        except (TypeError, ValueError, AttributeError):  # a damaged entry is a miss: transcribed again
            parsed = None
        if parsed is not None:
            self._keep(namespace, key, parsed)
        return parsed

    def put(self, namespace: str, key: str, transcript: Transcript) -> None:
        """Store a transcript in the cache and keep it parsed."""
        self.cache.put_json(namespace, key, transcript.to_dict())
        self._keep(namespace, key, transcript)

    def _keep(self, namespace: str, key: str, transcript: Transcript) -> None:
        with self._lock:
            self._parsed[(namespace, key)] = transcript
            self._parsed.move_to_end((namespace, key))
            while len(self._parsed) > self.size:
                self._parsed.popitem(last=False)

    def clear(self) -> None:
        """Forget the parsed transcripts (the cache keeps them)."""
        with self._lock:
            self._parsed.clear()


class Transcriber:
    """Transcribes clips with the registry's speech model for `options` and keeps transcripts in the feature
    cache, keyed by audio content + the model's transcript identity."""

    def __init__(self, options: WhisperOptions = WhisperOptions(), cache: FeatureCache | None = None,
                 models: ModelCache | None = None):
        self.options = options
        self.cache = cache
        self.models = models
        self.store = TranscriptStore.of(cache) if cache is not None else None

    @property
    def model(self) -> SpeechModel:
        """The speech model that writes the transcripts."""
        return asr_model(self.options, self.models)

    @property
    def namespace(self) -> str:
        """Cache folder of transcripts made with these options."""
        return f"transcript-{config_digest(self.model.transcript_identity())}"

    def cached(self, key: str) -> Transcript | None:
        """The stored transcript of the clip with this key, if any."""
        return self.store.get(self.namespace, key) if self.store is not None else None

    def warnings(self, key: str) -> list[str]:
        """Why the stored transcript of this clip is likely not what was said (none when not stored)."""
        t = self.cached(key)
        return [] if t is None else transcript_warnings(t.text)

    def transcribe_many(self, audios: list[np.ndarray],
                        on_done: Callable[[int, BaseException | None], None] | None = None,
                        keys: "list[str] | None" = None) -> list[Transcript]:
        """Transcripts of several clips (in their order), two at a time when the machine has two cores (the model
        runs two CTranslate2 workers: beam search leaves a core idle when one clip decodes alone), longest first so
        that the last clip does not run alone for long. `on_done(i, error)` hears each clip as it ends (error None: its
        transcript is cached); the first error is raised once all have ended. `keys`: the clips' decoded-audio hashes
        when the caller has them (extraction hashes each clip once), else they are computed here."""
        from concurrent.futures import ThreadPoolExecutor, as_completed

        order = sorted(range(len(audios)), key=lambda i: -len(audios[i]))
        with ThreadPoolExecutor(max(1, min(2, cpu_count(), len(audios))), thread_name_prefix="speechgrade-asr") as pool:
            futures = {pool.submit(self.transcribe, audios[i], keys[i] if keys else None): i for i in order}
            for f in as_completed(futures):
                if on_done is not None:
                    on_done(futures[f], f.exception())
            by_index = {i: f for f, i in futures.items()}
            return [by_index[i].result() for i in range(len(audios))]

    def transcribe(self, audio: np.ndarray, key: str | None = None) -> Transcript:
        """The transcript of a clip, from the cache when this audio was heard before; `key` is its decoded-audio
        hash when the caller has it."""
        key = key or audio_digest(audio)  # the same key as the extraction report's `decoded_sha256`
        hit = self.cached(key)
        if hit is not None:
            return hit
        result = self.model.transcribe(audio)
        if self.store is not None:
            self.store.put(self.namespace, key, result)
        return result
