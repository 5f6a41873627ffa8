"""Hyperparameter search with Optuna (TPE): objective = mean grouped-CV RMSE on the rows given."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .columns import families
from .folds import make_folds
from .models import ScoringModel, get_regressor_class
from .models.pooling import PoolingHeads
from .models.ensemble import EnsembleModel


@dataclass
class TuneResult:
    """Best parameters, their CV RMSE, and how many trials the study holds."""

    params: dict[str, Any]
    cv_rmse: float
    n_trials: int
    members: dict[str, float] | None = None  # an ensemble's per-member selection CV RMSE
    regressor: Any = None  # the regressor these parameters are for (per member for an ensemble)


def cv_rmse(X: np.ndarray, y: np.ndarray, groups: np.ndarray | None, regressor: str, params: dict,
            pca: int | None, folds: int, seed: int, trial=None, columns: list[str] | None = None,
            heads: PoolingHeads | None = None) -> float:
    """Mean RMSE over grouped K folds of these rows; with a trial, reports each fold so bad trials are pruned."""
    errors = []
    for k, (tr, te) in enumerate(make_folds(y, groups, folds, seed)):
        pred = ScoringModel(regressor, params, pca, seed, columns, heads).fit(X[tr], y[tr]).predict(X[te])
        errors.append(float(np.sqrt(np.mean((pred - y[te]) ** 2))))
        if trial is not None:
            trial.report(float(np.mean(errors)), k)
            if trial.should_prune():
                import optuna

                raise optuna.TrialPruned()
    return float(np.mean(errors))


def tune(X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None, regressor: str = "lightgbm",
         trials: int = 10, timeout: float | None = None, folds: int = 5, pca: int | None = None, seed: int = 0,
         storage: str | None = None, study_name: str | None = None, columns: list[str] | None = None,
         heads: PoolingHeads | None = None) -> TuneResult:
    """Search the regressor's space for `trials` trials (resuming a stored study); 0 trials = defaults."""
    cls = get_regressor_class(regressor)
    if trials <= 0 or not cls.tunable:
        return TuneResult(cls.default_params(), cv_rmse(X, y, groups, regressor, {}, pca, folds, seed,
                                                        columns=columns, heads=heads), 0, regressor=regressor)
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    # a trial whose running CV RMSE is worse than the median of earlier trials at the same fold stops early
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner,
                                storage=storage, study_name=study_name, load_if_exists=storage is not None)
    done = sum(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in study.trials)

    def objective(trial: "optuna.Trial") -> float:
        return cv_rmse(X, y, groups, regressor, cls.search_space(trial), pca, folds, seed, trial, columns, heads)

    if trials - done > 0:
        study.optimize(objective, n_trials=trials - done, timeout=timeout)
    best = study.best_trial
    return TuneResult({**cls.default_params(), **best.params}, float(best.value), len(study.trials),
                      regressor=regressor)


def regressor_names(regressor: "str | Sequence[str]") -> list[str]:
    """Candidate regressors from `"ridge,svr"` or a list; each one is checked to exist and be installed."""
    names = [r.strip() for r in regressor.split(",") if r.strip()] if isinstance(regressor, str) else list(regressor)
    for name in names:
        get_regressor_class(name)
    return names


class ModelSearch:
    """Tune each candidate regressor (per feature family with `ensemble`), keep the lower tuning CV RMSE, and fit
    it on all rows given: `ModelSearch("ridge,svr", trials=10).fit(X, y, groups, columns).best_estimator_`."""

    def __init__(self, regressor: "str | Sequence[str]" = "lightgbm", trials: int = 10, timeout: float | None = None,
                 folds: int = 5, pca: int | None = None, seed: int = 0, ensemble: str | None = None,
                 storage: str | None = None, study_name: str | None = None):
        self.regressor = regressor
        self.trials = trials
        self.timeout = timeout
        self.folds = folds
        self.pca = pca
        self.seed = seed
        self.ensemble = ensemble
        self.storage = storage
        self.study_name = study_name

    def _tune(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None, columns: Sequence[str],
              idx: Sequence[int], suffix: str = "") -> TuneResult:
        candidates = regressor_names(self.regressor)
        results = [tune(X[:, idx], y, groups, name, self.trials, self.timeout, self.folds, self.pca, self.seed,
                        storage=self.storage, columns=[columns[i] for i in idx], heads=self.heads_,
                        study_name=self.study_name and self.study_name + suffix +
                        (f"-{name}" if len(candidates) > 1 else ""))
                   for name in candidates]
        return min(results, key=lambda r: r.cv_rmse)

    def new_model(self, columns: Sequence[str], result: TuneResult | None = None) -> "ScoringModel | EnsembleModel":
        """An unfitted model with the tuned parameters (the best ones when `result` is None)."""
        result = result or self.result_
        if self.ensemble:
            return EnsembleModel(result.regressor, result.params, columns, self.ensemble, self.pca, self.seed,
                                 self.folds, heads=self.heads_)
        return ScoringModel(result.regressor, result.params, self.pca, self.seed, columns, self.heads_)

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None, columns: Sequence[str],
            scale: "tuple[float, float] | None" = None) -> "ModelSearch":
        """Tune on these rows (grouped folds), then fit the winner on all of them (`best_estimator_`), clipping to
        the label `scale` (default: the range of `y`; tuning's own fits keep their training rows' range)."""
        columns = list(columns)
        self.heads_ = PoolingHeads()  # learned-pooling heads fitted once per rows, for every trial and fold
        if not self.ensemble:
            self.result_ = self._tune(X, y, groups, columns, list(range(len(columns))))
            self.best_estimator_ = self.new_model(columns).fit(X, y, groups, scale)
            return self
        members = {fam: self._tune(X, y, groups, columns, idx, f"-{fam}") for fam, idx in families(columns).items()}
        self.result_ = TuneResult({f: r.params for f, r in members.items()}, 0.0,
                                  sum(r.n_trials for r in members.values()), {f: r.cv_rmse for f, r in members.items()},
                                  {f: r.regressor for f, r in members.items()})
        self.best_estimator_ = self.new_model(columns).fit(X, y, groups, scale)
        self.result_.cv_rmse = self.best_estimator_.oof_rmse_
        return self

    def out_of_fold(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None,
                    columns: Sequence[str]) -> np.ndarray:
        """Grouped out-of-fold predictions of models with the tuned parameters (no tuning inside)."""
        pred = np.zeros(len(y))
        for tr, te in make_folds(y, groups, self.folds, self.seed):
            model = self.new_model(columns).fit(X[tr], y[tr], None if groups is None else groups[tr])
            pred[te] = model.predict(X[te])
        return pred

    def summary(self) -> dict[str, Any]:
        """What the search chose, JSON-able (the bundle's `tuning`)."""
        r = self.result_
        out: dict[str, Any] = {"params": r.params, "selection_cv_rmse": r.cv_rmse, "trials": r.n_trials}
        if r.members:
            choice = getattr(self.best_estimator_, "choice_", None)
            return out | {"member_cv_rmse": r.members, "weights": self.best_estimator_.weights(),
                          "member_regressors": r.regressor, **({"blend_or_best": choice} if choice else {})}
        return out | {"regressor": r.regressor}
