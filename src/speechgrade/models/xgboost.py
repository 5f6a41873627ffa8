"""`xgboost`: gradient boosting saved as XGBoost's JSON model (extra `boost`)."""

from __future__ import annotations

import json

import numpy as np

from ..machine import cpu_count
from .base import Regressor, check_import, register_regressor


@register_regressor
class XGBoostRegressor(Regressor):
    """XGBoost (hist) with a search space like LightGBM's."""

    name = "xgboost"
    title = "gradient-boosted trees (XGBoost)"
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

        model = xgb.XGBRegressor(**self.params, tree_method="hist", random_state=self.seed, n_jobs=cpu_count())
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
    def validate(cls, directory, n_inputs):
        check_xgboost_json(json.loads((directory / cls.files[0]).read_text(encoding="utf-8")), n_inputs)

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


NODE_ARRAYS = ("left_children", "right_children", "parents", "split_indices", "split_conditions", "default_left",
               "base_weights")


def check_xgboost_json(model: dict, n_inputs: int) -> None:
    """ValueError unless an XGBoost JSON model is consistent: node arrays have their lengths, and child and
    feature indices stay in range (XGBoost itself segfaults otherwise)."""
    learner = model["learner"]
    if int(learner["learner_model_param"]["num_feature"]) != n_inputs:
        raise ValueError(f"the model reads {learner['learner_model_param']['num_feature']} features, not {n_inputs}")
    for i, tree in enumerate(learner["gradient_booster"]["model"]["trees"]):
        n = int(tree["tree_param"]["num_nodes"])
        if n < 1 or any(len(tree[k]) != n for k in NODE_ARRAYS):
            raise ValueError(f"tree {i}: node arrays do not match num_nodes")
        if any(not (c == -1 or 0 < c < n) for c in tree["left_children"] + tree["right_children"]):
            raise ValueError(f"tree {i}: a child index is out of range")
        if any(not 0 <= f < n_inputs for f in tree["split_indices"]):
            raise ValueError(f"tree {i}: a feature index is out of range")
