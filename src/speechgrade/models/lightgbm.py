"""`lightgbm`: gradient boosting (the original design's default), saved as LightGBM's text model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Regressor, n_threads, register_regressor


@register_regressor
class LightGBMRegressor(Regressor):
    """LightGBM with the original design's search space."""

    name = "lightgbm"
    libraries = ("lightgbm",)
    files = ("model.lgb.txt",)

    @staticmethod
    def default_params():
        return {"n_estimators": 300, "learning_rate": 0.05, "max_depth": 6, "num_leaves": 15,
                "subsample": 0.8, "colsample_bytree": 0.8, "reg_alpha": 0.0, "reg_lambda": 0.0}

    @staticmethod
    def search_space(trial):
        return {"n_estimators": trial.suggest_int("n_estimators", 100, 700),
                "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
                "max_depth": trial.suggest_int("max_depth", 3, 10),
                "num_leaves": trial.suggest_int("num_leaves", 5, 30),
                "subsample": trial.suggest_float("subsample", 0.6, 1.0),
                "colsample_bytree": trial.suggest_float("colsample_bytree", 0.6, 1.0),
                "reg_alpha": trial.suggest_float("reg_alpha", 0.0, 1.0),
                "reg_lambda": trial.suggest_float("reg_lambda", 0.0, 1.0)}

    def fit(self, X, y):
        import lightgbm as lgb

        # subsample_freq=1 makes `subsample` take effect (LightGBM ignores it at the default 0)
        # max_bin 63: a quarter faster than 255 on embedding-sized inputs, and coarser splits overfit less
        model = lgb.LGBMRegressor(**self.params, subsample_freq=1, random_state=self.seed, max_bin=63,
                                  n_jobs=n_threads(), verbose=-1, min_child_samples=min(20, max(2, len(y) // 10)))
        model.fit(np.asarray(X, np.float32), np.asarray(y, np.float64))
        self.booster_ = model.booster_
        return self

    def predict(self, X):
        return self.booster_.predict(np.asarray(X, np.float32), num_threads=n_threads())

    def save(self, directory: Path):
        self.booster_.save_model(str(directory / self.files[0]))
        return list(self.files)

    @classmethod
    def load(cls, directory, params):
        import lightgbm as lgb

        obj = cls(**params)
        obj.booster_ = lgb.Booster(model_file=str(directory / cls.files[0]))
        return obj

    def feature_importance(self):
        return self.booster_.feature_importance(importance_type="gain").astype(np.float64)

    def contributions(self, X):
        return self.booster_.predict(np.asarray(X, np.float32), pred_contrib=True)
