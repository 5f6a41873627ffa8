"""`ridge`: L2-regularised linear regression, saved as JSON coefficients."""

from __future__ import annotations

import json

import numpy as np

from .base import Regressor, register_regressor, write_json


@register_regressor
class RidgeRegressor(Regressor):
    """Ridge regression on standardised features (alpha tuned on a log scale)."""

    name = "ridge"
    title = "ridge regression"
    libraries = ("scikit-learn",)
    files = ("model.ridge.json",)

    @staticmethod
    def default_params():
        return {"alpha": 10.0}

    @staticmethod
    def search_space(trial):
        return {"alpha": trial.suggest_float("alpha", 1e-3, 1e4, log=True)}

    def fit(self, X, y):
        from sklearn.linear_model import Ridge

        model = Ridge(alpha=self.params["alpha"]).fit(np.asarray(X, np.float64), np.asarray(y, np.float64))
        self.coef_, self.intercept_ = model.coef_.astype(np.float64), float(model.intercept_)
        return self

    def predict(self, X):
        return np.asarray(X, np.float64) @ self.coef_ + self.intercept_

    def save(self, directory):
        write_json(directory / self.files[0], {"coef": self.coef_.tolist(), "intercept": self.intercept_})
        return list(self.files)

    @classmethod
    def load(cls, directory, params):
        data = json.loads((directory / cls.files[0]).read_text())
        obj = cls(**params)
        obj.coef_, obj.intercept_ = np.asarray(data["coef"], np.float64), float(data["intercept"])
        return obj

    def feature_importance(self):
        return np.abs(self.coef_)

    def linear(self):
        return self.coef_, self.intercept_

    def contributions(self, X):
        X = np.asarray(X, np.float64)
        return np.column_stack([X * self.coef_, np.full(len(X), self.intercept_)])


@register_regressor
class RidgeCVRegressor(RidgeRegressor):
    """Ridge whose alpha is chosen in closed form by efficient leave-one-out on the training rows (no trials)."""

    name = "ridgecv"
    title = "ridge regression, alpha by leave-one-out"
    tunable = False
    ALPHAS = tuple(np.logspace(-2, 5, 30))

    @staticmethod
    def default_params():
        return {}

    @staticmethod
    def search_space(trial):
        return {}

    def fit(self, X, y):
        from sklearn.linear_model import RidgeCV

        model = RidgeCV(alphas=self.ALPHAS).fit(np.asarray(X, np.float64), np.asarray(y, np.float64))
        self.coef_, self.intercept_ = model.coef_.astype(np.float64), float(model.intercept_)
        self.alpha_ = float(model.alpha_)
        return self
