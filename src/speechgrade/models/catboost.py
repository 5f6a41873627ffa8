"""`catboost`: ordered boosting saved as CatBoost's native .cbm model (extra `boost`)."""

from __future__ import annotations

import numpy as np

from ..machine import cpu_count
from .base import Regressor, check_import, register_regressor


@register_regressor
class CatBoostRegressor(Regressor):
    """CatBoost with its own search space."""

    name = "catboost"
    title = "gradient-boosted trees (CatBoost)"
    extra = "boost"
    libraries = ("catboost",)
    files = ("model.cbm",)

    @classmethod
    def check_available(cls):
        check_import("catboost", "boost", cls.name)

    @staticmethod
    def default_params():
        return {"iterations": 300, "learning_rate": 0.05, "depth": 6, "l2_leaf_reg": 3.0}

    @staticmethod
    def search_space(trial):
        return {"iterations": trial.suggest_int("iterations", 100, 700),
                "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
                "depth": trial.suggest_int("depth", 3, 8),
                "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 1.0, 10.0, log=True)}

    def fit(self, X, y):
        import catboost

        self.model_ = catboost.CatBoostRegressor(**self.params, random_seed=self.seed, verbose=0,
                                                 thread_count=cpu_count(), allow_writing_files=False)
        self.model_.fit(np.asarray(X, np.float32), np.asarray(y, np.float64))
        return self

    def predict(self, X):
        return self.model_.predict(np.asarray(X, np.float32))

    def save(self, directory):
        self.model_.save_model(str(directory / self.files[0]), format="cbm")
        return list(self.files)

    @classmethod
    def load(cls, directory, params):
        import catboost

        obj = cls(**params)
        obj.model_ = catboost.CatBoostRegressor()
        obj.model_.load_model(str(directory / cls.files[0]), format="cbm")
        return obj

    def feature_importance(self):
        return np.asarray(self.model_.get_feature_importance(), dtype=np.float64)

    def contributions(self, X):
        import catboost

        pool = catboost.Pool(np.asarray(X, np.float32))
        return self.model_.get_feature_importance(pool, type="ShapValues")
