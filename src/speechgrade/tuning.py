"""Hyperparameter search with Optuna (TPE): objective = mean grouped-CV RMSE on the rows given."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from .folds import make_folds
from .models import ScoringModel, get_regressor_class


@dataclass
class TuneResult:
    """Best parameters, their CV RMSE, and how many trials the study holds."""

    params: dict[str, Any]
    cv_rmse: float
    n_trials: int
    members: dict[str, float] | None = None  # an ensemble's per-member selection CV RMSE
    regressor: Any = None  # the regressor these parameters are for (per member for an ensemble)


def cv_rmse(X: np.ndarray, y: np.ndarray, groups: np.ndarray | None, regressor: str, params: dict,
            pca: int | None, folds: int, seed: int, trial=None, columns: list[str] | None = None) -> float:
    """Mean RMSE over grouped K folds of these rows; with a trial, reports each fold so bad trials are pruned."""
    errors = []
    for k, (tr, te) in enumerate(make_folds(y, groups, folds, seed)):
        pred = ScoringModel(regressor, params, pca, seed, columns).fit(X[tr], y[tr]).predict(X[te])
        errors.append(float(np.sqrt(np.mean((pred - y[te]) ** 2))))
        if trial is not None:
            trial.report(float(np.mean(errors)), k)
            if trial.should_prune():
                import optuna

                raise optuna.TrialPruned()
    return float(np.mean(errors))


def tune(X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None, regressor: str = "lightgbm",
         trials: int = 10, timeout: float | None = None, folds: int = 5, pca: int | None = None, seed: int = 0,
         storage: str | None = None, study_name: str | None = None, columns: list[str] | None = None) -> TuneResult:
    """Search the regressor's space for `trials` trials (resuming a stored study); 0 trials = defaults."""
    cls = get_regressor_class(regressor)
    if trials <= 0:
        return TuneResult(cls.default_params(), cv_rmse(X, y, groups, regressor, {}, pca, folds, seed,
                                                        columns=columns), 0, regressor=regressor)
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    # a trial whose running CV RMSE is worse than the median of earlier trials at the same fold stops early
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner,
                                storage=storage, study_name=study_name, load_if_exists=storage is not None)
    done = sum(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in study.trials)

    def objective(trial: "optuna.Trial") -> float:
        return cv_rmse(X, y, groups, regressor, cls.search_space(trial), pca, folds, seed, trial, columns)

    if trials - done > 0:
        study.optimize(objective, n_trials=trials - done, timeout=timeout)
    best = study.best_trial
    return TuneResult({**cls.default_params(), **best.params}, float(best.value), len(study.trials),
                      regressor=regressor)
