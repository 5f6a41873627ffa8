"""Cross-validation folds: grouped (speaker, duplicate cluster) and stratified on binned labels."""

from __future__ import annotations

import numpy as np

from .errors import DatasetError


def label_bins(y: np.ndarray, n_splits: int, max_bins: int = 5) -> np.ndarray:
    """Quantile bins of the labels, as many as keep >= n_splits rows per bin (at most `max_bins`)."""
    y = np.asarray(y, np.float64)
    for k in range(max_bins, 1, -1):
        edges = np.unique(np.quantile(y, np.linspace(0, 1, k + 1)[1:-1]))
        bins = np.searchsorted(edges, y, side="right")
        if np.bincount(bins).min() >= n_splits:
            return bins
    return np.zeros(len(y), dtype=int)


def group_codes(n: int, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The group names of n rows and each row's index into them (each row its own group when groups is None)."""
    groups = np.arange(n).astype(str) if groups is None else np.asarray(groups).astype(str)
    return np.unique(groups, return_inverse=True)


def make_folds(y: np.ndarray, groups: np.ndarray | None, n_splits: int = 5, seed: int = 0
               ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs: no group in both, label bins spread evenly, a new partition per seed.

    Groups are placed largest first (random order among similar sizes) into the fold where they
    least disturb the per-bin balance and the fold sizes. sklearn's StratifiedGroupKFold is not
    used because its shuffle only reorders ties, so repeats with new seeds gave the same folds.
    """
    y = np.asarray(y, np.float64)
    n = len(y)
    names, gid = group_codes(n, groups)
    n_splits = int(min(n_splits, len(names)))
    if n_splits < 2:
        raise DatasetError(f"cross-validation needs at least 2 groups of clips, got {len(names)} "
                           f"(speakers in the `group` column and duplicate recordings are kept together)")
    bins = label_bins(y, n_splits)
    n_bins = bins.max() + 1
    counts = np.zeros((len(names), n_bins))
    np.add.at(counts, (gid, bins), 1)
    rng = np.random.default_rng(seed)
    sizes = counts.sum(1)
    order = np.argsort(-(sizes * rng.uniform(0.75, 1.25, len(sizes))), kind="stable")
    target = counts.sum(0) / n_splits
    fold_counts = np.zeros((n_splits, n_bins))
    assign = np.empty(len(names), dtype=int)
    for g in order:
        trial = fold_counts + counts[g]  # each row: fold k if g went there
        after = fold_counts[None].repeat(n_splits, 0)
        after[np.arange(n_splits), np.arange(n_splits)] = trial
        cost = ((after - target) ** 2).sum(axis=(1, 2)) + 1e-9 * rng.random(n_splits)
        k = int(np.argmin(cost))
        assign[g] = k
        fold_counts[k] += counts[g]
    fold_of_row = assign[gid]
    folds = [(np.flatnonzero(fold_of_row != k), np.flatnonzero(fold_of_row == k)) for k in range(n_splits)]
    return [(tr, te) for tr, te in folds if len(te) and len(tr)]
