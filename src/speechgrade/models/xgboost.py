"""`xgboost`: gradient boosting saved as XGBoost's JSON model (extra `boost`)."""

from __future__ import annotations

import numpy as np

from .base import Regressor, check_import, n_threads, register_regressor


@register_regressor
class XGBoostRegressor(Regressor):
    """XGBoost (hist) with a search space like LightGBM's."""

    name = "xgboost"
    extra = "boost"
    libraries = ("xgboost-cpu", "xgboost")
    files = ("model.xgb.json",)

    @classmethod
    def check_available(cls):
        check_import("xgboost", "boost", cls.name)

    @staticmethod
    def default_params():
        return {"n_estimators": 300, "learning_rate": 0.05, "max_depth": 4, "subsample": 0.8,
                "colsample_bytree": 0.8, "min_child_weight": 1.0, "reg_alpha": 0.0, "reg_lambda": 1.0}

    @staticmethod
    def search_space(trial):
        return {"n_estimators": trial.suggest_int("n_estimators", 100, 700),
                "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
                "max_depth": trial.suggest_int("max_depth", 2, 8),
                "subsample": trial.suggest_float("subsample", 0.6, 1.0),
                "colsample_bytree": trial.suggest_float("colsample_bytree", 0.6, 1.0),
                "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 10.0, log=True),
                "reg_alpha": trial.suggest_float("reg_alpha", 0.0, 1.0),
                "reg_lambda": trial.suggest_float("reg_lambda", 0.0, 5.0)}

    def fit(self, X, y):
        import xgboost as xgb

        model = xgb.XGBRegressor(**self.params, tree_method="hist", random_state=self.seed, n_jobs=n_threads())
        model.fit(np.asarray(X, np.float32), np.asarray(y, np.float64))
        self.booster_ = model.get_booster()
        return self

    def predict(self, X):
        import xgboost as xgb

        return self.booster_.predict(xgb.DMatrix(np.asarray(X, np.float32)))

    def save(self, directory):
        self.booster_.save_model(str(directory / self.files[0]))
        return list(self.files)

    @classmethod
    def load(cls, directory, params):
        import xgboost as xgb

        obj = cls(**params)
        obj.booster_ = xgb.Booster(model_file=str(directory / cls.files[0]))
        return obj

    def feature_importance(self):
        scores = self.booster_.get_score(importance_type="gain")
        n = self.booster_.num_features()
        return np.array([scores.get(f"f{i}", 0.0) for i in range(n)])

    def contributions(self, X):
        import xgboost as xgb

        return self.booster_.predict(xgb.DMatrix(np.asarray(X, np.float32)), pred_contribs=True)
