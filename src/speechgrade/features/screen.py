"""`screen`: is this clip scoreable? Speech and voiced time, a noise estimate, and (optionally) English.

Spec: `screen[?language=MODEL]`. With `language`, the language identification of that model from the speech-model
registry (Whisper's on the first 30 s, `speechgrade[whisper]`, or a registered ASR backend's) gives `english_prob`;
without it, or with a backend that cannot tell languages, that column is NaN. The scorer adds this
featurizer on its own to decide when to abstain (see `speechgrade.abstain`); it can also be a feature.
"""

from __future__ import annotations

import numpy as np

from dataclasses import dataclass

from ..audio import SAMPLE_RATE
from ..options import FeaturizerOptions, option
from ..speech.faster_whisper import WhisperOptions
from ..speech.model_cache import ModelCache
from ..speech.transcriber import asr_model
from .acoustic import HOP, _f0_track, _speech_mask, frame_db
from .base import Featurizer, register_featurizer

VOICED_STRENGTH = 0.6  # autocorrelation peak above which a speech frame counts as voiced

DESCRIPTIONS = {
    "duration_s": "clip length, seconds",
    "speech_s": "time above the adaptive speech energy threshold, seconds",
    "voiced_s": "speech time with a clear pitch (periodic), seconds",
    "voiced_share": "voiced time / speech time (near 0 for noise)",
    "snr_db": "level of loud frames over the noise floor (95th minus 10th percentile of frame dB)",
    "english_prob": "Whisper language-ID probability of English (NaN unless `language=MODEL`)",
}
COLUMNS = list(DESCRIPTIONS)


def screen_measures(audio: np.ndarray) -> dict[str, float]:
    """The measures above (without `english_prob`) for one 16 kHz mono clip."""
    x = np.asarray(audio, np.float32)
    db = frame_db(x)
    speech = _speech_mask(db)
    _, strength = _f0_track(x)
    n = min(len(speech), len(strength))
    voiced = speech[:n] & (strength[:n] > VOICED_STRENGTH)
    step = HOP / SAMPLE_RATE
    return {"duration_s": len(x) / SAMPLE_RATE, "speech_s": float(speech.sum() * step),
            "voiced_s": float(voiced.sum() * step), "voiced_share": float(voiced.sum() / max(speech[:n].sum(), 1)),
            "snr_db": float(np.percentile(db, 95) - np.percentile(db, 10))}


def english_probability(audio: np.ndarray, model: str, device: str = "auto", compute_type: str = "auto",
                        models: ModelCache | None = None) -> float:
    """The probability that the first 30 s are English, from the registry's speech model for `model` (NaN for a
    model that cannot tell languages: an English-only Whisper, one whose config lists no language tokens, or a
    backend without language detection)."""
    speech = asr_model(WhisperOptions(model, device=device, compute_type=compute_type), models)
    if not speech.detects_language():
        return float("nan")
    return speech.detect_language(audio[: 30 * SAMPLE_RATE], "en")[1]


@register_featurizer
class ScreenFeaturizer(Featurizer):
    """Scoreability measures: speech and voiced time, voiced share, noise level, and English probability."""

    name = "screen"
    title = "scoreability measures (speech time, noise, language)"
    version = "1"
    descriptions = DESCRIPTIONS
    models: ModelCache | None = None  # where the language model is held (None: the process-wide cache)

    @dataclass(frozen=True)
    class Options(FeaturizerOptions):
        """Options of the screen featurizer."""

        language: str | None = option(None, "expected language: adds its probability (Whisper's detection)",
                                      nullable=True)

    def columns(self) -> list[str]:
        return list(COLUMNS)

    def featurize(self, audio: np.ndarray) -> np.ndarray:
        m = screen_measures(audio)
        language = self.options.language
        m["english_prob"] = english_probability(audio, language, models=self.models) if language else np.nan
        return np.array([m[c] for c in COLUMNS], dtype=np.float32)
