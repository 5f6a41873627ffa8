"""Scorer: featurizers + a tuned model + post-processing, with fit / score / evaluate / save / load.

It composes one-job parts: `extraction` (features, cached), `training` (labels, groups, augmented copies),
`tuning.ModelSearch` (the model), `postprocess` (rubric, interval, abstain rules), `explain`, `evaluate`
(nested CV) and `bundle` (the saved form).
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from . import columns as cols
from .abstain import language_model
from .augment import OPS as AUGMENT_OPS
from .bundle import Manifest, featurizers_from_manifest, load_model, scorer_config
from .dataset import Dataset
from .errors import BundleError, SpeechgradeError
from .evaluate import Evaluation, evaluate_scorer
from .explain import family_contributions
from .extraction import Clip, Extracted, as_dataset, make_extractor
from .features import Featurizer, as_featurizers
from .features.screen import ScreenFeaturizer
from .models import get_regressor_class
from .models.ensemble import check_ensemble
from .postprocess import PostProcessor
from .results import Scores, row_details, score_frame
from .training import Prepared, prepare, split_screen
from .tuning import ModelSearch, regressor_names

__all__ = ["Clip", "Extracted", "Prepared", "Scorer", "Scores"]


class Scorer:
    """Scores clips from audio: `Scorer(featurizers="acoustic", regressor="ridgecv").fit(dataset)`."""

    def __init__(self, featurizers: "str | Sequence" = "acoustic", regressor: str = "ridgecv", trials: int = 10,
                 timeout: float | None = None, folds: int = 5, pca: int | None = None, seed: int = 0,
                 cache: Any = None, group_duplicates: bool = True, study: str | None = None,
                 progress: bool = False, batch_size: int = 8, inner_folds: int = 3, engine: str = "local",
                 engine_options: dict[str, Any] | None = None, coverage: float = 0.8, ensemble: str | None = None,
                 calibrate: bool = False, snap: "float | str | None" = None, abstain: bool = True,
                 augment: int = 0, augment_ops: Sequence[str] = AUGMENT_OPS):
        self.featurizers = featurizers
        self.regressor = regressor
        self.trials = trials
        self.timeout = timeout
        self.folds = folds
        self.pca = pca
        self.seed = seed
        self.cache = cache
        self.group_duplicates = group_duplicates
        self.study = study
        self.progress = progress
        self.batch_size = batch_size
        self.inner_folds = inner_folds
        self.engine = engine
        self.engine_options = engine_options
        self.coverage = coverage
        self.ensemble = ensemble
        self.calibrate = calibrate
        self.snap = snap
        self.abstain = abstain
        self.augment = augment
        self.augment_ops = augment_ops

    # -- parts ----------------------------------------------------------------------------------
    def model_featurizers(self) -> list[Featurizer]:
        """The fitted model's featurizers, or those configured."""
        return getattr(self, "featurizers_", None) or as_featurizers(self.featurizers)

    def extractor(self):
        """The model's featurizers, then (when abstaining) `screen`, with the English check once fitted."""
        post = getattr(self, "post_", None)
        screen = [ScreenFeaturizer(post.language if post else None)] if self.abstain else []
        return make_extractor(self.model_featurizers() + screen, self.cache, self.batch_size, progress=self.progress,
                              engine=self.engine, **(self.engine_options or {}))

    def search(self, folds: int | None = None, seed: int | None = None, study_name: str | None = None) -> ModelSearch:
        """An unfitted model search with this scorer's settings."""
        return ModelSearch(self.regressor, self.trials, self.timeout, folds or self.folds, self.pca,
                           self.seed if seed is None else seed, self.ensemble, self.study, study_name)

    def _screen_family(self, extractor) -> str | None:
        """The column family of the `screen` measures (the extractor's last), when abstaining."""
        return extractor.prefixes()[-1] if self.abstain else None

    # -- learning -------------------------------------------------------------------------------
    def prepare(self, dataset: Dataset) -> Prepared:
        """Extract (or read cached) features; combine user groups with duplicate clusters."""
        regressor_names(self.regressor)  # an unknown regressor is an error before, not after, extraction
        extractor = self.extractor()
        data = prepare(dataset, extractor, self._screen_family(extractor),
                       self.group_duplicates, self.augment, self.augment_ops, self.seed)
        check_ensemble(self.ensemble, data.X.columns)  # before any tuning: fit and evaluate both start here
        return data

    def fit(self, dataset: Dataset, prepared: Prepared | None = None) -> "Scorer":
        """Tune on all rows with grouped CV, then fit the final model on all of them; the rubric and the
        conformal interval are fitted on out-of-fold predictions, the abstain rules on the screen measures."""
        data = prepared or self.prepare(dataset)
        self.featurizers_ = as_featurizers(self.featurizers)
        self.columns_ = list(data.X.columns)
        X, y, groups = data.training_rows()
        search = self.search(study_name="speechgrade-train" if self.study else None).fit(X, y, groups, self.columns_)
        self.model_, self.tuning_ = search.best_estimator_, search.summary()
        self.label_ = dataset.label
        oof = search.out_of_fold(X, y, groups, self.columns_)[:len(data.y)]  # originals only: copies share folds
        self.post_ = PostProcessor(self.calibrate, self.snap, self.coverage, self.abstain,
                                   language_model(self.featurizers_)).fit(oof, data.y, data.screen)
        self.training_ = {"n": len(data.y), "augmented_copies": len(y) - len(data.y),
                          "fingerprint": data.fingerprint(), "duplicates": data.duplicates,
                          "groups": None if data.groups is None else int(len(np.unique(data.groups)))}
        self.evaluation_ = getattr(self, "evaluation_", None)
        return self

    def evaluate(self, dataset: Dataset, folds: int | None = None, repeats: int = 3,
                 prepared: Prepared | None = None, progress: Callable[[str], None] | None = None) -> Evaluation:
        """Nested, repeated, grouped CV: tuning runs inside each outer training fold only."""
        ev = evaluate_scorer(self, prepared or self.prepare(dataset), dataset.label, folds or self.folds, repeats,
                             progress)
        self.evaluation_ = ev.summary
        return ev

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments that define the model (JSON-able); `Scorer(**config)` rebuilds it."""
        feats = self.featurizers if isinstance(self.featurizers, str) else \
            [f if isinstance(f, str) else f.spec for f in self.featurizers]
        return {"featurizers": feats, "regressor": self.regressor, "ensemble": self.ensemble,
                "calibrate": self.calibrate, "snap": self.snap, "abstain": self.abstain, "coverage": self.coverage,
                "augment": self.augment, "augment_ops": list(self.augment_ops), "trials": self.trials,
                "timeout": self.timeout, "folds": self.folds, "inner_folds": self.inner_folds,
                "pca": self.pca, "seed": self.seed, "group_duplicates": self.group_duplicates}

    # fitted parts of the post-processing, by their own names
    label_range_ = property(lambda self: self.post_.label_range_, doc="(min, max) of the training labels.")
    rubric_ = property(lambda self: self.post_.rubric_, doc="The fitted Rubric.")
    abstain_ = property(lambda self: self.post_.rules_, doc="The fitted AbstainRules (None when not abstaining).")

    # -- scoring --------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise BundleError("this Scorer is not fitted: call fit() or Scorer.load()")

    def score(self, data: "Dataset | Sequence[str | os.PathLike] | Sequence[Clip]", intervals: bool = True,
              explain: bool = False, details: bool = False) -> Scores:
        """Score files, a dataset or decoded clips: the one path every front end uses. With `details`, each
        row also gets its summary features and, when the model transcribes, its transcript and timed words."""
        return self.score_extracted(self.extract(data), intervals, explain, details)

    def extract(self, data) -> Extracted:
        """The features of files, a dataset or decoded clips, as `score_extracted` takes them."""
        self._check_fitted()
        dataset, clips = as_dataset(data)
        extractor = self.extractor()
        X, report = extractor.run(list(clips.values()) if clips else dataset)
        X, screen = split_screen(X, self._screen_family(extractor))
        return Extracted(dataset, extractor, X, screen, report)

    def score_extracted(self, ex: Extracted, intervals: bool = True, explain: bool = False,
                        details: bool = False) -> Scores:
        """Scores of extracted features (several models with the same featurizers share one extraction)."""
        dataset, extractor, X, screen, report = ex.dataset, ex.extractor, ex.X, ex.screen, ex.report
        missing = [c for c in self.columns_ if c not in X.columns]
        if len(X) and missing:
            raise BundleError(f"the featurizers produce different columns than the model expects "
                              f"({len(missing)} missing, e.g. {missing[0]})")
        problems = {p.filename: p.reason for p in [*dataset.problems, *report.failed, *report.skipped]}
        raw = self.model_.predict(X[self.columns_].to_numpy(np.float64)) if len(X) else np.zeros(0)
        frame = score_frame(self.label_, dataset.input_order, X.index, raw, self.post_, screen, problems, intervals)
        explained = family_contributions(self.model_, X, self.columns_) if explain and len(X) else None
        if explained is not None:
            frame = frame.join(explained.add_prefix("explain."))
        n = len(self.model_featurizers())
        extra = row_details(extractor.featurizers[:n], extractor.prefixes()[:n], X, report) if details else {}
        return Scores(self.label_, frame, problems, report, self.post_.coverage, extra)

    def predict_frame(self, data, intervals: bool = False, explain: bool = False) -> pd.DataFrame:
        """`score(...).frame`: one row per input in input order (NaN where a file failed)."""
        return self.score(data, intervals, explain).frame

    def predict(self, data) -> pd.Series:
        """Scores in input order (NaN for files that failed)."""
        return self.score(data, intervals=False).frame[self.label_]

    def explain(self, data) -> pd.DataFrame | None:
        """Per-prediction attributions grouped by feature family (None for models without them, e.g. svr)."""
        return self.score(data, intervals=False, explain=True).explanations()

    def predict_interval(self, data) -> pd.DataFrame:
        """Scores with their conformal prediction interval (columns score, lo, hi; coverage in attrs)."""
        return self.score(data).intervals()

    def score_audio(self, audio: np.ndarray, name: str = "clip") -> dict[str, Any]:
        """Score one decoded clip (16 kHz mono) with its details: `score(...).record(name)`."""
        return self.score([Clip(name, audio)], explain=True, details=True).record(name)

    # -- persistence ----------------------------------------------------------------------------
    def manifest(self) -> Manifest:
        """The fitted scorer's manifest (what `save` writes besides the model files)."""
        self._check_fitted()
        prefixes = cols.prefixes(f.name for f in self.featurizers_)
        featurizers = [{**f.identity, "spec": f.spec, "prefix": p} for f, p in zip(self.featurizers_, prefixes)]
        model = {"regressor": self.model_.regressor, "params": self.model_.params, "pca": self.pca,
                 "seed": self.seed, "ensemble": self.ensemble}
        label = {"name": self.label_, "min": self.post_.label_range_[0], "max": self.post_.label_range_[1]}
        return Manifest(label, featurizers, self.columns_, model, self.get_config(), self.tuning_,
                        cv_metrics=self.evaluation_, training_data=self.training_, **self.post_.to_manifest())

    def save_files(self, directory: str | os.PathLike) -> tuple[Manifest, list[str], list[str]]:
        """Write the model files into `directory`: (manifest, file names, libraries), for a bundle to list."""
        directory = Path(directory)
        manifest = self.manifest()
        directory.mkdir(parents=True, exist_ok=True)
        chosen = self.model_.regressor.values() if isinstance(self.model_.regressor, dict) else [self.model_.regressor]
        libraries = [lib for f in self.featurizers_ for lib in f.libraries] + \
            [lib for r in dict.fromkeys(chosen) for lib in get_regressor_class(r).libraries]
        return manifest, self.model_.save(directory), libraries

    def save(self, directory: str | os.PathLike) -> Path:
        """Write a bundle: manifest.json + preprocess.npz + the regressor's native files."""
        manifest, files, libraries = self.save_files(directory)
        self.manifest_ = manifest.save(directory, files, libraries)
        return Path(directory)

    @classmethod
    def load(cls, directory: str | os.PathLike, cache: Any = None, progress: bool = False, **runtime) -> "Scorer":
        """Read a bundle written by `save`; refuses tampered, unknown-version or unloadable bundles. `runtime`:
        batch_size, engine, engine_options."""
        return cls.from_manifest(Manifest.load(directory), directory, cache, progress, **runtime)

    @classmethod
    def from_manifest(cls, manifest: Manifest, directory: str | os.PathLike, cache: Any = None,
                      progress: bool = False, **runtime) -> "Scorer":
        """A fitted Scorer from a verified manifest and the folder that holds its model files."""
        try:
            post = PostProcessor.from_manifest(manifest.to_dict())
            config = scorer_config(manifest, post.rubric_.to_dict(), post.coverage, post.abstain)
            known = set(inspect.signature(cls).parameters)
            obj = cls(**{k: v for k, v in config.items() if k in known}, cache=cache, progress=progress, **runtime)
            obj.featurizers_, obj.columns_ = featurizers_from_manifest(manifest), list(manifest.feature_columns)
            obj.model_, obj.label_, obj.post_ = load_model(directory, manifest), str(manifest.label["name"]), post
        except SpeechgradeError:
            raise
        except Exception as exc:  # a manifest of the wrong shape: refused with a reason, never a crash
            raise BundleError(f"{directory}: malformed manifest ({type(exc).__name__}: {exc})") from None
        obj.tuning_, obj.training_, obj.evaluation_ = manifest.tuning, manifest.training_data, manifest.cv_metrics
        obj.manifest_ = manifest
        return obj
