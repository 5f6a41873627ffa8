"""The Regressor interface and its registry: each regressor owns its search space and its file format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError
from ..extras import require

REGRESSORS: dict[str, type["Regressor"]] = {}


def register_regressor(cls: type["Regressor"]) -> type["Regressor"]:
    """Class decorator: make a regressor available by its `name`."""
    REGRESSORS[cls.name] = cls
    return cls


def get_regressor_class(name: str) -> type["Regressor"]:
    """The registered regressor class called `name`, its dependencies checked."""
    if name not in REGRESSORS:
        raise ConfigError(f"unknown regressor '{name}' (available: {', '.join(sorted(REGRESSORS))})")
    cls = REGRESSORS[name]
    cls.check_available()
    return cls


class Regressor:
    """A regressor with `fit`/`predict`, an Optuna search space, and save/load in a safe native format."""

    name: ClassVar[str] = ""
    extra: ClassVar[str | None] = None
    files: ClassVar[tuple[str, ...]] = ()
    libraries: ClassVar[tuple[str, ...]] = ()  # distributions whose versions a bundle records
    tunable: ClassVar[bool] = True  # False: it chooses its own parameters in closed form (no Optuna trials)
    title: ClassVar[str] = ""  # what it is, in a few words a user reads (the web page)

    def __init__(self, seed: int = 0, **params: Any):
        self.seed = seed
        self.params = {**self.default_params(), **params}

    @staticmethod
    def default_params() -> dict[str, Any]:
        """Parameters used when no tuning is done."""
        return {}

    @staticmethod
    def search_space(trial) -> dict[str, Any]:
        """Parameters suggested by an Optuna trial."""
        return {}

    @classmethod
    def check_available(cls) -> None:
        """Raise ConfigError saying what to install when a dependency is missing."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> "Regressor":
        """Learn from rows X and targets y; returns self."""
        raise NotImplementedError

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions for rows X."""
        raise NotImplementedError

    def save(self, directory: Path) -> list[str]:
        """Write the fitted model into `directory`; return the file names written."""
        raise NotImplementedError

    @classmethod
    def validate(cls, directory: Path, n_inputs: int) -> None:
        """Raise ValueError unless the saved files are well formed for `n_inputs` columns: run before the
        library reads them, since some libraries crash the process on malformed models."""

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> "Regressor":
        """Read a model written by `save`."""
        raise NotImplementedError

    def feature_importance(self) -> np.ndarray | None:
        """Importance per input column, when the model has one."""
        return None

    def linear(self) -> tuple[np.ndarray, float] | None:
        """(coefficients, intercept) when the fitted model is linear in its inputs (explanations under PCA)."""
        return None

    def contributions(self, X: np.ndarray) -> np.ndarray | None:
        """Per-row additive contributions per input column (+ a last column for the bias), if supported."""
        return None


def write_json(path: Path, obj: Any) -> None:
    """Write JSON with a trailing newline."""
    path.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")


def check_import(module: str, extra: str, name: str) -> None:
    """ConfigError naming the pip extra when `module` cannot be imported."""
    require(f"the '{name}' regressor", (module,), f"'speechgrade[{extra}]'")
