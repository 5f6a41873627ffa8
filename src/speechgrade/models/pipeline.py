"""ScoringModel: standardise -> optional PCA -> regressor -> clip to the training label range."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .base import get_regressor_class

PREPROCESS_FILE = "preprocess.npz"


class ScoringModel:
    """Preprocessing and a regressor fitted together, so that folds never leak scaling or PCA."""

    def __init__(self, regressor: str = "lightgbm", params: dict[str, Any] | None = None,
                 pca: int | None = None, seed: int = 0):
        self.regressor = regressor
        self.params = dict(params or {})
        self.pca = pca
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> "ScoringModel":
        """Fit scaling, PCA and the regressor on these rows only (`groups` is unused; ensembles need it)."""
        X = np.asarray(X, np.float64)
        y = np.asarray(y, np.float64)
        self.mean_ = X.mean(0)
        std = X.std(0)
        self.scale_ = np.where(std > 1e-12, std, 1.0)
        Z = (X - self.mean_) / self.scale_
        self.components_ = np.zeros((0, X.shape[1]))
        if self.pca:
            from sklearn.decomposition import PCA

            k = int(min(self.pca, Z.shape[0] - 1, Z.shape[1]))
            self.components_ = PCA(n_components=k, random_state=self.seed).fit(Z).components_
            Z = Z @ self.components_.T
        self.y_range_ = (float(y.min()), float(y.max()))
        self.model_ = get_regressor_class(self.regressor)(seed=self.seed, **self.params).fit(Z, y)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Standardised (and projected) inputs."""
        Z = (np.asarray(X, np.float64) - self.mean_) / self.scale_
        return Z @ self.components_.T if len(self.components_) else Z

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Scores, clipped to the label range seen in training."""
        return np.clip(self.model_.predict(self.transform(X)), *self.y_range_)

    def contributions(self, X: np.ndarray) -> np.ndarray | None:
        """Per-row additive contributions of each input column, plus a last column for the base value.

        SHAP values for tree models, coefficient x standardised value for ridge. With PCA, linear
        contributions are mapped back to the columns; tree models under PCA and SVR give None.
        """
        Z = self.transform(X)
        if len(self.components_):
            coef = getattr(self.model_, "coef_", None)
            if coef is None:
                return None
            Zs = (np.asarray(X, np.float64) - self.mean_) / self.scale_
            return np.column_stack([Zs * (self.components_.T @ coef), np.full(len(Zs), self.model_.intercept_)])
        return self.model_.contributions(Z)

    def feature_importance(self) -> np.ndarray | None:
        """Normalised importances per input column (None when PCA mixes the columns or there are none)."""
        if len(self.components_):
            return None
        imp = self.model_.feature_importance()
        if imp is None or not np.isfinite(imp).all() or imp.sum() <= 0:
            return None
        return imp / imp.sum()

    def save(self, directory: Path) -> list[str]:
        """Write preprocess.npz and the regressor's native files; return the names written."""
        np.savez(directory / PREPROCESS_FILE, mean=self.mean_, scale=self.scale_, components=self.components_,
                 y_range=np.asarray(self.y_range_))
        return [PREPROCESS_FILE, *self.model_.save(directory)]

    @classmethod
    def load(cls, directory: Path, regressor: str, params: dict[str, Any], pca: int | None, seed: int = 0
             ) -> "ScoringModel":
        """Read a model written by `save` (numpy arrays are loaded with allow_pickle=False)."""
        obj = cls(regressor, params, pca, seed)
        with np.load(directory / PREPROCESS_FILE, allow_pickle=False) as data:
            obj.mean_, obj.scale_, obj.components_ = data["mean"], data["scale"], data["components"]
            obj.y_range_ = tuple(float(v) for v in data["y_range"])
        obj.model_ = get_regressor_class(regressor).load(directory, {"seed": seed, **params})
        return obj
