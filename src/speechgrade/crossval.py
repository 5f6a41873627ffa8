"""The cross-validation harness: repeated grouped K-fold of any fit-and-predict function beside baselines, with
augmented copies kept in their sources' folds; what it returns (`LabelEvaluation`, its `Summary`)."""

from __future__ import annotations

from dataclasses import dataclass, field
import html
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .errors import ConfigError
from .folds import make_folds
from .metrics import (against_mean, bootstrap_ci, conformal_coverage, decisions, interval_hits, metrics,
                      quartile_cuts, rank_gap, summarise)

# fit(X_train, y_train, groups_train, fold_seed) -> predict(X_test), or a model with `predict` (and, for an
# ensemble, `member_predictions(X) -> {member: predictions}`, whose figures are then reported beside it; with a
# rubric, `variant_predictions(X) -> {"raw": ..., "mapped": ...}`, kept as `model_raw`, `model_mapped`)
FitPredict = Callable[[np.ndarray, np.ndarray, "np.ndarray | None", int], Any]


def fit_mean(X, y, groups, seed):
    """Baseline: predict the training mean."""
    mean = float(np.mean(y))
    return lambda Xt: np.full(len(Xt), mean)


def fit_ridge(X, y, groups, seed):
    """Baseline: standardised ridge regression, alpha chosen by efficient leave-one-out on the training rows."""
    from sklearn.linear_model import RidgeCV

    from .models.pipeline import scaling, standardise

    mu, sd = scaling(X)
    model = RidgeCV(alphas=np.logspace(-2, 5, 30)).fit(standardise(X, mu, sd), y)
    lo, hi = float(np.min(y)), float(np.max(y))
    return lambda Xt: np.clip(model.predict(standardise(Xt, mu, sd)), lo, hi)


BASELINES: dict[str, FitPredict] = {"mean": fit_mean, "ridge": fit_ridge}
# how fast and how smoothly someone speaks, by column name (whisper's and acoustic's): a baseline that differs
# from the model, so "better than fluency alone" says what the rest of the features add
FLUENCY = ("speech_rate", "articulation_rate", "phonation_time_ratio", "pauses_per_min", "long_pause_count",
           "mean_pause_s", "pause_mean_s", "mean_length_of_run", "speech_ratio", "syllable_rate", "filler_rate")


def fluency_baseline(columns: list[str]) -> FitPredict | None:
    """Ridge on the fluency columns only (None when the features have none)."""
    keep = [i for i, c in enumerate(columns) if c.rsplit(".", 1)[-1] in FLUENCY]
    if not keep:
        return None

    def fit_fluency(X, y, groups, seed):
        predict = fit_ridge(X[:, keep], y, groups, seed)
        return lambda Xt: predict(Xt[:, keep])

    return fit_fluency


SUMMARY_ROWS = (("pearson", "Pearson r"), ("spearman", "Spearman rho"), ("rmse", "RMSE"), ("mae", "MAE"),
                ("qwk", "QWK"), ("exact", "exact agreement"), ("within_0.5", "within 0.5"),
                ("within_1.0", "within 1.0"), ("spread_ratio", "spread ratio"))


class Summary(dict):
    """An evaluation's figures: a dict (`summary["pearson"]`, JSON as it always was) that prints as a table of the
    main figures beside the baselines (`str`, `repr`; `_repr_html_` in a notebook)."""

    def _columns(self) -> dict[str, dict[str, Any]]:
        return {"model": self, **{f"baseline: {b}": v for b, v in (self.get("baselines") or {}).items()}}

    def _rows(self) -> list[list[str]]:
        cols = self._columns()
        rows = [["metric", *cols]]
        for key, name in SUMMARY_ROWS:
            if key not in self:
                continue
            cells = []
            for col, v in cols.items():
                meaningless = col == "baseline: mean" and key in ("pearson", "spearman")  # a constant per fold
                cells.append("" if meaningless or key not in v else
                             f"{v[key]:.3f}" + (f" ± {v[key + '_std']:.3f}" if key + "_std" in v else ""))
            rows.append([name, *cells])
        return rows

    def _caption(self) -> str:
        return (f"{self.get('n', '?')} clips, {self.get('folds', '?')}-fold CV x {self.get('repeats', '?')} repeats "
                f"(mean ± std over repeats)")

    def __str__(self) -> str:
        rows = self._rows()
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                 for r in rows]
        verdict = (self.get("against_mean") or {}).get("verdict")
        return "\n".join([self._caption(), *lines, *([verdict] if verdict else [])])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        rows = self._rows()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
        verdict = (self.get("against_mean") or {}).get("verdict")
        return (f"<table><caption>{html.escape(self._caption())}</caption><tr>{head}</tr>{body}</table>"
                + (f"<p>{html.escape(verdict)}</p>" if verdict else ""))


@dataclass
class LabelEvaluation:
    """One label's out-of-fold predictions of every repeat, with metrics for the model and the baselines."""

    predictions: pd.DataFrame  # filename, y_true, group, repeat, fold, model, baseline_*, member_*, model_raw...
    summary: dict[str, Any]
    per_fold: pd.DataFrame
    config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    importance: pd.Series | None = None  # mean share of importance per feature over the outer-fold models

    def __post_init__(self) -> None:
        if not isinstance(self.summary, Summary):
            self.summary = Summary(self.summary)

    def to_json(self) -> dict[str, Any]:
        """The flat object `--json` writes."""
        return {**self.summary, "config": self.config, **self.extra}

    def decisions(self, cuts: "Sequence[float] | None" = None) -> dict[str, Any] | None:
        """The raw and the mapped out-of-fold scores side by side (`metrics.decisions`) at `cuts`, else at the
        labels' quartiles; kept in `extra["decisions"]` (so `--json` and the report carry them). None when the
        predictions hold no such scores."""
        p = self.predictions
        names = [c for c in ("model_raw", "model_mapped") if c in p.columns]
        if not names or not len(p):
            return None
        y = p.groupby("filename", sort=False)["y_true"].first()
        scores = {c.removeprefix("model_"): p.pivot_table(index="filename", columns="repeat", values=c)
                  .reindex(y.index).to_numpy(np.float64).T for c in names}
        given = cuts is not None and len(cuts) > 0
        cuts = check_cuts(cuts) if given else quartile_cuts(y.to_numpy())
        out = decisions(y.to_numpy(np.float64), scores, cuts)
        out["cut_source"] = "given" if given else "label quartiles"
        cfg = self.config
        out["model_scores"] = "calibrated" if cfg.get("calibrate") else "mapped" if cfg.get("rescale") else "raw"
        self.extra["decisions"] = out
        return out


def check_cuts(cuts: Sequence[float]) -> list[float]:
    """Cut scores as floats, each finite, in the order given, repeats dropped."""
    out = []
    for c in cuts:
        try:
            value = float(c)
        except (TypeError, ValueError):
            raise ConfigError(f"--cut-score takes numbers such as 3.5 or 3.0,3.5,4.0 (got {c!r})") from None
        if not np.isfinite(value):
            raise ConfigError(f"--cut-score must be a finite number (got {c!r})")
        if value not in out:
            out.append(value)
    return out


def _with_copies(X_tr: np.ndarray, y_tr: np.ndarray, tr: np.ndarray, groups: np.ndarray | None,
                 X_aug: np.ndarray, source: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training rows plus the copies of those rows, each copy in its source's group."""
    groups = np.arange(len(y)).astype(str) if groups is None else np.asarray(groups)
    keep = np.isin(source, tr)
    return (np.vstack([X_tr, X_aug[keep]]), np.concatenate([y_tr, y[source[keep]]]),
            np.concatenate([groups[tr], groups[source[keep]]]))


def cross_validate(X: np.ndarray, y: np.ndarray, groups: np.ndarray | None, fit_predict: FitPredict,
                   names: list[str] | None = None, folds: int = 5, repeats: int = 3, seed: int = 0,
                   baselines: dict[str, FitPredict] | None = None, progress: Callable[[str], None] | None = None,
                   coverage: float = 0.8, augmented: "tuple[np.ndarray, np.ndarray] | None" = None) -> LabelEvaluation:
    """Evaluate `fit_predict` out of fold; it only ever receives the outer training rows.

    `augmented` is (features of copies, row index of each copy's source): a training fold gets the copies of its
    own rows, in their sources' groups; test folds hold original clips only.
    """
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    names = names if names is not None else [str(i) for i in range(len(y))]
    index = {name: i for i, name in enumerate(names)}
    baselines = BASELINES if baselines is None else baselines
    models = {"model": fit_predict, **{f"baseline_{k}": f for k, f in baselines.items()}}
    rows, fold_rows = [], []
    preds = {m: np.zeros((repeats, len(y))) for m in models}
    members: dict[str, np.ndarray] = {}
    variants: dict[str, np.ndarray] = {}
    partial = False  # a fold model without the raw and mapped scores: none are kept
    fold_ids = np.zeros((repeats, len(y)), dtype=int)
    for r in range(repeats):
        split = make_folds(y, groups, folds, seed + r)
        for k, (tr, te) in enumerate(split):
            if progress:
                progress(f"repeat {r + 1}/{repeats}, fold {k + 1}/{len(split)}")
            X_tr, y_tr, g_tr = X[tr], y[tr], None if groups is None else groups[tr]
            if augmented is not None:
                X_tr, y_tr, g_tr = _with_copies(X_tr, y_tr, tr, groups, *augmented, y)
            fold_ids[r, te] = k
            for m, fp in models.items():
                fitted = fp(X_tr, y_tr, g_tr, seed + r)
                preds[m][r, te] = getattr(fitted, "predict", fitted)(X[te])
                fold_rows.append({"model": m, "repeat": r, "fold": k, "n_test": len(te),
                                  **metrics(y[te], preds[m][r, te])})
                if hasattr(fitted, "member_predictions"):
                    for name, p in fitted.member_predictions(X[te]).items():
                        members.setdefault(f"member_{name}", np.zeros((repeats, len(y))))[r, te] = p
                if m == "model" and hasattr(fitted, "variant_predictions"):
                    for name, p in fitted.variant_predictions(X[te]).items():
                        variants.setdefault(f"model_{name}", np.zeros((repeats, len(y))))[r, te] = p
                elif m == "model":
                    partial = True
            for i in te:
                rows.append({"filename": names[i], "y_true": y[i],
                             "group": None if groups is None else groups[i], "repeat": r, "fold": k,
                             **{m: preds[m][r, i] for m in models}, **{m: p[r, i] for m, p in members.items()},
                             **{m: p[r, i] for m, p in variants.items()}})
    hits, _ = interval_hits(y, preds["model"], fold_ids, coverage)
    for row, (r, i) in zip(rows, ((row["repeat"], index[row["filename"]]) for row in rows)):
        row["inside_interval"] = bool(hits[r, i])
    summary: dict[str, Any] = {"n": int(len(y)), "folds": int(folds), "repeats": int(repeats),
                               "label_std": float(np.std(y))}
    summary.update(summarise([metrics(y, preds["model"][r]) for r in range(repeats)]))
    summary.update(bootstrap_ci(y, preds["model"], seed=seed))
    summary.update(conformal_coverage(y, preds["model"], fold_ids, coverage))
    summary["rank_gap"] = rank_gap(y, preds["model"])
    for kind, prefix, source in (("baselines", "baseline_", preds), ("members", "member_", members)):
        summary[kind] = {}
        for m, p in source.items():
            if m.startswith(prefix):
                summary[kind][m.removeprefix(prefix)] = summarise([metrics(y, p[r]) for r in range(repeats)]) | \
                    bootstrap_ci(y, p, seed=seed)
    if not summary["members"]:
        del summary["members"]
    if "baseline_mean" in preds:
        summary["against_mean"] = against_mean(y, preds["model"], preds["baseline_mean"], seed=seed)
    frame = pd.DataFrame(rows)
    if partial:
        frame = frame.drop(columns=list(variants))
    return LabelEvaluation(frame, Summary(summary), pd.DataFrame(fold_rows))
