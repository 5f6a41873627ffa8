"""What happens to a raw score before anyone sees it: the rubric, the conformal interval, the abstain rules.

All three are fitted on out-of-fold predictions (or the `screen` measures) of the training rows, never on
in-sample predictions, and all three are saved in the bundle's manifest as JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .abstain import AbstainRules
from .metrics import conformal_halfwidth
from .rubric import Rubric, label_scale


class PostProcessor:
    """Rubric (calibrate / rescale / snap), split-conformal interval at `coverage`, and (with `abstain`) abstain
    rules."""

    def __init__(self, calibrate: bool = False, snap: "float | str | None" = None, coverage: float = 0.8,
                 abstain: bool = True, language: str | None = None, rescale: bool = False):
        self.calibrate = calibrate
        self.snap = snap
        self.coverage = coverage
        self.abstain = abstain
        self.language = language
        self.rescale = rescale

    def fit(self, oof: np.ndarray, y: np.ndarray, screen: pd.DataFrame | None = None,
            scale: "tuple[float, float] | None" = None) -> "PostProcessor":
        """Fit the rubric and the interval on out-of-fold predictions `oof` of `y`, on the label `scale` (default:
        the labels' own range); the rules on `screen`."""
        y = np.asarray(y, np.float64)
        self.label_range_ = label_scale(scale, y)
        self.rubric_ = Rubric(self.calibrate, self.snap, self.rescale).fit(oof, y, self.label_range_)
        self.halfwidth_ = conformal_halfwidth(self.rubric_.transform(oof) - y, self.coverage)
        self.rules_ = AbstainRules(language=self.language).fit(screen) if self.abstain and screen is not None \
            else None
        return self

    def scores(self, raw: np.ndarray) -> np.ndarray:
        """Scores on the rubric."""
        return self.rubric_.transform(raw)

    def interval(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) of the split-conformal interval around scores, clipped to the label range."""
        q = self.halfwidth_
        return np.clip(scores - q, *self.label_range_), np.clip(scores + q, *self.label_range_)

    def reasons(self, screen: pd.DataFrame) -> pd.Series:
        """Why each clip should not be trusted (None where it can)."""
        return self.rules_.reasons(screen)

    def to_manifest(self) -> dict[str, Any]:
        """The manifest's `interval`, `rubric` and `abstain` entries."""
        return {"interval": {"coverage": self.coverage, "halfwidth": self.halfwidth_},
                "rubric": self.rubric_.to_dict(scale=False),  # the scale is the manifest's `label`
                "abstain": self.rules_.to_dict() if self.rules_ is not None else None}

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> "PostProcessor":
        """Rebuild from a manifest: the scale is its `label` (older bundles also kept a copy in `rubric.range`);
        bundles from before intervals or abstaining get neither."""
        label = manifest["label"]
        label_range = (float(label["min"]), float(label["max"]))
        interval = manifest.get("interval") or {"coverage": None, "halfwidth": float("inf")}
        rubric = Rubric.from_dict(manifest.get("rubric") or {"calibrate": False, "snap": None, "points": None,
                                                              "step": None}, label_range)
        rules = manifest.get("abstain")
        obj = cls(rubric.calibrate, rubric.snap, interval["coverage"], rules is not None,
                  (rules or {}).get("language"), rubric.rescale)
        obj.label_range_, obj.rubric_, obj.halfwidth_ = label_range, rubric, interval["halfwidth"]
        obj.rules_ = AbstainRules(**rules) if rules is not None else None
        return obj
