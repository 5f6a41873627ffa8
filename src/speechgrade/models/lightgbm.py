"""`lightgbm`: gradient boosting (the original design's default), saved as LightGBM's text model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..machine import cpu_count
from .base import Regressor, register_regressor


@register_regressor
class LightGBMRegressor(Regressor):
    """LightGBM with the original design's search space."""

    name = "lightgbm"
    title = "gradient-boosted trees (LightGBM)"
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
                                  n_jobs=cpu_count(), verbose=-1, min_child_samples=min(20, max(2, len(y) // 10)))
        model.fit(np.asarray(X, np.float32), np.asarray(y, np.float64))
        self.booster_ = model.booster_
        return self

    def predict(self, X):
        return self.booster_.predict(np.asarray(X, np.float32), num_threads=cpu_count())

    def save(self, directory: Path):
        self.booster_.save_model(str(directory / self.files[0]))
        return list(self.files)

    @classmethod
    def validate(cls, directory, n_inputs):
        check_lightgbm_text((directory / cls.files[0]).read_text(encoding="ascii", errors="strict"), n_inputs)

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


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split()] if text.strip() else []


def check_lightgbm_text(text: str, n_inputs: int) -> None:
    """ValueError unless a LightGBM text model is whole and consistent: tree sizes add up, every tree's arrays
    have their lengths, and child and feature indices stay in range (LightGBM itself segfaults otherwise)."""
    head, sep, rest = text.partition("\n\n")
    fields = dict(line.split("=", 1) for line in head.splitlines()[1:] if "=" in line)
    if not text.startswith("tree\n") or not sep or "tree_sizes" not in fields:
        raise ValueError("not a LightGBM text model")
    if int(fields.get("max_feature_idx", -1)) + 1 != n_inputs:
        raise ValueError(f"the model reads {int(fields.get('max_feature_idx', -1)) + 1} features, not {n_inputs}")
    pos = 0
    for i, size in enumerate(_ints(fields["tree_sizes"])):
        block = rest[pos:pos + size]
        if len(block) != size or not block.startswith(f"Tree={i}\n"):
            raise ValueError(f"tree {i} is cut short or misplaced")
        _check_tree(dict(line.split("=", 1) for line in block.splitlines()[1:] if "=" in line), n_inputs, i)
        pos += size
    if not rest[pos:].lstrip("\n").startswith("end of trees"):
        raise ValueError("the model does not end where its tree sizes say")


def _check_tree(tree: dict[str, str], n_inputs: int, i: int) -> None:
    leaves = int(tree.get("num_leaves", 0))
    if leaves < 1 or len(tree.get("leaf_value", "").split()) != leaves:
        raise ValueError(f"tree {i}: leaf values do not match num_leaves")
    if leaves == 1:
        return
    children = _ints(tree.get("left_child", "")) + _ints(tree.get("right_child", ""))
    features = _ints(tree.get("split_feature", ""))
    if len(children) != 2 * (leaves - 1) or len(features) != leaves - 1 or \
            len(tree.get("threshold", "").split()) != leaves - 1:
        raise ValueError(f"tree {i}: split arrays do not match num_leaves")
    if any(not -leaves <= c < leaves - 1 for c in children) or any(not 0 <= f < n_inputs for f in features):
        raise ValueError(f"tree {i}: a child or feature index is out of range")
