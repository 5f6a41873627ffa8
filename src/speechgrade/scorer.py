"""Scorer: featurizers + one tuned model per label + post-processing, with fit / score / evaluate / save / load.

It composes one-job parts: `extraction` (features, cached, once for every label), `training` (labels, groups,
augmented copies), `tuning.ModelSearch` (each label's model), `labelmodel` (a label's fitted parts),
`postprocess` (rubric, interval, abstain rules), `composite` (the `overall` score), `evaluate` (nested CV) and
`bundle` (the saved form). One label or several: the same class, the same results, the same bundle checks.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from . import columns as cols
from .columns import families
from .abstain import language_model
from .bundle import (MULTI_LABEL, Manifest, bundle_members, featurizers_from_manifest, read_manifest,  # noqa: F401
                     replacing, scorer_config, write_bundle)
from .composite import overall_figures, parse_overall
from .config import CONFIG_FIELDS, Runtime, ScorerConfig, split_settings
from .dataset import Dataset
from .errors import BundleError, ConfigError, DatasetError, SpeechgradeError
from .evaluate import Evaluation, evaluate_scorer
from .extraction import Clip, Extracted, as_dataset, make_extractor
from .features import Featurizer, as_featurizers
from .features.screen import ScreenFeaturizer
from .labelmodel import LabelModel
from .models.ensemble import check_ensemble
from .postprocess import PostProcessor
from .results import Scores, abstain_columns, row_details, row_warnings
from .rubric import label_scale
from .training import Prepared, prepare, split_screen
from .tuning import ModelSearch, regressor_names

__all__ = ["Clip", "Extracted", "LabelModel", "Prepared", "Runtime", "Scorer", "ScorerConfig", "Scores"]


def label_distribution(y: np.ndarray) -> dict[str, Any]:
    """Mean, std, range and (for a rubric of at most 20 values) the count of each value: for the model card."""
    out: dict[str, Any] = {"mean": float(np.mean(y)), "std": float(np.std(y)), "min": float(np.min(y)),
                           "max": float(np.max(y))}
    values, counts = np.unique(y, return_counts=True)
    if len(values) <= 20:
        out["counts"] = {f"{v:g}": int(c) for v, c in zip(values, counts)}
    return out


def _user_groups(predictions: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
    """Out-of-fold predictions with the user's own `group` (or none) and the fold group used (`cv_group`: the
    user's groups joined with duplicate clusters, `g0`, `g31`...)."""
    out = predictions.rename(columns={"group": "cv_group"})
    user = dataset.table["group"] if "group" in dataset.table.columns else None
    out.insert(list(out.columns).index("cv_group"), "group",
               None if user is None else out["filename"].map(user.astype(str)))
    return out


class Scorer:
    """Scores clips from audio: `Scorer(featurizers="acoustic", regressor="ridgecv").fit(dataset)` learns one model
    per label of the dataset (`load_dataset(..., label_column="grammar,fluency")`) from one extraction; `overall`
    (`"mean"` or `{"grammar": 0.4, "fluency": 0.6}`) adds a weighted composite."""

    def __init__(self, featurizers: "str | Sequence | None" = None, regressor: "str | Sequence | None" = None,
                 config: ScorerConfig | None = None, runtime: Runtime | None = None, **settings: Any):
        """`config` defines the model (`ScorerConfig`; or its fields as keywords, e.g. `trials=0`), `runtime` how
        this process computes features (`Runtime`; or `cache`, `progress`, `batch_size`, `engine`,
        `engine_options` as keywords, also accepted by `fit`, `evaluate`, `score` and `load`)."""
        model, run = split_settings(settings)
        model |= {k: v for k, v in (("featurizers", featurizers), ("regressor", regressor)) if v is not None}
        self.config = replace(config, **model) if config is not None else ScorerConfig(**model)
        self.runtime = replace(runtime, **run) if runtime is not None else Runtime(**run)

    def __getattr__(self, name: str) -> Any:
        # `scorer.trials`, `scorer.cache`...: the settings by their old attribute names
        if name in CONFIG_FIELDS:
            return getattr(self.__dict__["config"], name)
        if name in Runtime.__dataclass_fields__:
            return getattr(self.__dict__["runtime"], name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def _runtime(self, runtime: "Runtime | None", settings: dict[str, Any]) -> Runtime:
        """The runtime of one call: this scorer's, with what the call gives."""
        base = runtime or self.runtime
        return replace(base, **settings) if settings else base

    # -- parts ----------------------------------------------------------------------------------
    def model_featurizers(self) -> list[Featurizer]:
        """The fitted model's featurizers, or those configured."""
        return getattr(self, "featurizers_", None) or as_featurizers(self.config.featurizers, self.config.asr)

    def extractor(self, runtime: Runtime | None = None, fingerprints: bool = True):
        """The model's featurizers, then (when abstaining) `screen`, with the English check once fitted; without
        `fingerprints` (prediction), no duplicate fingerprints."""
        run = runtime or self.runtime
        post = self.post_ if hasattr(self, "models_") else None
        screen = [ScreenFeaturizer(language=post.language if post else None)] if self.config.abstain else []
        return make_extractor(self.model_featurizers() + screen, run.cache, run.batch_size, progress=run.progress,
                              engine=run.engine, fingerprints=fingerprints, **(run.engine_options or {}))

    def search(self, folds: int | None = None, seed: int | None = None, study_name: str | None = None) -> ModelSearch:
        """An unfitted model search with this scorer's settings."""
        c = self.config
        return ModelSearch(c.regressor, c.trials, c.timeout, folds or c.folds, c.pca, c.seed if seed is None else seed,
                           self.ensemble_method(), c.study, study_name)

    def _screen_family(self, extractor) -> str | None:
        """The column family of the `screen` measures (the extractor's last), when abstaining."""
        return extractor.prefixes()[-1] if self.config.abstain else None

    # -- learning -------------------------------------------------------------------------------
    def prepare(self, dataset: Dataset, runtime: Runtime | None = None, **settings: Any) -> Prepared:
        """Extract (or read cached) features once for every label; combine user groups with duplicate clusters."""
        c = self.config
        regressor_names(c.regressor)  # an unknown regressor is an error before, not after, extraction
        self._check_labels(dataset)
        extractor = self.extractor(self._runtime(runtime, settings), fingerprints=c.group_duplicates)
        data = prepare(dataset, extractor, self._screen_family(extractor),
                       c.group_duplicates, c.augment, c.augment_ops, c.seed)
        self.families_ = families(data.X.columns)
        check_ensemble(self.ensemble_method(), data.X.columns)  # before any tuning: fit and evaluate both start here
        return data

    def check_params(self) -> None:
        """Raise a ConfigError naming the first setting outside its range (the configuration checks itself when
        made; kept for callers of the old API)."""
        ScorerConfig(**{name: getattr(self.config, name) for name in CONFIG_FIELDS})

    def ensemble_method(self) -> str | None:
        """The ensemble in use: `auto` is `stack` with two or more feature families (once features are known)."""
        if self.config.ensemble != "auto":
            return self.config.ensemble
        fams = getattr(self, "families_", None)
        if fams is None:
            fams = families(self.columns_) if hasattr(self, "columns_") else {}
        return "stack" if len(fams) >= 2 else None

    def _check_labels(self, dataset: Dataset) -> None:
        absent = [label for label in dataset.labels if label not in dataset.table.columns]
        if absent:
            raise DatasetError(f"the dataset has no label column '{absent[0]}'")
        if self.config.overall and len(dataset.labels) < 2:
            raise ConfigError("--overall needs several labels (e.g. --label-column grammar,fluency)")
        parse_overall(self.config.overall, dataset.labels)

    def fit(self, dataset: Dataset, prepared: Prepared | None = None, evaluation: Evaluation | None = None,
            runtime: Runtime | None = None, **settings: Any) -> "Scorer":
        """For each label, on the rows that have it: tune with grouped CV, then fit the final model on all of them;
        the rubric and the conformal interval are fitted on out-of-fold predictions, the abstain rules on the
        screen measures. `evaluation` (what `evaluate` returned for this configuration) is recorded in the bundle."""
        data = prepared or self.prepare(dataset, runtime, **settings)
        self._check_labels(dataset)
        cv = {} if evaluation is None else {label: ev.summary for label, ev in evaluation.labels.items()}
        self.featurizers_ = as_featurizers(self.config.featurizers, self.config.asr)
        self.columns_ = list(data.X.columns)
        self.models_ = {label: self._fit_label(*data.for_label(dataset, label), cv.get(label))
                        for label in dataset.labels}
        self.weights_ = parse_overall(self.config.overall, dataset.labels)
        return self

    def _summary_ranges(self, X: pd.DataFrame) -> dict[str, list[float]]:
        """5th, 50th and 95th percentile over the training clips of each column shown beside a score."""
        prefixes = cols.prefixes(f.name for f in self.featurizers_)
        shown = [f"{p}.{c}" for p, f in zip(prefixes, self.featurizers_) for c in f.summary_columns()]
        return {c: [round(float(v), 4) for v in np.nanpercentile(X[c].to_numpy(np.float64), [5, 50, 95])]
                for c in shown if c in X.columns and np.isfinite(X[c].to_numpy(np.float64)).any()}

    def _fit_label(self, dataset: Dataset, data: Prepared, evaluation: dict[str, Any] | None) -> LabelModel:
        c = self.config
        X, y, groups = data.training_rows()
        scale = label_scale(c.label_range, data.y, dataset.label)  # decided once: the model and rubric clip to it
        search = self.search(study_name="speechgrade-train" if c.study else None).fit(X, y, groups, self.columns_,
                                                                                      scale)
        oof = search.out_of_fold(X, y, groups, self.columns_)[:len(data.y)]  # originals only: copies share folds
        fitted = search.best_estimator_.predict(X) if len(X) else np.zeros(0)
        if not (np.isfinite(oof).all() and np.isfinite(fitted).all()):
            raise ConfigError(f"the model for label '{dataset.label}' gives scores that are not finite numbers (labels "
                              f"{np.min(data.y):g}..{np.max(data.y):g}); nothing was saved")
        post = PostProcessor(c.calibrate, c.snap, c.coverage, c.abstain,
                             language_model(self.featurizers_), c.rescale).fit(oof, data.y, data.screen, scale)
        training = {"n": len(data.y), "augmented_copies": len(y) - len(data.y), "fingerprint": data.fingerprint(),
                    "duplicates": data.duplicates, "label_distribution": label_distribution(data.y),
                    "feature_ranges": self._summary_ranges(data.X),
                    "groups": None if data.groups is None else int(len(np.unique(data.groups)))}
        return LabelModel(dataset.label, search.best_estimator_, post, self.columns_, search.summary(), training,
                          evaluation)

    def evaluate(self, dataset: Dataset, folds: int | None = None, repeats: int = 3,
                 prepared: Prepared | None = None, progress: Callable[[str], None] | None = None,
                 runtime: Runtime | None = None, **settings: Any) -> Evaluation:
        """Each label's nested, repeated, grouped CV (tuning runs inside each outer training fold only) on the rows
        that have it; the composite against an `overall` column; how human and predicted sub-scores correlate.
        Pass the result to `fit(..., evaluation=...)` for the bundle to carry its figures."""
        data = prepared or self.prepare(dataset, runtime, **settings)
        self._check_labels(dataset)
        evs = {}
        for label in dataset.labels:
            sub, rows = data.for_label(dataset, label)
            say = (lambda m, label=label: progress(f"{label}: {m}")) if progress and len(dataset.labels) > 1 \
                else progress
            evs[label] = evaluate_scorer(self, rows, label, folds or self.config.folds, repeats, say)
            evs[label].predictions = _user_groups(evs[label].predictions, dataset)
        result = Evaluation(evs)
        if len(evs) > 1:
            oof = pd.DataFrame({lb: ev.predictions.groupby("filename")["model"].mean() for lb, ev in evs.items()})
            human = dataset.table.loc[data.names, dataset.labels]
            result.human_corr, result.predicted_corr = human.corr(), oof.corr()
            result.missing = {label: int(human[label].isna().sum()) for label in dataset.labels}
            weights = parse_overall(self.config.overall, dataset.labels)
            result.overall = overall_figures(evs, weights, dataset) if weights else None
        return result

    def get_config(self) -> dict[str, Any]:
        """The model's configuration, JSON-able (`ScorerConfig.to_dict`); `Scorer(**config)` rebuilds it."""
        return self.config.to_dict()

    # the fitted parts of the first (with one label, the only) label, by their own names
    labels_ = property(lambda self: list(self.models_), doc="The labels this scorer was fitted on.")
    label_ = property(lambda self: next(iter(self.models_)), doc="The first (or only) label.")
    first_ = property(lambda self: next(iter(self.models_.values())), doc="The first label's LabelModel.")
    model_ = property(lambda self: self.first_.model, doc="The first label's fitted model.")
    post_ = property(lambda self: self.first_.post, doc="The first label's PostProcessor.")
    tuning_ = property(lambda self: self.first_.tuning, doc="The first label's tuning summary.")
    training_ = property(lambda self: self.first_.training, doc="What the first label's model was trained on.")
    evaluation_ = property(lambda self: self.first_.evaluation, doc="The first label's CV summary, if evaluated.")
    label_range_ = property(lambda self: self.post_.label_range_, doc="(min, max) of the training labels.")
    rubric_ = property(lambda self: self.post_.rubric_, doc="The fitted Rubric.")
    abstain_ = property(lambda self: self.post_.rules_, doc="The fitted AbstainRules (None when not abstaining).")

    # -- scoring --------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise BundleError("this Scorer is not fitted: call fit() or Scorer.load()")

    def score(self, data: "Dataset | Sequence[str | os.PathLike] | Sequence[Clip]", intervals: bool = True,
              explain: bool = False, details: bool = False, on_stage: Callable[[str], None] | None = None,
              runtime: Runtime | None = None, **settings: Any) -> Scores:
        """Score files, a dataset or decoded clips: the one path every front end uses. With `details`, each
        row also gets its summary features and, when the model transcribes, its transcript and timed words.
        `on_stage` hears the stages as they start: "decoding", "transcribing", "measuring", "scoring"."""
        ex = self.extract(data, on_stage, runtime, **settings)
        if on_stage is not None:
            on_stage("scoring")
        return self.score_extracted(ex, intervals, explain, details)

    def extract(self, data, on_stage: Callable[[str], None] | None = None, runtime: Runtime | None = None,
                **settings: Any) -> Extracted:
        """The features of files, a dataset or decoded clips, as `score_extracted` takes them."""
        self._check_fitted()
        dataset, clips = as_dataset(data)
        extractor = self.extractor(self._runtime(runtime, settings), fingerprints=False)  # duplicates: training only
        X, report = extractor.run(list(clips.values()) if clips else dataset, on_stage)
        X, screen = split_screen(X, self._screen_family(extractor))
        return Extracted(dataset, extractor, X, screen, report)

    def score_extracted(self, ex: Extracted, intervals: bool = True, explain: bool = False,
                        details: bool = False) -> Scores:
        """Every label's scores (and the composite) from one extraction."""
        dataset, extractor, X, screen, report = ex.dataset, ex.extractor, ex.X, ex.screen, ex.report
        problems = {p.filename: p.reason for p in [*dataset.problems, *report.failed, *report.skipped]}
        order = dataset.input_order
        frame = pd.concat([m.frame(order, X, intervals, explain) for m in self.models_.values()], axis=1)
        weights = getattr(self, "weights_", None)
        if weights:
            frame["overall"] = sum(frame[label] * w for label, w in weights.items())
        n = len(self.model_featurizers())
        warned = row_warnings(extractor.featurizers[:n], X, report) if screen is not None else {}
        frame = abstain_columns(frame, X.index, self.post_, screen, problems, warned)
        extra = row_details(extractor.featurizers[:n], extractor.prefixes()[:n], X, report) if details else {}
        ranges = {label: m.post.label_range_ for label, m in self.models_.items()}
        return Scores(self.labels_, frame, problems, report, self.post_.coverage, extra, weights, ranges,
                      getattr(dataset, "rows", None))

    def predict_frame(self, data, intervals: bool = False, explain: bool = False) -> pd.DataFrame:
        """`score(...).frame`: one row per input in input order (NaN where a file failed)."""
        return self.score(data, intervals, explain).frame

    def predict(self, data) -> "pd.Series | pd.DataFrame":
        """Scores in input order (NaN for files that failed): a Series with one label, a DataFrame (one column
        per label, and `overall` with weights) with several."""
        table = self.score(data, intervals=False).table(explain=False)
        return table[self.label_] if len(self.models_) == 1 else table

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
    def _featurizer_identities(self) -> list[dict[str, Any]]:
        prefixes = cols.prefixes(f.name for f in self.featurizers_)
        return [{**f.identity, "spec": f.spec, "prefix": p} for f, p in zip(self.featurizers_, prefixes)]

    def manifest(self, label: str | None = None) -> Manifest:
        """The manifest of one label's model (default the first): what `save` writes besides the model files."""
        self._check_fitted()
        return self.models_[label or self.label_].manifest(self._featurizer_identities(), self.get_config())

    def save(self, directory: str | os.PathLike) -> Path:
        """Write a bundle (see `bundle.write_bundle`: one label's manifest at the root, or one `multi-label`
        manifest over `label-<i>/` folders). The folder is replaced whole and at once (an old bundle there stays
        until the new one is complete); a folder that holds anything but a model is refused."""
        self._check_fitted()
        directory = Path(directory)
        members = {label: (self.manifest(label), model.save_files, model.libraries())
                   for label, model in self.models_.items()}
        with replacing(directory) as tmp:
            self.manifest_ = write_bundle(tmp, members, [lib for f in self.featurizers_ for lib in f.libraries],
                                          self.weights_)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike, cache: Any = None, progress: bool = False,
             runtime: Runtime | None = None, **settings: Any) -> "Scorer":
        """Read a bundle written by `save` (one label or several; older bundles too); refuses tampered,
        unknown-version or unloadable bundles. The runtime: `runtime`, or cache, progress, batch_size, engine,
        engine_options."""
        body = read_manifest(directory)
        members = bundle_members(body, directory)
        models = {label: LabelModel.from_manifest(manifest, folder) for label, (manifest, folder) in members.items()}
        first, _ = next(iter(members.values()))
        multi = body.get("kind") == MULTI_LABEL
        run = replace(runtime or Runtime(), cache=cache, progress=progress, **settings)
        obj = cls.from_manifest(first, directory, models=models, overall=body.get("overall") if multi else None,
                                runtime=run)
        obj.manifest_ = body if multi else first
        return obj

    @classmethod
    def from_manifest(cls, manifest: Manifest, directory: str | os.PathLike, cache: Any = None,
                      progress: bool = False, models: dict[str, LabelModel] | None = None,
                      overall: dict[str, float] | None = None, runtime: Runtime | None = None,
                      **settings: Any) -> "Scorer":
        """A fitted Scorer from a verified manifest (of the first label when `models` holds several) and the folder
        that holds its model files."""
        if models is None:
            model = LabelModel.from_manifest(manifest, directory)
            models = {model.label: model}
        post = next(iter(models.values())).post
        try:
            saved = scorer_config(manifest, post.rubric_.to_dict(), post.coverage, post.abstain)
            config = ScorerConfig(**{k: v for k, v in saved.items() if k in CONFIG_FIELDS} | {"overall": overall})
            run = runtime if runtime is not None else Runtime(cache=cache, progress=progress, **settings)
            obj = cls(config=config, runtime=run)
            obj.featurizers_, obj.columns_ = featurizers_from_manifest(manifest), list(manifest.feature_columns)
        except ConfigError as exc:  # a setting out of range: the bundle was edited
            raise BundleError(f"{directory}: manifest config: {exc}") from None
        except SpeechgradeError:
            raise
        except Exception as exc:  # a manifest of the wrong shape: refused with a reason, never a crash
            raise BundleError(f"{directory}: malformed manifest ({type(exc).__name__}: {exc})") from None
        obj.models_, obj.weights_ = models, overall
        obj.manifest_ = manifest
        return obj
