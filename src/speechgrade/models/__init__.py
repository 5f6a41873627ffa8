"""Regressors, registered by name: one class (and its search space) per module."""

from .base import REGRESSORS, Regressor, get_regressor_class, register_regressor
from . import catboost, lightgbm, ridge, svr, xgboost  # noqa: F401  (registration)
from .pipeline import ScoringModel

__all__ = ["REGRESSORS", "Regressor", "ScoringModel", "get_regressor_class", "register_regressor"]
