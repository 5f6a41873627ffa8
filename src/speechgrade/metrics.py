"""Figures of predictions against labels: error and correlation, rubric agreement, bootstrap intervals, the gain
over predicting the mean, split-conformal interval coverage, what a Pearson-Spearman gap comes from, and the
decisions a cut score makes."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy import stats

from .wording import verdict

METRICS = ("rmse", "mae", "pearson", "spearman", "within_0.5", "within_1.0", "qwk", "exact", "adjacent",
           "spread_ratio")


def label_step(y: np.ndarray) -> float:
    """The rubric's step: the smallest gap between distinct labels (1.0 when there is one label value)."""
    gaps = np.diff(np.unique(np.round(np.asarray(y, np.float64), 6)))
    return float(gaps.min()) if len(gaps) else 1.0


def agreement(y: np.ndarray, pred: np.ndarray, step: float | None = None) -> dict[str, float]:
    """Rubric agreement, predictions rounded to the label step inside the label range: quadratic weighted kappa,
    exact and adjacent (within one step) agreement."""
    step = step or label_step(y)
    lo, hi = float(np.min(y)), float(np.max(y))
    yi = np.round((np.asarray(y, np.float64) - lo) / step).astype(int)
    pi = np.round((np.clip(np.asarray(pred, np.float64), lo, hi) - lo) / step).astype(int)
    k = int(max(yi.max(), pi.max())) + 1
    observed = np.zeros((k, k))
    np.add.at(observed, (yi, pi), 1)
    expected = np.outer(observed.sum(1), observed.sum(0)) / max(observed.sum(), 1)
    weight = (np.subtract.outer(np.arange(k), np.arange(k)) ** 2) / max((k - 1) ** 2, 1)
    denom = (weight * expected).sum()
    return {"qwk": float(1 - (weight * observed).sum() / denom) if denom > 0 else 0.0,
            "exact": float(np.mean(yi == pi)), "adjacent": float(np.mean(np.abs(yi - pi) <= 1))}


def metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, Pearson r, Spearman rho, the share of predictions within 0.5 / 1.0, rubric agreement (QWK,
    exact, adjacent on the label step) and the spread of predictions over the spread of labels (below 1: scores
    shrink to the middle)."""
    y, pred = np.asarray(y, np.float64), np.asarray(pred, np.float64)
    err = pred - y
    constant = np.ptp(pred) < 1e-12 or np.ptp(y) < 1e-12
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
            "pearson": 0.0 if constant else float(stats.pearsonr(y, pred)[0]),
            "spearman": 0.0 if constant else float(stats.spearmanr(y, pred)[0]),
            "within_0.5": float(np.mean(np.abs(err) <= 0.5 + 1e-9)),
            "within_1.0": float(np.mean(np.abs(err) <= 1.0 + 1e-9)), **agreement(y, pred),
            "spread_ratio": float(np.std(pred) / np.std(y)) if np.std(y) > 0 else 0.0}


def against_mean(y: np.ndarray, model: np.ndarray, mean: np.ndarray, n_boot: int = 1000, seed: int = 0
                 ) -> dict[str, Any]:
    """How much lower the model's RMSE and MAE are than the mean predictor's (averaged over repeats), with 95%
    bootstrap intervals over clips, and a plain verdict."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(n_boot, len(y)))
    out: dict[str, Any] = {}
    for name, loss in (("rmse", lambda e: np.sqrt(np.mean(e**2, axis=-1))), ("mae", lambda e: np.mean(np.abs(e), -1))):
        gains = [loss(b - y) - loss(m - y) for m, b in zip(np.atleast_2d(model), np.atleast_2d(mean))]
        boot = np.mean([loss(b[idx] - y[idx]) - loss(m[idx] - y[idx])
                        for m, b in zip(np.atleast_2d(model), np.atleast_2d(mean))], axis=0)
        out[f"{name}_gain"] = float(np.mean(gains))
        out[f"{name}_gain_ci95"] = [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))]
    out["verdict"] = verdict(out)
    return out


def rank_gap(y: np.ndarray, preds: np.ndarray, trim: float = 0.05) -> dict[str, float]:
    """What may part Pearson r from Spearman rho: the share of clip pairs tied on their label (which a ranking
    cannot order), and Pearson r without the `trim` share of clips whose labels lie farthest from the median
    (mean over repeats; `preds` has one row per repeat)."""
    y = np.asarray(y, np.float64)
    _, counts = np.unique(np.round(y, 6), return_counts=True)
    n = len(y)
    tied = float((counts * (counts - 1)).sum() / (n * (n - 1))) if n > 1 else 0.0
    keep = np.argsort(np.abs(y - np.median(y)), kind="stable")[:max(3, int(round(n * (1 - trim))))]
    rs = [metrics(y[keep], p[keep])["pearson"] for p in np.atleast_2d(preds)]
    return {"tied_label_pairs": tied, "pearson_trimmed": float(np.mean(rs)), "trimmed_share": trim}


def quartile_cuts(y: np.ndarray) -> list[float]:
    """The labels' quartiles (25th, 50th, 75th percentile) to 2 decimals, distinct: the cut scores used when none
    are given (rounded, so a table shows the cut that was counted)."""
    return [float(v) for v in np.unique(np.round(np.percentile(np.asarray(y, np.float64), [25, 50, 75]), 2))]


SELECT_EPS = 1e-9  # a score of 3.5 is selected at a cut of 3.5, whatever the float's last bit


def decisions(y: np.ndarray, scores: dict[str, np.ndarray], cuts: Sequence[float]) -> dict[str, Any]:
    """For each score set (one row per repeat, e.g. `raw` and `mapped`): Pearson r, RMSE, QWK and the spread ratio
    (means over repeats), and at each cut score how many clips the raters select (label >= cut), the scores
    select, and both: the mean over repeats with its lowest and highest."""
    y = np.asarray(y, np.float64)
    human = {c: y >= c - SELECT_EPS for c in cuts}
    out: dict[str, Any] = {"n": int(len(y)), "cut_scores": [float(c) for c in cuts],
                           "raters": [int(human[c].sum()) for c in cuts], "scores": {}}
    for name, preds in scores.items():
        preds = np.atleast_2d(np.asarray(preds, np.float64))
        per = [metrics(y, p) for p in preds]
        figures: dict[str, Any] = {k: float(np.mean([m[k] for m in per]))
                                   for k in ("pearson", "rmse", "qwk", "spread_ratio")}
        rows = []
        for c in cuts:
            chosen = preds >= c - SELECT_EPS
            sel, both = chosen.sum(1), (chosen & human[c]).sum(1)
            rows.append({"cut": float(c), "raters": int(human[c].sum()), "selected": float(sel.mean()),
                         "selected_range": [int(sel.min()), int(sel.max())], "both": float(both.mean()),
                         "both_range": [int(both.min()), int(both.max())]})
        figures["cuts"] = rows
        out["scores"][name] = figures
    return out


def summarise(per_repeat: list[dict[str, float]]) -> dict[str, float]:
    """Mean and std (key_std) over repeats of each metric."""
    out: dict[str, float] = {}
    for key in METRICS:
        values = np.array([m[key] for m in per_repeat])
        out[key] = float(values.mean())
        out[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return out


def bootstrap_ci(y: np.ndarray, preds: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict[str, list[float]]:
    """95% bootstrap intervals (rows resampled) of Pearson r and RMSE, averaged over repeats.

    `preds` has one row per repeat.
    """
    rng = np.random.default_rng(seed)
    n = len(y)
    idx = rng.integers(0, n, size=(n_boot, n))
    yb = y[idx]
    rmse, r = [], []
    for p in np.atleast_2d(preds):
        pb = p[idx]
        rmse.append(np.sqrt(np.mean((pb - yb) ** 2, axis=1)))
        yc, pc = yb - yb.mean(1, keepdims=True), pb - pb.mean(1, keepdims=True)
        denom = np.sqrt((yc**2).sum(1) * (pc**2).sum(1))
        r.append(np.where(denom > 0, (yc * pc).sum(1) / np.where(denom > 0, denom, 1), 0.0))
    rmse_b, r_b = np.mean(rmse, axis=0), np.mean(r, axis=0)
    return {"pearson_ci95": [float(np.percentile(r_b, 2.5)), float(np.percentile(r_b, 97.5))],
            "rmse_ci95": [float(np.percentile(rmse_b, 2.5)), float(np.percentile(rmse_b, 97.5))]}


def conformal_halfwidth(residuals: np.ndarray, coverage: float = 0.8) -> float:
    """Split-conformal half-width: the ceil((n+1)c)/n quantile of absolute out-of-fold residuals."""
    r = np.sort(np.abs(np.asarray(residuals, np.float64)))
    n = len(r)
    if n == 0:
        return float("inf")
    k = int(np.ceil((n + 1) * coverage)) - 1
    return float(r[min(max(k, 0), n - 1)])


def conformal_coverage(y: np.ndarray, preds: np.ndarray, fold_ids: np.ndarray, coverage: float = 0.8
                       ) -> dict[str, float]:
    """Empirical coverage and width of conformal intervals, each fold calibrated on the other folds only.

    `preds` and `fold_ids` have one row per repeat.
    """
    hits, widths = interval_hits(y, preds, fold_ids, coverage)
    return {"interval_coverage_target": coverage, "interval_coverage": float(np.mean(hits)),
            "interval_width": float(np.mean(widths))}


def interval_hits(y: np.ndarray, preds: np.ndarray, fold_ids: np.ndarray, coverage: float = 0.8
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per repeat and row: whether the true label fell inside the row's conformal interval (calibrated on the
    other folds), and the interval's width."""
    preds, fold_ids = np.atleast_2d(preds), np.atleast_2d(fold_ids)
    hits, widths = np.zeros(preds.shape, bool), np.zeros(preds.shape)
    for r, (p, folds) in enumerate(zip(preds, fold_ids)):
        res = np.abs(p - y)
        for k in np.unique(folds):
            q = conformal_halfwidth(res[folds != k], coverage)
            hits[r, folds == k] = res[folds == k] <= q
            widths[r, folds == k] = 2 * q
    return hits, widths
