"""ScoringModel: learned pooling of frame blocks -> standardise -> optional PCA -> regressor -> clip to the
training label range."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .pooling import AttentionPooling, PoolingHeads, fit_pooling, frame_blocks
from .base import get_regressor_class

PREPROCESS_FILE = "preprocess.npz"
POOLING_FILE = "pooling.npz"


def scaling(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and scales over the finite values (an all-missing or constant column: 0 and 1)."""
    finite = np.where(np.isfinite(X), X, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns
        mean, std = np.nan_to_num(np.nanmean(finite, 0)), np.nan_to_num(np.nanstd(finite, 0))
    return mean, np.where(std > 1e-12, std, 1.0)


def standardise(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Scaled columns; a missing or infinite value (e.g. a NaN a featurizer gave) becomes the training mean."""
    return np.nan_to_num((X - mean) / scale, nan=0.0, posinf=0.0, neginf=0.0)


class ScoringModel:
    """Preprocessing and a regressor fitted together, so that folds never leak scaling or PCA."""

    def __init__(self, regressor: str = "lightgbm", params: dict[str, Any] | None = None,
                 pca: int | None = None, seed: int = 0, columns: Sequence[str] | None = None,
                 heads: PoolingHeads | None = None):
        self.regressor = regressor
        self.params = dict(params or {})
        self.pca = pca
        self.seed = seed
        self.columns = None if columns is None else list(columns)
        self.heads = heads  # pooling heads already fitted on the same rows (a model search's), or None

    def _blocks(self) -> dict[str, tuple[np.ndarray, tuple[int, int, int]]]:
        return frame_blocks(self.columns) if self.columns is not None else {}

    def _pool(self, X: np.ndarray) -> np.ndarray:
        """Replace each frame block by its learned pooled vector (other columns pass through, first)."""
        if not self.pooling_:
            return X
        blocks = self._blocks()
        parts = [X[:, self.passthrough_]]
        for fam, head in self.pooling_.items():
            idx, shape = blocks[fam]
            parts.append(head.transform(X[:, idx].reshape(len(X), *shape)))
        return np.hstack(parts)

    def _layout(self, n_inputs: int) -> None:
        """Which input columns pass through, and the input column each model column stands for (a pooled
        block's dimensions all stand for its first column, so attributions add up per family)."""
        blocks = self._blocks()
        pooled = np.concatenate([idx for idx, _ in blocks.values()]) if blocks else np.zeros(0, int)
        self.passthrough_ = np.setdiff1d(np.arange(n_inputs), pooled)
        self.column_map_ = np.concatenate([self.passthrough_, *[np.full(shape[2], idx[0]) for idx, shape in
                                                                blocks.values()]]).astype(int)
        self.n_inputs_ = n_inputs

    def _fit_pooling(self, X: np.ndarray, y: np.ndarray) -> None:
        self._layout(X.shape[1])
        self.pooling_ = {fam: fit_pooling(X[:, idx].reshape(len(X), *shape), y, self.heads)
                         for fam, (idx, shape) in self._blocks().items()}

    def _to_inputs(self, values: np.ndarray) -> np.ndarray:
        """Per-model-column values (rows x columns, + a last bias column) summed onto the input columns."""
        if not self.pooling_:
            return values
        out = np.zeros((len(values), self.n_inputs_ + 1))
        np.add.at(out, (np.arange(len(values))[:, None], self.column_map_[None, :]), values[:, :-1])
        out[:, -1] = values[:, -1]
        return out

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
            scale: "tuple[float, float] | None" = None) -> "ScoringModel":
        """Fit pooling heads, scaling, PCA and the regressor on these rows only (`groups` is for ensembles);
        predictions are clipped to the label `scale` (default: the range of `y`)."""
        X = np.asarray(X, np.float64)
        y = np.asarray(y, np.float64)
        self._fit_pooling(X, y)
        X = self._pool(X)
        self.mean_, self.scale_ = scaling(X)
        Z = standardise(X, self.mean_, self.scale_)
        self.components_ = np.zeros((0, X.shape[1]))
        if self.pca:
            from sklearn.decomposition import PCA

            k = int(min(self.pca, Z.shape[0] - 1, Z.shape[1]))
            self.components_ = PCA(n_components=k, random_state=self.seed).fit(Z).components_
            Z = Z @ self.components_.T
        self.y_range_ = (float(y.min()), float(y.max())) if scale is None else tuple(float(v) for v in scale)
        self.model_ = get_regressor_class(self.regressor)(seed=self.seed, **self.params).fit(Z, y)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Pooled, standardised (and projected) inputs."""
        Z = standardise(self._pool(np.asarray(X, np.float64)), self.mean_, self.scale_)
        return Z @ self.components_.T if len(self.components_) else Z

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Scores, clipped to the label scale it was fitted with."""
        return np.clip(self.model_.predict(self.transform(X)), *self.y_range_)

    def contributions(self, X: np.ndarray) -> np.ndarray | None:
        """Per-row additive contributions of each input column, plus a last column for the base value.

        SHAP values for tree models, coefficient x standardised value for ridge. With PCA, linear
        contributions are mapped back to the columns; tree models under PCA and SVR give None.
        """
        Z = self.transform(X)
        if len(self.components_):
            linear = self.model_.linear()
            if linear is None:
                return None
            coef, intercept = linear
            Zs = standardise(self._pool(np.asarray(X, np.float64)), self.mean_, self.scale_)
            out = np.column_stack([Zs * (self.components_.T @ coef), np.full(len(Zs), intercept)])
        else:
            out = self.model_.contributions(Z)
        return None if out is None else self._to_inputs(out)

    def feature_importance(self) -> np.ndarray | None:
        """Normalised importances per input column (None when PCA mixes the columns or there are none)."""
        if len(self.components_):
            return None
        imp = self.model_.feature_importance()
        if imp is None or not np.isfinite(imp).all() or imp.sum() <= 0:
            return None
        if self.pooling_:
            imp = np.bincount(self.column_map_, weights=imp, minlength=self.n_inputs_)
        return imp / imp.sum()

    def save(self, directory: Path) -> list[str]:
        """Write preprocess.npz and the regressor's native files; return the names written."""
        np.savez(directory / PREPROCESS_FILE, mean=self.mean_, scale=self.scale_, components=self.components_,
                 y_range=np.asarray(self.y_range_))
        files = [PREPROCESS_FILE]
        if self.pooling_:
            np.savez(directory / POOLING_FILE, **{k: v for fam, head in self.pooling_.items()
                                                   for k, v in head.to_arrays(fam).items()})
            files.append(POOLING_FILE)
        return [*files, *self.model_.save(directory)]

    @classmethod
    def load(cls, directory: Path, regressor: str, params: dict[str, Any], pca: int | None, seed: int = 0,
             columns: Sequence[str] | None = None) -> "ScoringModel":
        """Read a model written by `save` (numpy arrays are loaded with allow_pickle=False)."""
        obj = cls(regressor, params, pca, seed, columns)
        obj.pooling_ = {}
        if (directory / POOLING_FILE).is_file():
            with np.load(directory / POOLING_FILE, allow_pickle=False) as data:
                obj.pooling_ = {fam: AttentionPooling.from_arrays(data, fam) for fam in obj._blocks()}
        if columns is not None:
            obj._layout(len(columns))
        with np.load(directory / PREPROCESS_FILE, allow_pickle=False) as data:
            obj.mean_, obj.scale_, obj.components_ = data["mean"], data["scale"], data["components"]
            obj.y_range_ = tuple(float(v) for v in data["y_range"])
        cls_ = get_regressor_class(regressor)
        cls_.validate(directory, len(obj.components_) if len(obj.components_) else len(obj.mean_))
        obj.model_ = cls_.load(directory, {"seed": seed, **params})
        return obj
