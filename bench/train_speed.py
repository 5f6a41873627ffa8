"""Wall time of `evaluate` (5 folds x 3 repeats, 10 trials, nested) on 400 rows x 1024 features,
and the time `predict` adds per clip beyond feature extraction.

Usage: python bench/train_speed.py [--regressors lightgbm,ridge,svr] [--rows 400] [--dims 1024]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine  # noqa: E402

from speechgrade.evaluate import cross_validate  # noqa: E402
from speechgrade.models import ScoringModel  # noqa: E402
from speechgrade.tuning import tune  # noqa: E402


def data(rows: int, dims: int, seed: int = 0):
    """Embedding-like features (correlated, low-rank signal) and a 1-5 label in 0.5 steps."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(rows, 16))
    X = latent @ rng.normal(size=(16, dims)) + rng.normal(scale=2.0, size=(rows, dims))
    y = np.clip(np.round((3 + latent[:, 0] * 0.8 + rng.normal(scale=0.5, size=rows)) * 2) / 2, 1, 5)
    groups = (np.arange(rows) // 2).astype(str)  # two answers per speaker
    return X.astype(np.float32), y, groups


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--regressors", default="lightgbm,ridge,svr")
    ap.add_argument("--rows", type=int, default=400)
    ap.add_argument("--dims", type=int, default=1024)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--inner-folds", type=int, default=3, help="tuning CV folds inside each outer fold")
    args = ap.parse_args()
    X, y, groups = data(args.rows, args.dims)
    print(f"machine: {machine()}")
    print(f"evaluate: {args.rows} rows x {args.dims} features, 5 folds x 3 repeats, {args.trials} trials "
          f"(inner {args.inner_folds}-fold CV, median pruning) per outer fold")
    print(f"{'regressor':10s} {'evaluate s':>11s} {'pearson':>8s} {'rmse':>6s} {'predict ms/clip':>16s}")
    for name in args.regressors.split(","):
        t = time.perf_counter()

        def fit_predict(Xt, yt, gt, seed):
            params = tune(Xt, yt, gt, name, args.trials, folds=args.inner_folds, seed=seed).params
            return ScoringModel(name, params, seed=seed).fit(Xt, yt).predict

        ev = cross_validate(X, y, groups, fit_predict, folds=5, repeats=3, baselines={})
        elapsed = time.perf_counter() - t
        model = ScoringModel(name).fit(X, y)
        model.predict(X[:1])
        t = time.perf_counter()
        for i in range(200):
            model.predict(X[i:i + 1])
        per_clip = (time.perf_counter() - t) / 200 * 1000
        print(f"{name:10s} {elapsed:11.1f} {ev.summary['pearson']:8.3f} {ev.summary['rmse']:6.3f} {per_clip:16.2f}",
              flush=True)


if __name__ == "__main__":
    main()
