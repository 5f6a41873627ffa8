"""Scorer: featurizers + one tuned model per label + post-processing, with fit / score / evaluate / save / load.

It composes one-job parts: `extraction` (features, cached, once for every label), `training` (labels, groups,
augmented copies), `tuning.ModelSearch` (each label's model), `labelmodel` (a label's fitted parts),
`postprocess` (rubric, interval, abstain rules), `composite` (the `overall` score), `evaluate` (nested CV) and
`bundle` (the saved form). One label or several: the same class, the same results, the same bundle checks.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from . import columns as cols
from .columns import families
from .abstain import language_model
from .augment import OPS as AUGMENT_OPS
from .bundle import Manifest, featurizers_from_manifest, manifest_problem, read_manifest, replacing, scorer_config, write_manifest
from .composite import overall_figures, parse_overall
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
from .rubric import check_label_range, label_scale
from .training import Prepared, prepare, split_screen
from .tuning import ModelSearch, regressor_names

__all__ = ["Clip", "Extracted", "LabelModel", "Prepared", "Scorer", "Scores"]

MULTI_LABEL = "multi-label"  # the manifest `kind` of a bundle with several labels


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


def _write_card(directory: Path, body: dict[str, Any], libraries: list[str]) -> str:
    """Write the model card beside the model files; its name (a file the manifest lists and hashes)."""
    from .bundle import library_versions
    from .card import CARD, model_card

    (directory / CARD).write_text(model_card(body, library_versions(libraries)), encoding="utf-8")
    return CARD


class Scorer:
    """Scores clips from audio: `Scorer(featurizers="acoustic", regressor="ridgecv").fit(dataset)` learns one model
    per label of the dataset (`load_dataset(..., label_column="grammar,fluency")`) from one extraction; `overall`
    (`"mean"` or `{"grammar": 0.4, "fluency": 0.6}`) adds a weighted composite."""

    def __init__(self, featurizers: "str | Sequence" = "acoustic", regressor: str = "ridgecv", trials: int = 10,
                 timeout: float | None = None, folds: int = 5, pca: int | None = None, seed: int = 0,
                 cache: Any = None, group_duplicates: bool = True, study: str | None = None,
                 progress: bool = False, batch_size: int = 8, inner_folds: int = 3, engine: str = "local",
                 engine_options: dict[str, Any] | None = None, coverage: float = 0.8, ensemble: str | None = None,
                 calibrate: bool = False, snap: "float | str | None" = None, abstain: bool = True,
                 augment: int = 0, augment_ops: Sequence[str] = AUGMENT_OPS,
                 overall: "str | dict[str, float] | None" = None,
                 label_range: "tuple[float, float] | None" = None, asr: str | None = None):
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
        self.overall = overall
        self.label_range = label_range
        self.asr = asr

    # -- parts ----------------------------------------------------------------------------------
    def model_featurizers(self) -> list[Featurizer]:
        """The fitted model's featurizers, or those configured."""
        return getattr(self, "featurizers_", None) or as_featurizers(self.featurizers, self.asr)

    def extractor(self):
        """The model's featurizers, then (when abstaining) `screen`, with the English check once fitted."""
        post = self.post_ if hasattr(self, "models_") else None
        screen = [ScreenFeaturizer(language=post.language if post else None)] if self.abstain else []
        return make_extractor(self.model_featurizers() + screen, self.cache, self.batch_size, progress=self.progress,
                              engine=self.engine, **(self.engine_options or {}))

    def search(self, folds: int | None = None, seed: int | None = None, study_name: str | None = None) -> ModelSearch:
        """An unfitted model search with this scorer's settings."""
        return ModelSearch(self.regressor, self.trials, self.timeout, folds or self.folds, self.pca,
                           self.seed if seed is None else seed, self.ensemble_method(), self.study, study_name)

    def _screen_family(self, extractor) -> str | None:
        """The column family of the `screen` measures (the extractor's last), when abstaining."""
        return extractor.prefixes()[-1] if self.abstain else None

    # -- learning -------------------------------------------------------------------------------
    def prepare(self, dataset: Dataset) -> Prepared:
        """Extract (or read cached) features once for every label; combine user groups with duplicate clusters."""
        regressor_names(self.regressor)  # an unknown regressor is an error before, not after, extraction
        self._check_labels(dataset)
        extractor = self.extractor()
        data = prepare(dataset, extractor, self._screen_family(extractor),
                       self.group_duplicates, self.augment, self.augment_ops, self.seed)
        self.families_ = families(data.X.columns)
        check_ensemble(self.ensemble_method(), data.X.columns)  # before any tuning: fit and evaluate both start here
        return data

    def check_params(self) -> None:
        """Raise a ConfigError naming the first constructor argument outside its range (fit and evaluate start
        here, so the Python API refuses what the CLI refuses)."""
        snap = self.snap
        if snap is not None and snap != "auto":
            if isinstance(snap, bool) or not isinstance(snap, (int, float)) or not np.isfinite(snap) or snap <= 0:
                raise ConfigError(f"snap must be a positive step such as 0.5, or 'auto' (got {snap!r})")
        checks = [("coverage", self.coverage, 0.0, 1.0, False), ("folds", self.folds, 2, 1000, True),
                  ("inner_folds", self.inner_folds, 2, 1000, True), ("trials", self.trials, 0, 100000, True),
                  ("augment", self.augment, 0, 20, True), ("batch_size", self.batch_size, 1, 100000, True)]
        for name, value, lo, hi, whole in checks:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
            ok = ok and (lo <= value <= hi if whole else lo < value < hi) and (not whole or float(value).is_integer())
            if not ok:
                kind = f"a whole number from {lo} to {hi}" if whole else f"a number strictly between {lo:g} and {hi:g}"
                raise ConfigError(f"{name} must be {kind} (got {value!r})")
        if self.pca is not None and not (isinstance(self.pca, int) and self.pca >= 1):
            raise ConfigError(f"pca must be a positive whole number of components (got {self.pca!r})")
        if self.timeout is not None and not (isinstance(self.timeout, (int, float)) and self.timeout > 0):
            raise ConfigError(f"timeout must be a positive number of seconds (got {self.timeout!r})")
        check_label_range(self.label_range)

    def ensemble_method(self) -> str | None:
        """The ensemble in use: `auto` is `stack` with two or more feature families (once features are known)."""
        if self.ensemble != "auto":
            return self.ensemble
        fams = getattr(self, "families_", None)
        if fams is None:
            fams = families(self.columns_) if hasattr(self, "columns_") else {}
        return "stack" if len(fams) >= 2 else None

    def _check_labels(self, dataset: Dataset) -> None:
        self.check_params()
        absent = [label for label in dataset.labels if label not in dataset.table.columns]
        if absent:
            raise DatasetError(f"the dataset has no label column '{absent[0]}'")
        if self.overall and len(dataset.labels) < 2:
            raise ConfigError("--overall needs several labels (e.g. --label-column grammar,fluency)")
        parse_overall(self.overall, dataset.labels)

    def fit(self, dataset: Dataset, prepared: Prepared | None = None) -> "Scorer":
        """For each label, on the rows that have it: tune with grouped CV, then fit the final model on all of them;
        the rubric and the conformal interval are fitted on out-of-fold predictions, the abstain rules on the
        screen measures."""
        data = prepared or self.prepare(dataset)
        self._check_labels(dataset)
        self.featurizers_ = as_featurizers(self.featurizers, self.asr)
        self.columns_ = list(data.X.columns)
        self.models_ = {label: self._fit_label(*data.for_label(dataset, label)) for label in dataset.labels}
        self.weights_ = parse_overall(self.overall, dataset.labels)
        return self

    def _summary_ranges(self, X: pd.DataFrame) -> dict[str, list[float]]:
        """5th, 50th and 95th percentile over the training clips of each column shown beside a score."""
        prefixes = cols.prefixes(f.name for f in self.featurizers_)
        shown = [f"{p}.{c}" for p, f in zip(prefixes, self.featurizers_) for c in f.summary_columns()]
        return {c: [round(float(v), 4) for v in np.nanpercentile(X[c].to_numpy(np.float64), [5, 50, 95])]
                for c in shown if c in X.columns and np.isfinite(X[c].to_numpy(np.float64)).any()}

    def _fit_label(self, dataset: Dataset, data: Prepared) -> LabelModel:
        X, y, groups = data.training_rows()
        scale = label_scale(self.label_range, data.y, dataset.label)  # decided once: the model and rubric clip to it
        search = self.search(study_name="speechgrade-train" if self.study else None).fit(X, y, groups, self.columns_,
                                                                                         scale)
        oof = search.out_of_fold(X, y, groups, self.columns_)[:len(data.y)]  # originals only: copies share folds
        fitted = search.best_estimator_.predict(X) if len(X) else np.zeros(0)
        if not (np.isfinite(oof).all() and np.isfinite(fitted).all()):
            raise ConfigError(f"the model for label '{dataset.label}' gives scores that are not finite numbers (labels "
                              f"{np.min(data.y):g}..{np.max(data.y):g}); nothing was saved")
        post = PostProcessor(self.calibrate, self.snap, self.coverage, self.abstain,
                             language_model(self.featurizers_)).fit(oof, data.y, data.screen, scale)
        training = {"n": len(data.y), "augmented_copies": len(y) - len(data.y), "fingerprint": data.fingerprint(),
                    "duplicates": data.duplicates, "label_distribution": label_distribution(data.y),
                    "feature_ranges": self._summary_ranges(data.X),
                    "groups": None if data.groups is None else int(len(np.unique(data.groups)))}
        return LabelModel(dataset.label, search.best_estimator_, post, self.columns_, search.summary(), training,
                          getattr(self, "cv_metrics_", {}).get(dataset.label))

    def evaluate(self, dataset: Dataset, folds: int | None = None, repeats: int = 3,
                 prepared: Prepared | None = None, progress: Callable[[str], None] | None = None) -> Evaluation:
        """Each label's nested, repeated, grouped CV (tuning runs inside each outer training fold only) on the rows
        that have it; the composite against an `overall` column; how human and predicted sub-scores correlate."""
        data = prepared or self.prepare(dataset)
        self._check_labels(dataset)
        evs = {}
        for label in dataset.labels:
            sub, rows = data.for_label(dataset, label)
            say = (lambda m, label=label: progress(f"{label}: {m}")) if progress and len(dataset.labels) > 1 \
                else progress
            evs[label] = evaluate_scorer(self, rows, label, folds or self.folds, repeats, say)
            evs[label].predictions = _user_groups(evs[label].predictions, dataset)
        self.cv_metrics_ = {label: ev.summary for label, ev in evs.items()}  # the bundle records them
        for label, model in getattr(self, "models_", {}).items():
            model.evaluation = self.cv_metrics_.get(label, model.evaluation)
        result = Evaluation(evs)
        if len(evs) > 1:
            oof = pd.DataFrame({lb: ev.predictions.groupby("filename")["model"].mean() for lb, ev in evs.items()})
            human = dataset.table.loc[data.names, dataset.labels]
            result.human_corr, result.predicted_corr = human.corr(), oof.corr()
            result.missing = {label: int(human[label].isna().sum()) for label in dataset.labels}
            weights = parse_overall(self.overall, dataset.labels)
            result.overall = overall_figures(evs, weights, dataset) if weights else None
        return result

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments that define the model (JSON-able); `Scorer(**config)` rebuilds it."""
        feats = self.featurizers if isinstance(self.featurizers, str) else \
            [f if isinstance(f, str) else f.spec for f in self.featurizers]
        return {"featurizers": feats, "regressor": self.regressor, "ensemble": self.ensemble,
                "calibrate": self.calibrate, "snap": self.snap, "abstain": self.abstain, "coverage": self.coverage,
                "augment": self.augment, "augment_ops": list(self.augment_ops), "trials": self.trials,
                "timeout": self.timeout, "folds": self.folds, "inner_folds": self.inner_folds,
                "pca": self.pca, "seed": self.seed, "group_duplicates": self.group_duplicates,
                "label_range": None if self.label_range is None else list(self.label_range), "asr": self.asr}

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
              explain: bool = False, details: bool = False, on_stage: Callable[[str], None] | None = None) -> Scores:
        """Score files, a dataset or decoded clips: the one path every front end uses. With `details`, each
        row also gets its summary features and, when the model transcribes, its transcript and timed words.
        `on_stage` hears the stages as they start: "decoding", "transcribing", "measuring", "scoring"."""
        ex = self.extract(data, on_stage)
        if on_stage is not None:
            on_stage("scoring")
        return self.score_extracted(ex, intervals, explain, details)

    def extract(self, data, on_stage: Callable[[str], None] | None = None) -> Extracted:
        """The features of files, a dataset or decoded clips, as `score_extracted` takes them."""
        self._check_fitted()
        dataset, clips = as_dataset(data)
        extractor = self.extractor()
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
        """Write a bundle: with one label, manifest.json + the model's native files; with several, one manifest
        (kind `multi-label`) listing each label's files, kept in `label-<n>/`. The folder is replaced whole and at
        once (an old bundle there stays until the new one is complete); a folder that holds anything but a
        model is refused."""
        self._check_fitted()
        directory = Path(directory)
        with replacing(directory) as tmp:
            self._write(tmp)
        return directory

    def _write(self, directory: Path) -> None:
        libraries = [lib for f in self.featurizers_ for lib in f.libraries]
        if len(self.models_) == 1:
            files = self.first_.save_files(directory)
            libraries += self.first_.libraries()
            files.append(_write_card(directory, self.manifest().to_dict(), libraries))
            self.manifest_ = self.manifest().save(directory, files, libraries)
            return
        members, files = {}, []
        for i, (label, model) in enumerate(self.models_.items()):
            sub = f"label-{i}"
            files += [f"{sub}/{f}" for f in model.save_files(directory / sub)]
            members[label] = {"folder": sub, **self.manifest(label).to_dict()}
            libraries += model.libraries()
        body = {"kind": MULTI_LABEL, "labels": self.labels_, "overall": self.weights_, "members": members}
        files.append(_write_card(directory, body, libraries))
        self.manifest_ = write_manifest(directory, body, files, dict.fromkeys(libraries))

    @classmethod
    def load(cls, directory: str | os.PathLike, cache: Any = None, progress: bool = False, **runtime) -> "Scorer":
        """Read a bundle written by `save` (one label or several; older bundles too); refuses tampered,
        unknown-version or unloadable bundles. `runtime`: batch_size, engine, engine_options."""
        body = read_manifest(directory)
        if body.get("kind") == MULTI_LABEL:
            return cls._from_multi(body, Path(directory), cache, progress, **runtime)
        return cls.from_manifest(Manifest.load(directory), directory, cache, progress, **runtime)

    @classmethod
    def _from_multi(cls, body: dict[str, Any], directory: Path, cache: Any, progress: bool, **runtime) -> "Scorer":
        try:
            labels, models, first = list(body["labels"]), {}, None
            names = {f.name for f in Manifest.__dataclass_fields__.values()} - {"meta"}
            for label in labels:
                member = dict(body["members"][label])
                folder = directory / str(member.pop("folder"))
                if not folder.resolve().is_relative_to(directory.resolve()):
                    raise BundleError(f"{directory}: label '{label}' points outside the bundle")
                problem = manifest_problem(member)
                if problem:
                    raise BundleError(f"{directory}: label '{label}': manifest field {problem}")
                manifest = Manifest(**{k: v for k, v in member.items() if k in names})
                first = first or (manifest, folder)
                models[label] = LabelModel.from_manifest(manifest, folder)
            obj = cls.from_manifest(*first, cache, progress, **runtime)
            obj.models_, obj.weights_, obj.overall = models, body.get("overall"), body.get("overall")
        except SpeechgradeError:
            raise
        except Exception as exc:  # a manifest of the wrong shape: refused with a reason, never a crash
            raise BundleError(f"{directory}: malformed multi-label manifest ({type(exc).__name__}: {exc})") from None
        obj.manifest_ = body
        return obj

    @classmethod
    def from_manifest(cls, manifest: Manifest, directory: str | os.PathLike, cache: Any = None,
                      progress: bool = False, **runtime) -> "Scorer":
        """A fitted one-label Scorer from a verified manifest and the folder that holds its model files."""
        model = LabelModel.from_manifest(manifest, directory)
        try:
            config = scorer_config(manifest, model.post.rubric_.to_dict(), model.post.coverage, model.post.abstain)
            known = set(inspect.signature(cls).parameters)
            obj = cls(**{k: v for k, v in config.items() if k in known}, cache=cache, progress=progress, **runtime)
            obj.featurizers_, obj.columns_ = featurizers_from_manifest(manifest), list(manifest.feature_columns)
        except SpeechgradeError:
            raise
        except Exception as exc:  # a manifest of the wrong shape: refused with a reason, never a crash
            raise BundleError(f"{directory}: malformed manifest ({type(exc).__name__}: {exc})") from None
        obj.models_, obj.weights_ = {model.label: model}, None
        obj.manifest_ = manifest
        return obj
