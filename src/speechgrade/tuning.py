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


def cv_rmse(X: np.ndarray, y: np.ndarray, groups: np.ndarray | None, regressor: str, params: dict,
            pca: int | None, folds: int, seed: int) -> float:
    """Mean RMSE over grouped K folds of these rows."""
    errors = []
    for tr, te in make_folds(y, groups, folds, seed):
        pred = ScoringModel(regressor, params, pca, seed).fit(X[tr], y[tr]).predict(X[te])
        errors.append(float(np.sqrt(np.mean((pred - y[te]) ** 2))))
    return float(np.mean(errors))


def tune(X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None, regressor: str = "lightgbm",
         trials: int = 10, timeout: float | None = None, folds: int = 5, pca: int | None = None, seed: int = 0,
         storage: str | None = None, study_name: str | None = None) -> TuneResult:
    """Search the regressor's space for `trials` trials (resuming a stored study); 0 trials = defaults."""
    cls = get_regressor_class(regressor)
    if trials <= 0:
        return TuneResult(cls.default_params(), cv_rmse(X, y, groups, regressor, {}, pca, folds, seed), 0)
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed),
                                storage=storage, study_name=study_name, load_if_exists=storage is not None)
    done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)

    def objective(trial: "optuna.Trial") -> float:
        return cv_rmse(X, y, groups, regressor, cls.search_space(trial), pca, folds, seed)

    if trials - done > 0:
        study.optimize(objective, n_trials=trials - done, timeout=timeout)
    best = study.best_trial
    return TuneResult({**cls.default_params(), **best.params}, float(best.value), len(study.trials))
