"""One label's fitted model: the tuned regressor, its post-processing, and what tuning, training and CV measured.

A Scorer holds one LabelModel per label; they share the featurizers and one extraction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .bundle import Manifest, load_model
from .errors import BundleError, SpeechgradeError
from .explain import family_contributions
from .models import get_regressor_class
from .postprocess import PostProcessor
from .results import EXPLAIN


@dataclass
class LabelModel:
    """The fitted parts of one label: `model` (ScoringModel or EnsembleModel) and `post` (rubric, interval,
    abstain rules); `tuning`, `training` and `evaluation` are the figures the bundle records."""

    label: str
    model: Any
    post: PostProcessor
    columns: list[str]
    tuning: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    evaluation: dict[str, Any] | None = None

    def raw(self, X: pd.DataFrame) -> np.ndarray:
        """Raw model outputs for the rows of X."""
        missing = [c for c in self.columns if c not in X.columns]
        if len(X) and missing:
            raise BundleError(f"the featurizers produce different columns than the {self.label} model expects "
                              f"({len(missing)} missing, e.g. {missing[0]})")
        return self.model.predict(X[self.columns].to_numpy(np.float64)) if len(X) else np.zeros(0)

    def frame(self, order: list[str], X: pd.DataFrame, intervals: bool, explain: bool) -> pd.DataFrame:
        """This label's columns for every input in `order` (NaN where not scored): `<label>`, `<label>_raw` with a
        rubric, `<label>_lo`/`_hi` with intervals, `<label>.explain.<family>` with explanations."""
        label, post = self.label, self.post
        raw = self.raw(X)
        frame = pd.DataFrame({label: np.nan}, index=pd.Index(order, name="filename"), dtype=np.float64)
        frame.loc[X.index, label] = post.scores(raw)
        if post.rubric_.active:
            frame[f"{label}_raw"] = np.nan
            frame.loc[X.index, f"{label}_raw"] = raw
        if intervals:
            frame[f"{label}_lo"], frame[f"{label}_hi"] = post.interval(frame[label].to_numpy())
        explained = family_contributions(self.model, X, self.columns) if explain and len(X) else None
        if explained is not None:
            frame = frame.join(explained.add_prefix(f"{label}.{EXPLAIN}"))
        return frame

    # -- persistence ----------------------------------------------------------------------------
    def manifest(self, featurizers: list[dict[str, Any]], config: dict[str, Any]) -> Manifest:
        """This label's manifest, given the featurizer identities and the scorer's config."""
        m = self.model
        from .models.ensemble import EnsembleModel

        # the ensemble the model is (config may say `auto`, resolved by the feature families)
        model = {"regressor": m.regressor, "params": m.params, "pca": config.get("pca"), "seed": config.get("seed"),
                 "ensemble": m.method if isinstance(m, EnsembleModel) else None}
        label = {"name": self.label, "min": self.post.label_range_[0], "max": self.post.label_range_[1]}
        return Manifest(label, featurizers, self.columns, model, config, self.tuning, cv_metrics=self.evaluation,
                        training_data=self.training, **self.post.to_manifest())

    def libraries(self) -> list[str]:
        """Distributions whose versions the bundle records for this model."""
        chosen = self.model.regressor.values() if isinstance(self.model.regressor, dict) else [self.model.regressor]
        return [lib for r in dict.fromkeys(chosen) for lib in get_regressor_class(r).libraries]

    def save_files(self, directory: str | os.PathLike) -> list[str]:
        """Write the model files into `directory`; returns their names."""
        Path(directory).mkdir(parents=True, exist_ok=True)
        return self.model.save(Path(directory))

    @classmethod
    def from_manifest(cls, manifest: Manifest, directory: str | os.PathLike) -> "LabelModel":
        """A fitted LabelModel from a verified manifest and the folder that holds its model files."""
        try:
            post = PostProcessor.from_manifest(manifest.to_dict())
            return cls(str(manifest.label["name"]), load_model(directory, manifest), post,
                       list(manifest.feature_columns), manifest.tuning, manifest.training_data, manifest.cv_metrics)
        except SpeechgradeError:
            raise
        except Exception as exc:  # a manifest of the wrong shape: refused with a reason, never a crash
            raise BundleError(f"{directory}: malformed manifest ({type(exc).__name__}: {exc})") from None
