"""Repeated grouped K-fold with tuning nested inside each outer training fold; metrics and baselines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy import stats

from .folds import make_folds
from .rubric import Rubric, RubricModel, check_label_range, label_scale  # noqa: F401  (check_label_range: re-export)
from .tuning import regressor_names

METRICS = ("rmse", "mae", "pearson", "spearman", "within_0.5", "within_1.0", "qwk", "exact", "adjacent",
           "spread_ratio")

# fit(X_train, y_train, groups_train, fold_seed) -> predict(X_test), or a model with `predict` (and, for an
# ensemble, `member_predictions(X) -> {member: predictions}`, whose figures are then reported beside it)
FitPredict = Callable[[np.ndarray, np.ndarray, "np.ndarray | None", int], Any]


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


def plain_findings(summary: dict[str, Any]) -> list[str]:
    """Sentences a user should read beside the table: the verdict against the mean, and shrinkage to the middle."""
    if summary.get("label_std") == 0:
        return ["Every clip has the same label: there is nothing to learn, and Pearson r is undefined (shown as 0)."]
    out = [summary["against_mean"]["verdict"]] if "against_mean" in summary else []
    out += _member_findings(summary)
    ratio = summary.get("spread_ratio")
    if ratio is not None and ratio < 0.7:
        out.append(f"Predictions shrink to the middle: their spread is {ratio:.2f} of the labels' spread, so high "
                   f"scores come out too low and low scores too high.")
    return out


def _member_findings(summary: dict[str, Any]) -> list[str]:
    """How often the ensemble kept one family alone, and a family that alone beat the blend out of fold."""
    out = []
    kept = {k: v for k, v in summary.get("ensemble", {}).get("kept_alone", {}).items() if k != "(blend)"}
    if kept:
        n = sum(summary["ensemble"]["kept_alone"].values())
        tally = ", ".join(f"{k} {v}" for k, v in sorted(kept.items(), key=lambda kv: -kv[1]))
        out.append(f"The blend gave way to one family alone in {sum(kept.values())} of {n} training folds ({tally}).")
    members = summary.get("members", {})
    best = min(members, key=lambda m: members[m]["rmse"], default=None)
    if best is not None and members[best]["rmse"] < summary["rmse"]:
        out.append(f"The {best} family alone did better than the model out of fold (r {members[best]['pearson']:.3f} "
                   f"vs {summary['pearson']:.3f}, RMSE {members[best]['rmse']:.3f} vs {summary['rmse']:.3f}); "
                   f"`--features {best}` may serve you better (check it with `speechgrade evaluate`).")
    return out


def verdict(gain: dict[str, Any]) -> str:
    """One sentence on whether the model beats predicting the mean, from the gains' intervals."""
    lo, hi = gain["rmse_gain_ci95"]
    g = gain["rmse_gain"]
    figure = (f"its RMSE is {abs(g):.3f} {'lower' if g >= 0 else 'higher'} than the mean predictor's (gain "
              f"{g:+.3f}, 95% CI {lo:+.3f} to {hi:+.3f})")
    if lo > 0:
        return f"The model is clearly better than predicting the mean: {figure}."
    if hi < 0:
        return f"The model is WORSE than predicting the mean: {figure}. Do not use it."
    return (f"The model is NOT clearly better than predicting the mean: {figure}; the interval includes no "
            f"improvement. Treat its scores as unproven.")


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


def compared(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The figures to show beside the model's: each ensemble member's (with its blend weight), then baselines."""
    weights = summary.get("ensemble", {}).get("weights", {})
    return {**{f"member: {m}" + (f" (w {weights[m]:.2f})" if m in weights else ""): v
               for m, v in summary.get("members", {}).items()},
            **{f"baseline: {b}": v for b, v in summary["baselines"].items()}}


@dataclass
class LabelEvaluation:
    """One label's out-of-fold predictions of every repeat, with metrics for the model and the baselines."""

    predictions: pd.DataFrame  # filename, y_true, group, repeat, fold, model, baseline_*, member_*
    summary: dict[str, Any]
    per_fold: pd.DataFrame
    config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    importance: pd.Series | None = None  # mean share of importance per feature over the outer-fold models

    def to_json(self) -> dict[str, Any]:
        """The flat object `--json` writes."""
        return {**self.summary, "config": self.config, **self.extra}


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
            for i in te:
                rows.append({"filename": names[i], "y_true": y[i],
                             "group": None if groups is None else groups[i], "repeat": r, "fold": k,
                             **{m: preds[m][r, i] for m in models}, **{m: p[r, i] for m, p in members.items()}})
    hits, _ = interval_hits(y, preds["model"], fold_ids, coverage)
    for row, (r, i) in zip(rows, ((row["repeat"], index[row["filename"]]) for row in rows)):
        row["inside_interval"] = bool(hits[r, i])
    summary: dict[str, Any] = {"n": int(len(y)), "folds": int(folds), "repeats": int(repeats),
                               "label_std": float(np.std(y))}
    summary.update(summarise([metrics(y, preds["model"][r]) for r in range(repeats)]))
    summary.update(bootstrap_ci(y, preds["model"], seed=seed))
    summary.update(conformal_coverage(y, preds["model"], fold_ids, coverage))
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
    return LabelEvaluation(pd.DataFrame(rows), summary, pd.DataFrame(fold_rows))


def evaluate_scorer(scorer, data, label: str | None, folds: int, repeats: int = 3,
                    progress: Callable[[str], None] | None = None) -> LabelEvaluation:
    """Nested, repeated, grouped CV of a scorer's configuration on prepared data: the model search (and the
    rubric, on inner out-of-fold predictions) runs inside each outer training fold only."""
    counter = iter(range(10**9))
    importances: list[np.ndarray] = []
    weights: list[dict[str, float]] = []
    kept: list[str | None] = []  # the member an ensemble kept alone, per outer fold (None: the blend)
    chosen: list = []
    columns = list(data.X.columns)

    def fit_predict(X, y, groups, seed):
        name = f"speechgrade-eval-{next(counter)}" if scorer.study else None
        scale = label_scale(scorer.label_range, y)  # what train decides: the same scale for model and rubric
        search = scorer.search(scorer.inner_folds, seed, name).fit(X, y, groups, columns, scale)
        model = search.best_estimator_
        imp = model.feature_importance()
        if imp is not None:
            importances.append(imp)
        if hasattr(model, "weights"):
            weights.append(model.weights())
            kept.append((getattr(model, "choice_", None) or {}).get("member"))
        chosen.append(search.result_.regressor)
        rubric = Rubric(scorer.calibrate, scorer.snap)
        if not rubric.active:
            return model
        # with --augment these rows include the copies (grouped with their sources, so still out of fold)
        return RubricModel(model, rubric.fit(search.out_of_fold(X, y, groups, columns), y, scale))

    extra = None if data.augmented is None else (data.augmented.to_numpy(np.float64), data.source)
    fluency = fluency_baseline(columns)
    baselines = {**BASELINES, **({"fluency": fluency} if fluency is not None else {})}
    ev = cross_validate(data.X.to_numpy(np.float64), data.y, data.groups, fit_predict, data.names,
                        folds, repeats, scorer.seed, baselines, progress=progress, coverage=scorer.coverage,
                        augmented=extra)
    ev.config = scorer.get_config() | {"label": label, "folds": folds, "repeats": repeats}
    ev.extra = {"duplicates": data.duplicates, "skipped": [[p.filename, p.reason] for p in data.report.skipped],
                "failed": [[p.filename, p.reason] for p in data.report.failed]}
    if len(regressor_names(scorer.regressor)) > 1:  # how often each candidate won the tuning in the outer folds
        ev.summary["regressor_choices"] = _tally(chosen)
    if weights:
        ev.summary["ensemble"] = {"method": scorer.ensemble_method(),
                                  "weights": pd.DataFrame(weights).mean().round(4).to_dict(),
                                  "kept_alone": _tally([k or "(blend)" for k in kept])}
    if importances:
        ev.importance = pd.Series(np.mean(importances, axis=0), index=data.X.columns).sort_values(ascending=False)
    return ev


@dataclass
class Evaluation:
    """What `Scorer.evaluate` returns: each label's LabelEvaluation, the composite's figures, and how the human and
    predicted sub-scores correlate. With one label, `summary`, `predictions`, `per_fold`, `importance`, `config`,
    `extra` and `to_json()` are that label's."""

    labels: dict[str, LabelEvaluation]
    overall: dict[str, Any] | None = None
    human_corr: pd.DataFrame | None = None
    predicted_corr: pd.DataFrame | None = None
    missing: dict[str, int] = field(default_factory=dict)

    @property
    def first(self) -> LabelEvaluation:
        """The first (with one label, the only) label's evaluation."""
        return next(iter(self.labels.values()))

    summary = property(lambda self: self.first.summary, doc="The first label's summary.")
    predictions = property(lambda self: self.first.predictions, doc="The first label's out-of-fold predictions.")
    per_fold = property(lambda self: self.first.per_fold, doc="The first label's per-fold metrics.")
    importance = property(lambda self: self.first.importance, doc="The first label's feature importance.")
    config = property(lambda self: self.first.config, doc="The configuration evaluated (the first label's).")
    extra = property(lambda self: self.first.extra, doc="Duplicates and files left out (the first label's).")

    def audit(self, dataset, columns: "str | list[str]", cut_score: float | None = None, seed: int = 0
              ) -> dict[str, dict[str, Any]]:
        """Per-group figures of every label by each audit column of the dataset (see `speechgrade.audit`); kept in
        each label's `extra["audit"]`, so `--json` and the HTML report carry them."""
        from .audit import audit, audit_columns

        names = audit_columns(columns, dataset.table)
        out = {}
        for label, ev in self.labels.items():
            ev.extra["audit"] = out[label] = audit(ev.predictions, dataset.table, names, cut_score, seed=seed)
        return out

    def table(self) -> pd.DataFrame:
        """One row per label: r, Spearman, RMSE, MAE, within 0.5 / 1.0, interval coverage, baselines."""
        rows = {}
        for label, ev in self.labels.items():
            s = ev.summary
            rows[label] = {"n": s["n"], "pearson": s["pearson"], "pearson_std": s["pearson_std"],
                           "spearman": s["spearman"], "rmse": s["rmse"], "mae": s["mae"],
                           "within_0.5": s["within_0.5"], "within_1.0": s["within_1.0"], "qwk": s["qwk"],
                           "exact": s["exact"], "adjacent": s["adjacent"], "spread_ratio": s["spread_ratio"],
                           "interval_coverage": s.get("interval_coverage"),
                           "baseline_ridge_pearson": s["baselines"]["ridge"]["pearson"],
                           "baseline_mean_rmse": s["baselines"]["mean"]["rmse"]}
        if self.overall and self.overall.get("against"):
            rows[f"overall (composite vs {self.overall['against']})"] = {
                k: self.overall.get(k) for k in ("n", "pearson", "pearson_std", "spearman", "rmse", "mae",
                                                 "within_0.5", "within_1.0")}
        return pd.DataFrame(rows).T

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: one label's flat object; with several, per label that object plus the correlations."""
        if len(self.labels) == 1 and not self.overall:
            return self.first.to_json()
        out: dict[str, Any] = {"labels": {k: ev.to_json() for k, ev in self.labels.items()}, "overall": self.overall,
                               "missing_labels": self.missing}
        for name, corr in (("human_correlation", self.human_corr), ("predicted_correlation", self.predicted_corr)):
            out[name] = None if corr is None else corr.round(4).to_dict()
        return out


def _tally(chosen: list) -> dict:
    """How often each regressor was chosen (per member for ensembles)."""
    if chosen and isinstance(chosen[0], dict):
        return {fam: _tally([c[fam] for c in chosen]) for fam in chosen[0]}
    return {name: chosen.count(name) for name in sorted(set(chosen))}
