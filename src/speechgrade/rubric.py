"""Rubric-aware output: isotonic calibration of raw scores and snapping to the label grid (e.g. 0.5 steps)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .config import check_label_range  # noqa: F401  (its home is the configuration; importable here too)
from .errors import ConfigError


def grid_step(y: np.ndarray) -> float:
    """The label grid's step: the smallest gap between distinct labels (0.5 for a 1-5 scale in halves)."""
    values = np.unique(np.round(np.asarray(y, np.float64), 6))
    if len(values) < 2:
        raise ConfigError("snapping to the label grid needs at least two distinct labels")
    return float(np.diff(values).min())


def label_scale(label_range, y: np.ndarray, label: str = "label") -> tuple[float, float]:
    """The label scale, decided once when fitting and passed to whatever clips to it (the model, the rubric, the
    interval): the given range (checked to hold every label), else the labels' own lowest and highest."""
    given = check_label_range(label_range, y, label)
    return given if given is not None else (float(np.min(y)), float(np.max(y)))


class Rubric:
    """Maps raw scores to the rubric: `calibrate` fits a monotone (isotonic) map from out-of-fold predictions to
    labels, `snap` rounds to multiples of a step (or "auto": the labels' own step); both stay inside the label range."""

    def __init__(self, calibrate: bool = False, snap: "float | str | None" = None):
        self.calibrate = calibrate
        self.snap = snap

    @property
    def active(self) -> bool:
        """Whether this rubric changes scores at all."""
        return bool(self.calibrate or self.snap)

    def fit(self, pred: np.ndarray, y: np.ndarray, scale: "tuple[float, float] | None" = None) -> "Rubric":
        """Learn from out-of-fold predictions `pred` of labels `y` (never in-sample predictions); scores stay on
        `scale` (default: the labels' own range)."""
        y = np.asarray(y, np.float64)
        self.range_ = label_scale(scale, y)
        self.points_ = None
        if self.calibrate:
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(out_of_bounds="clip").fit(np.asarray(pred, np.float64), y)
            self.points_ = [iso.X_thresholds_.tolist(), iso.y_thresholds_.tolist()]  # as JSON gives it back
        self.step_ = None
        if self.snap:
            self.step_ = grid_step(y) if self.snap == "auto" else float(self.snap)
        return self

    def transform(self, pred: np.ndarray) -> np.ndarray:
        """Calibrated and/or snapped scores."""
        out = np.asarray(pred, np.float64)
        if self.points_ is not None:
            out = np.interp(out, *self.points_)  # what IsotonicRegression.predict computes
        out = np.clip(out, *self.range_)
        if self.step_:  # multiples of the step, kept inside the label range
            lo, hi = np.ceil(self.range_[0] / self.step_ - 1e-9), np.floor(self.range_[1] / self.step_ + 1e-9)
            out = np.clip(np.round(out / self.step_), lo, hi) * self.step_
        return out

    def to_dict(self, scale: bool = True) -> dict[str, Any]:
        """JSON form; without `scale` the range is left out (a bundle records the scale once, in its `label`)."""
        out = {"calibrate": self.calibrate, "snap": self.snap, "range": list(self.range_),
               "points": self.points_, "step": self.step_}
        return out if scale else {k: v for k, v in out.items() if k != "range"}

    @classmethod
    def from_dict(cls, data: dict[str, Any], scale: "tuple[float, float] | None" = None) -> "Rubric":
        """Inverse of `to_dict`: the range is `scale` when given, else the one `data` holds (older bundles)."""
        obj = cls(data["calibrate"], data["snap"])
        obj.range_ = tuple(float(v) for v in (data["range"] if scale is None else scale))
        obj.points_, obj.step_ = data["points"], data["step"]
        return obj


class RubricModel:
    """A fitted model whose scores pass through a fitted Rubric (members and importances are the model's)."""

    def __init__(self, model: Any, rubric: Rubric):
        self.model, self.rubric = model, rubric

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Scores on the rubric."""
        return self.rubric.transform(self.model.predict(X))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)
