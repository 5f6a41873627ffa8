"""`svr`: RBF support-vector regression, saved as npz arrays (support vectors, dual coefficients)."""

from __future__ import annotations

import json

import numpy as np

from .base import Regressor, register_regressor, write_json


@register_regressor
class SVRRegressor(Regressor):
    """Epsilon-SVR with an RBF kernel; gamma is `gamma_scale / n_features` on standardised inputs."""

    name = "svr"
    title = "support vector regression"
    libraries = ("scikit-learn",)
    files = ("model.svr.npz", "model.svr.json")

    @staticmethod
    def default_params():
        return {"C": 1.0, "epsilon": 0.1, "gamma_scale": 1.0}

    @staticmethod
    def search_space(trial):
        return {"C": trial.suggest_float("C", 1e-2, 1e2, log=True),
                "epsilon": trial.suggest_float("epsilon", 0.01, 1.0, log=True),
                "gamma_scale": trial.suggest_float("gamma_scale", 0.1, 10.0, log=True)}

    def fit(self, X, y):
        from sklearn.svm import SVR

        X = np.asarray(X, np.float64)
        self.gamma_ = float(self.params["gamma_scale"]) / max(X.shape[1], 1)
        model = SVR(kernel="rbf", C=self.params["C"], epsilon=self.params["epsilon"], gamma=self.gamma_)
        model.fit(X, np.asarray(y, np.float64))
        self.support_vectors_ = model.support_vectors_.astype(np.float64)
        self.dual_coef_ = model.dual_coef_.ravel().astype(np.float64)
        self.intercept_ = float(model.intercept_[0])
        return self

    def predict(self, X):
        X = np.asarray(X, np.float64)
        sq = (X**2).sum(1)[:, None] + (self.support_vectors_**2).sum(1)[None] - 2 * X @ self.support_vectors_.T
        return np.exp(-self.gamma_ * np.maximum(sq, 0)) @ self.dual_coef_ + self.intercept_

    def save(self, directory):
        np.savez(directory / self.files[0], support_vectors=self.support_vectors_, dual_coef=self.dual_coef_)
        write_json(directory / self.files[1], {"gamma": self.gamma_, "intercept": self.intercept_})
        return list(self.files)

    @classmethod
    def load(cls, directory, params):
        obj = cls(**params)
        with np.load(directory / cls.files[0], allow_pickle=False) as data:
            obj.support_vectors_, obj.dual_coef_ = data["support_vectors"], data["dual_coef"]
        meta = json.loads((directory / cls.files[1]).read_text())
        obj.gamma_, obj.intercept_ = float(meta["gamma"]), float(meta["intercept"])
        return obj
