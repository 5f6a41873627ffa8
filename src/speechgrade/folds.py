"""Cross-validation folds: grouped (speaker, duplicate cluster) and stratified on binned labels."""

from __future__ import annotations

import warnings

import numpy as np


def label_bins(y: np.ndarray, n_splits: int, max_bins: int = 5) -> np.ndarray:
    """Quantile bins of the labels, as many as keep >= n_splits rows per bin (at most `max_bins`)."""
    y = np.asarray(y, np.float64)
    for k in range(max_bins, 1, -1):
        edges = np.unique(np.quantile(y, np.linspace(0, 1, k + 1)[1:-1]))
        bins = np.searchsorted(edges, y, side="right")
        if np.bincount(bins).min() >= n_splits:
            return bins
    return np.zeros(len(y), dtype=int)


def make_folds(y: np.ndarray, groups: np.ndarray | None, n_splits: int = 5, seed: int = 0
               ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs: no group in both, label distribution similar in each fold."""
    from sklearn.model_selection import StratifiedGroupKFold

    n = len(y)
    groups = np.arange(n).astype(str) if groups is None else np.asarray(groups).astype(str)
    n_groups = len(np.unique(groups))
    n_splits = int(min(n_splits, n_groups))
    if n_splits < 2:
        raise ValueError(f"cross-validation needs at least 2 groups, got {n_groups}")
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class" when bins are small
        folds = [(tr, te) for tr, te in splitter.split(np.zeros(n), label_bins(y, n_splits), groups)]
    return [(tr, te) for tr, te in folds if len(te) and len(tr)]
