"""Toy plugins for tests: each is one class, registered on import (also in a server's worker processes)."""

import json
import time
from dataclasses import dataclass

import numpy as np

from speechgrade.features import Featurizer, register_featurizer
from speechgrade.models import Regressor, register_regressor
from speechgrade.options import FeaturizerOptions, option
from speechgrade.speech import SpeechModel, Transcript, Word, register_speech_model

TOY_WORDS = "I goes to the school and she have two cat".split()


@register_featurizer
class ToyLoudness(Featurizer):
    """Level and zero-crossing rate (test only)."""

    name = "toy-loudness"
    descriptions = {"rms_db": "RMS level, dB", "zcr": "zero crossings per sample"}
    libraries = ("numpy",)

    def columns(self):
        return list(self.descriptions)

    def summary_columns(self):
        return ["rms_db"]

    def featurize(self, audio):
        rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)) + 1e-9)
        return np.array([20 * np.log10(rms), np.mean(np.abs(np.diff(np.sign(audio)))) / 2], np.float32)


@register_featurizer
class ToyMeans(Featurizer):
    """Means over the samples (test only): a clip's vector is the duration-weighted mean of its parts' vectors."""

    name = "toy-means"
    descriptions = {"mean_abs": "mean absolute sample", "mean_sq": "mean squared sample"}

    def columns(self):
        return list(self.descriptions)

    def featurize(self, audio):
        x = audio.astype(np.float64)
        return np.array([np.mean(np.abs(x)), np.mean(x * x)], np.float32)


@register_regressor
class ToyLeastSquares(Regressor):
    """Plain least squares saved as JSON (test only)."""

    name = "toy-lstsq"
    files = ("toy.json",)

    def fit(self, X, y):
        A = np.column_stack([X, np.ones(len(X))])
        self.w_ = np.linalg.lstsq(A, y, rcond=None)[0]
        return self

    def predict(self, X):
        return np.column_stack([X, np.ones(len(X))]) @ self.w_

    def save(self, directory):
        (directory / "toy.json").write_text(json.dumps(self.w_.tolist()))
        return list(self.files)

    @classmethod
    def load(cls, directory, params):
        obj = cls(**params)
        obj.w_ = np.array(json.loads((directory / "toy.json").read_text()))
        return obj


@register_featurizer
class ToySlow(Featurizer):
    """Takes 0.5 s of work per second of audio (test only: a request that overruns its time budget)."""

    name = "toy-slow"

    def columns(self):
        return ["duration_s"]

    def featurize(self, audio):
        time.sleep(0.5 * len(audio) / 16000)
        return np.array([len(audio) / 16000], np.float32)


@register_speech_model
class ToyASR(SpeechModel):
    """Hears one word per 0.3 s of audio, surer of it the louder the clip (test only): a whole ASR backend."""

    name = "toy"

    @dataclass(frozen=True)
    class Options(FeaturizerOptions):
        """Which toy, in which language."""

        model: str = option("toy-1", "toy model", arg=True)
        language: str | None = option("en", "language of the answers", nullable=True, null="auto")

    def transcribe(self, audio):
        rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
        n = max(1, int(len(audio) / 16000 / 0.3))
        words = [Word(TOY_WORDS[i % len(TOY_WORDS)], 0.3 * i, 0.3 * i + 0.25, min(0.99, 0.5 + rms)) for i in range(n)]
        segment = {"start": 0.0, "end": 0.3 * n, "text": " ".join(w.word for w in words), "avg_logprob": -0.2,
                   "no_speech_prob": 0.05, "compression_ratio": 1.3}
        return Transcript(segment["text"], len(audio) / 16000, words, [segment], self.options.language or "en",
                          -0.2, 0.05)

    def detect_language(self, audio, language=None):
        return (language or "en"), 0.97


NAMES = {"featurizers": ["toy-loudness", "toy-slow", "toy-means"], "regressors": ["toy-lstsq"], "speech_models": ["toy"]}
