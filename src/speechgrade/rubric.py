"""Rubric-aware output: isotonic calibration of raw scores, a linear map to the raters' mean and SD, and snapping
to the label grid (e.g. 0.5 steps)."""

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
    labels; `rescale` maps them linearly so their mean and SD are the labels' (the raters' distribution, as
    operational automated scorers report scores; `calibrate` wins when both are set); `snap` rounds to multiples
    of a step (or "auto": the labels' own step), after either. Scores stay inside the label range."""

    def __init__(self, calibrate: bool = False, snap: "float | str | None" = None, rescale: bool = False):
        self.calibrate = calibrate
        self.snap = snap
        self.rescale = rescale

    @property
    def active(self) -> bool:
        """Whether this rubric changes scores at all."""
        return bool(self.calibrate or self.snap or self.rescale)

    def fit(self, pred: np.ndarray, y: np.ndarray, scale: "tuple[float, float] | None" = None) -> "Rubric":
        """Learn from out-of-fold predictions `pred` of labels `y` (never in-sample predictions); scores stay on
        `scale` (default: the labels' own range). The map to the raters' mean and SD is fitted whether or not it
        is used, so one fitted rubric gives both the raw and the mapped scores (`variants`)."""
        y, pred = np.asarray(y, np.float64), np.asarray(pred, np.float64)
        self.range_ = label_scale(scale, y)
        self.points_ = None
        if self.calibrate:
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(out_of_bounds="clip").fit(pred, y)
            self.points_ = [iso.X_thresholds_.tolist(), iso.y_thresholds_.tolist()]  # as JSON gives it back
        self.mapping_ = raters_mapping(pred, y)
        self.step_ = None
        if self.snap:
            self.step_ = grid_step(y) if self.snap == "auto" else float(self.snap)
        return self

    @property
    def rescaled(self) -> bool:
        """Whether `transform` applies the map to the raters' mean and SD (not when calibrating: calibrate wins)."""
        return bool(self.rescale and not self.calibrate and self.mapping_ is not None)

    def _apply(self, pred: np.ndarray, calibrate: bool, rescale: bool) -> np.ndarray:
        out = np.asarray(pred, np.float64)
        if calibrate and self.points_ is not None:
            out = np.interp(out, *self.points_)  # what IsotonicRegression.predict computes
        elif rescale and self.mapping_ is not None:
            slope, intercept = self.mapping_
            out = slope * out + intercept
        out = np.clip(out, *self.range_)
        if self.step_:  # multiples of the step, kept inside the label range
            lo, hi = np.ceil(self.range_[0] / self.step_ - 1e-9), np.floor(self.range_[1] / self.step_ + 1e-9)
            out = np.clip(np.round(out / self.step_), lo, hi) * self.step_
        return out

    def transform(self, pred: np.ndarray) -> np.ndarray:
        """Calibrated (or mapped to the raters' mean and SD) and/or snapped scores."""
        return self._apply(pred, self.calibrate, self.rescale)

    def variants(self, pred: np.ndarray) -> dict[str, np.ndarray]:
        """The two score sets a cut score can be set on, from one fitted rubric: `raw` (the model's scores on the
        scale, snapped when snapping) and `mapped` (first mapped to the raters' mean and SD)."""
        return {"raw": self._apply(pred, False, False), "mapped": self._apply(pred, False, True)}

    def to_dict(self, scale: bool = True) -> dict[str, Any]:
        """JSON form; without `scale` the range is left out (a bundle records the scale once, in its `label`)."""
        out = {"calibrate": self.calibrate, "snap": self.snap, "range": list(self.range_),
               "points": self.points_, "step": self.step_, "rescale": bool(self.rescale),
               "mapping": list(self.mapping_) if self.rescaled else None}
        return out if scale else {k: v for k, v in out.items() if k != "range"}

    @classmethod
    def from_dict(cls, data: dict[str, Any], scale: "tuple[float, float] | None" = None) -> "Rubric":
        """Inverse of `to_dict`: the range is `scale` when given, else the one `data` holds (older bundles);
        bundles from before `rescale` existed do not rescale."""
        obj = cls(data["calibrate"], data["snap"], bool(data.get("rescale", False)))
        obj.range_ = tuple(float(v) for v in (data["range"] if scale is None else scale))
        obj.points_, obj.step_ = data["points"], data["step"]
        mapping = data.get("mapping")
        obj.mapping_ = None if mapping is None else (float(mapping[0]), float(mapping[1]))
        return obj


def raters_mapping(pred: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) that give predictions `pred` the mean and SD of the labels `y`; a constant `pred` is only
    shifted (there is no spread to stretch)."""
    pred, y = np.asarray(pred, np.float64), np.asarray(y, np.float64)
    sd = float(np.std(pred))
    slope = float(np.std(y)) / sd if sd > 1e-12 else 1.0
    return slope, float(np.mean(y) - slope * np.mean(pred))


class RubricModel:
    """A fitted model whose scores pass through a fitted Rubric (members and importances are the model's)."""

    def __init__(self, model: Any, rubric: Rubric):
        self.model, self.rubric = model, rubric

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Scores on the rubric."""
        return self.rubric.transform(self.model.predict(X))

    def variant_predictions(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """The raw and the mapped scores of the rows of X (`Rubric.variants`), from the same fitted model."""
        return self.rubric.variants(self.model.predict(X))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)
