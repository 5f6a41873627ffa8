"""Nested cross-validation of a Scorer: repeated grouped K-fold with the model search (and rubric) inside each outer
training fold, and the `Evaluation` it returns. The figures are `metrics`, the harness `crossval`, the sentences
`wording`; their names stay importable from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from .crossval import (BASELINES, FLUENCY, FitPredict, LabelEvaluation, Summary, check_cuts,  # noqa: F401
                       cross_validate, fit_mean, fit_ridge, fluency_baseline)
from .metrics import (METRICS, against_mean, agreement, bootstrap_ci, conformal_coverage, decisions,  # noqa: F401
                      conformal_halfwidth, interval_hits, label_step, metrics, quartile_cuts, rank_gap, summarise)
from .rubric import Rubric, RubricModel, check_label_range, label_scale  # noqa: F401  (check_label_range: re-export)
from .tuning import regressor_names
from .wording import _member_findings, compared, plain_findings, scale_sentence, verdict  # noqa: F401


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
    config = scorer.config

    def fit_predict(X, y, groups, seed):
        name = f"speechgrade-eval-{next(counter)}" if config.study else None
        scale = label_scale(config.label_range, y)  # what train decides: the same scale for model and rubric
        search = scorer.search(config.inner_folds, seed, name).fit(X, y, groups, columns, scale)
        model = search.best_estimator_
        imp = model.feature_importance()
        if imp is not None:
            importances.append(imp)
        if hasattr(model, "weights"):
            weights.append(model.weights())
            kept.append((getattr(model, "choice_", None) or {}).get("member"))
        chosen.append(search.result_.regressor)
        # one rubric per fold, fitted where train fits it (on inner out-of-fold predictions of the training rows;
        # with --augment these include the copies, grouped with their sources, so still out of fold); it gives the
        # scores as configured and, from the same fold model, the raw and the mapped scores the decisions compare
        rubric = Rubric(config.calibrate, config.snap, config.rescale)
        if not rubric.active and np.ptp(y) == 0:  # one label value: no scale to map to, nothing to decide
            return model
        return RubricModel(model, rubric.fit(search.out_of_fold(X, y, groups, columns), y, scale))

    extra = None if data.augmented is None else (data.augmented.to_numpy(np.float64), data.source)
    fluency = fluency_baseline(columns)
    baselines = {**BASELINES, **({"fluency": fluency} if fluency is not None else {})}
    ev = cross_validate(data.X.to_numpy(np.float64), data.y, data.groups, fit_predict, data.names,
                        folds, repeats, config.seed, baselines, progress=progress, coverage=config.coverage,
                        augmented=extra)
    ev.config = config.to_dict() | {"label": label, "folds": folds, "repeats": repeats}
    if config.rescale and not config.calibrate:  # the model's scores are the mapped ones; the baselines' are not
        ev.summary["scores"] = "mapped"
    ev.extra = {"duplicates": data.duplicates, "skipped": [[p.filename, p.reason] for p in data.report.skipped],
                "failed": [[p.filename, p.reason] for p in data.report.failed],
                "scale": scale_note(label or "label", config.label_range, data.y)}
    ev.decisions()  # raw and mapped scores at the labels' quartiles until cut scores are given
    if len(regressor_names(config.regressor)) > 1:  # how often each candidate won the tuning in the outer folds
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

    def decisions(self, cut_scores: "float | list[float] | None" = None) -> dict[str, dict[str, Any]]:
        """Each label's raw and mapped out-of-fold scores side by side at `cut_scores` (else the labels'
        quartiles): r, RMSE, QWK, and how many clips the raters, the scores and both select (`metrics.decisions`);
        kept in each label's `extra["decisions"]`."""
        cuts = None if cut_scores is None else [cut_scores] if isinstance(cut_scores, (int, float)) else cut_scores
        return {label: ev.decisions(cuts) for label, ev in self.labels.items()}

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


def scale_note(label: str, label_range: Any, y: np.ndarray) -> dict[str, Any]:
    """The scale an evaluation used and where it came from (each outer fold decides it as train would: the given
    range, else its training labels' own), with the sentence the CLI prints."""
    given = check_label_range(label_range)
    lo, hi = given if given is not None else (float(np.min(y)), float(np.max(y)))
    return {"min": lo, "max": hi, "from": "--label-range" if given is not None else "training labels",
            "note": scale_sentence(label, label_range, y)}


def _tally(chosen: list) -> dict:
    """How often each regressor was chosen (per member for ensembles)."""
    if chosen and isinstance(chosen[0], dict):
        return {fam: _tally([c[fam] for c in chosen]) for fam in chosen[0]}
    return {name: chosen.count(name) for name in sorted(set(chosen))}
