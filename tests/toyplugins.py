"""Toy plugins for tests: each is one class, registered on import (also in a server's worker processes)."""

import json
import time

import numpy as np

from speechgrade.features import Featurizer, register_featurizer
from speechgrade.models import Regressor, register_regressor


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


NAMES = {"featurizers": ["toy-loudness", "toy-slow"], "regressors": ["toy-lstsq"]}
