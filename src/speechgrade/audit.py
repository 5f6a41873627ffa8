"""Per-group audit of out-of-fold scores: is the model as accurate, and as fair, for every group?

For each value of an audit column (e.g. gender, age band): n, the mean human and mean predicted score, their
standardised difference (predicted minus human, over the std of all human scores: positive means the model
scores the group higher than its raters did; |d| > 0.15 is the usual flag in automated scoring), Pearson r,
RMSE, MAE and interval coverage; with a cut score, the share selected (predicted >= cut) beside the share the
raters' scores would select, and the impact ratio against the most selected group (New York City's Local Law
144 audits; ratios under 0.8 fail the four-fifths rule). Every figure has a bootstrap 95% interval (clips
resampled within each group). All from out-of-fold predictions, averaged over the CV repeats.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .errors import ConfigError

SMD_FLAG = 0.15
FOUR_FIFTHS = 0.8
MIN_GROUP = 2  # smaller groups are listed with their n and no figures
MISSING = "(missing)"


def audit_columns(spec: "str | Sequence[str] | None", table: pd.DataFrame) -> list[str]:
    """The audit columns a spec names (`gender,age_band`), checked against the dataset's columns."""
    if not spec:
        return []
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [str(s) for s in spec]
    names = [n for n in names if n]
    absent = [n for n in names if n not in table.columns]
    if absent:
        raise ConfigError(f"--audit-column: no column {absent[0]!r} in the CSV (columns: {', '.join(map(str, table.columns))})")
    return names


def per_clip(predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per clip: human score, prediction and interval hit rate averaged over the CV repeats."""
    agg = {"y_true": "first", "model": "mean"}
    if "inside_interval" in predictions:
        agg["inside_interval"] = "mean"
    return predictions.groupby("filename").agg(agg)


def _stats(y: np.ndarray, p: np.ndarray, inside: np.ndarray | None, sd_all: float, cut: float | None
           ) -> dict[str, float]:
    out = {"human_mean": float(np.mean(y)), "predicted_mean": float(np.mean(p)),
           "std_difference": float((np.mean(p) - np.mean(y)) / sd_all) if sd_all > 0 else 0.0,
           "rmse": float(np.sqrt(np.mean((p - y) ** 2))), "mae": float(np.mean(np.abs(p - y))),
           "pearson": float(np.corrcoef(y, p)[0, 1]) if len(y) > 2 and np.std(y) > 0 and np.std(p) > 0 else np.nan}
    if inside is not None:
        out["interval_coverage"] = float(np.mean(inside))
    if cut is not None:
        out["selection_rate"] = float(np.mean(p >= cut))
        out["human_selection_rate"] = float(np.mean(y >= cut))
    return out


def _impact(rates: dict[str, float]) -> dict[str, float]:
    top = max(rates.values()) if rates else 0.0
    return {g: (r / top if top > 0 else np.nan) for g, r in rates.items()}


def group_labels(values: pd.Series) -> pd.Series:
    """Group names as text; missing values are a group of their own."""
    return values.astype(object).where(values.notna(), MISSING).map(lambda v: MISSING if v == MISSING else str(v))


def audit_column(clips: pd.DataFrame, groups: pd.Series, cut: float | None = None, n_boot: int = 1000,
                 seed: int = 0) -> list[dict[str, Any]]:
    """One row per group of one column: its figures, each with a bootstrap 95% interval (`<figure>_ci95`)."""
    labels = group_labels(groups.reindex(clips.index))
    y, p = clips["y_true"].to_numpy(np.float64), clips["model"].to_numpy(np.float64)
    inside = clips["inside_interval"].to_numpy(np.float64) if "inside_interval" in clips else None
    sd_all = float(np.std(y))
    members = {g: np.flatnonzero((labels == g).to_numpy()) for g in sorted(labels.unique(), key=str)}
    rows = []
    for g, idx in members.items():
        row: dict[str, Any] = {"group": g, "n": int(len(idx))}
        if len(idx) >= MIN_GROUP:
            row.update(_stats(y[idx], p[idx], None if inside is None else inside[idx], sd_all, cut))
        rows.append(row)
    usable = {g: idx for g, idx in members.items() if len(idx) >= MIN_GROUP}
    if cut is not None:
        for row, ratio in zip([r for r in rows if r["group"] in usable],
                              _impact({g: float(np.mean(p[idx] >= cut)) for g, idx in usable.items()}).values()):
            row["impact_ratio"] = ratio
            row["four_fifths_fail"] = bool(ratio < FOUR_FIFTHS) if ratio == ratio else False
    # bootstrap: clips resampled within each group, all groups in one draw (the impact ratio compares them)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[dict[str, float]]] = {g: [] for g in usable}
    for _ in range(n_boot):
        picked = {g: rng.choice(idx, len(idx)) for g, idx in usable.items()}
        stats = {g: _stats(y[i], p[i], None if inside is None else inside[i], sd_all, cut) for g, i in picked.items()}
        if cut is not None:
            for g, ratio in _impact({g: s["selection_rate"] for g, s in stats.items()}).items():
                stats[g]["impact_ratio"] = ratio
        for g, s in stats.items():
            draws[g].append(s)
    for row in rows:
        if row["group"] not in draws:
            continue
        frame = pd.DataFrame(draws[row["group"]])
        for key in frame.columns:
            values = frame[key].to_numpy(np.float64)
            values = values[np.isfinite(values)]
            if len(values):
                row[f"{key}_ci95"] = [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]
        row["flag"] = _flags(row)
    return rows


def _flags(row: dict[str, Any]) -> list[str]:
    """Plain reasons to look at a group: a large standardised difference, a failed four-fifths rule."""
    out = []
    d = row.get("std_difference")
    if d is not None and abs(d) > SMD_FLAG:
        out.append(f"scored {'higher' if d > 0 else 'lower'} than its raters did (d = {d:+.2f})")
    if row.get("four_fifths_fail"):
        out.append(f"selected at {row['impact_ratio']:.2f} of the most selected group's rate (under 0.8)")
    return out


def audit(predictions: pd.DataFrame, table: pd.DataFrame, columns: Sequence[str], cut: float | None = None,
          n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The audit of out-of-fold `predictions` by each of `columns` of the dataset `table` (indexed by filename)."""
    if cut is not None and not np.isfinite(cut):
        raise ConfigError(f"--cut-score must be a finite number (got {cut!r})")
    clips = per_clip(predictions)
    return {"columns": {c: audit_column(clips, table[c], cut, n_boot, seed) for c in columns},
            "cut_score": cut, "n": int(len(clips)), "smd_flag": SMD_FLAG, "four_fifths": FOUR_FIFTHS,
            "note": "out-of-fold predictions averaged over repeats; 95% intervals resample clips within each group"}
