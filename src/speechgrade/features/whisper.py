"""`whisper`: fluency, disfluency, language and ASR-confidence features of a transcript.

The transcript comes from the speech-model registry (`speechgrade.speech.asr_model`: Whisper on CTranslate2 by
default, or a registered ASR backend named by `--asr`). Transcripts are cached by audio content and ASR options,
shared with `grammar`, `text-embedding` and `speechgrade transcribe`.
Spec: `whisper[:MODEL][?beam_size=5&language=en&verbatim=true]`. Needs `pip install 'speechgrade[whisper]'`.
"""

from __future__ import annotations

import numpy as np

from .language import COLUMNS, DESCRIPTIONS, transcript_features
from ..speech.faster_whisper import WhisperOptions
from ..speech.model_cache import ModelCache
from ..speech.transcriber import Transcriber, asr_model
from ..speech.transcript import Transcript
from ..speech.whisper_weights import require_faster_whisper, resolve_whisper_model
from .base import Featurizer, register_featurizer


@register_featurizer
class WhisperFeaturizer(Featurizer):
    """Transcript features: speech/articulation rate, pauses, fillers, repetitions, diversity, ASR confidence."""

    name = "whisper"
    title = "what Whisper heard (fluency and language measures)"
    version = "1"
    extra = "whisper"
    libraries = ("faster-whisper", "ctranslate2")
    descriptions = DESCRIPTIONS
    default_rank = 0
    stage = "transcribing"

    Options = WhisperOptions
    cache = None
    models: ModelCache | None = None  # where the speech model is held (None: the process-wide cache)

    @classmethod
    def check_available(cls) -> None:
        require_faster_whisper()

    @classmethod
    def check_default(cls) -> None:
        resolve_whisper_model(cls.Options().model)

    def summary_columns(self) -> list[str]:
        return list(COLUMNS)

    def language_model(self) -> str | None:
        return self.options.model

    def fingerprints(self) -> dict:
        return {"model_fingerprint": asr_model(self.options, self.models).fingerprint()}

    def bind(self, cache) -> None:
        self.cache = cache

    def transcriber(self) -> Transcriber:
        """The transcriber this featurizer uses (shares the feature cache and its parsed transcripts)."""
        return Transcriber(self.options, self.cache, self.models)

    def warnings(self, decoded_sha256: str) -> list[str]:
        return self.transcriber().warnings(decoded_sha256)

    def details(self, decoded_sha256: str) -> dict:
        t = self.transcriber().cached(decoded_sha256)
        return {} if t is None else {"transcript": t.text, "words": [vars(w) for w in t.words]}

    def columns(self) -> list[str]:
        return list(COLUMNS)

    def featurize_batch(self, audios: list[np.ndarray]) -> list[np.ndarray]:
        """Transcribe two clips at a time (see `Transcriber.transcribe_many`), then read the features."""
        return [self._vector(t) for t in self.transcriber().transcribe_many(audios)]

    def featurize(self, audio: np.ndarray) -> np.ndarray:
        return self._vector(self.transcriber().transcribe(audio))

    def featurize_keyed(self, audios: list[np.ndarray], keys: list[str]) -> list[np.ndarray]:
        """As `featurize_batch`, with the run's decoded-audio hashes as the transcripts' keys (no second hash)."""
        return [self._vector(t) for t in self.transcriber().transcribe_many(audios, keys=keys)]

    @staticmethod
    def _vector(t: Transcript) -> np.ndarray:
        feats = transcript_features(t)
        return np.array([feats[c] for c in COLUMNS], dtype=np.float32)
