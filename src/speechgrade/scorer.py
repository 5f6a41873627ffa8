"""Scorer: featurizers + a tuned regressor, with fit / predict / evaluate / save / load."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from .abstain import AbstainRules, language_model
from .augment import NAMESPACE as AUGMENT_NS, OPS as AUGMENT_OPS, Augmenter
from .bundle import featurizers_from_manifest, read_manifest, write_manifest
from .dataset import Dataset, Problem
from .errors import BundleError, DatasetError
from .evaluate import Evaluation, conformal_halfwidth, cross_validate
from .folds import make_folds
from .extract import ExtractReport, Extractor, MemoryCache, as_featurizers, column_prefixes, make_extractor
from .features.screen import ScreenFeaturizer
from .duplicates import combine_groups
from .models import ScoringModel, get_regressor_class
from .models.ensemble import EnsembleModel, check_ensemble, families
from .rubric import Rubric, RubricModel
from .tuning import TuneResult, tune


# features returned beside a score (all of `whisper`'s; the most readable of `acoustic`)
MAIN_FEATURES: dict[str, list[str] | None] = {
    "whisper": None,
    "acoustic": ["duration_s", "speech_ratio", "pause_count", "long_pause_count", "pause_mean_s", "syllable_rate",
                 "articulation_rate", "f0_mean_hz", "f0_range_st"],
}


@dataclass
class Prepared:
    """Features of a labelled dataset, ready for learning."""

    X: pd.DataFrame
    y: np.ndarray
    groups: np.ndarray | None
    report: ExtractReport
    duplicates: list[list[str]]
    screen: pd.DataFrame | None = None  # `screen` measures of the same rows (for the abstain rules)
    augmented: pd.DataFrame | None = None  # features of augmented copies (training only)
    source: np.ndarray | None = None  # row of X each augmented copy was made from

    @property
    def names(self) -> list[str]:
        """Row names (filenames)."""
        return [str(i) for i in self.X.index]

    def training_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """X, y and groups with the augmented copies appended, each copy in its source's group."""
        X, y = self.X.to_numpy(np.float64), self.y
        if self.augmented is None or not len(self.augmented):
            return X, y, self.groups
        groups = self.groups if self.groups is not None else np.array(self.names)
        return (np.vstack([X, self.augmented.to_numpy(np.float64)]), np.concatenate([y, y[self.source]]),
                np.concatenate([groups, groups[self.source]]))


class Scorer:
    """Scores clips from audio: `Scorer(featurizers="acoustic", regressor="lightgbm").fit(dataset)`."""

    def __init__(self, featurizers: "str | Sequence" = "acoustic", regressor: str = "lightgbm", trials: int = 10,
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

    # -- data -----------------------------------------------------------------------------------
    def _extractor(self) -> Extractor:
        """The model's featurizers, then (with `abstain`) the `screen` featurizer, whose columns come last."""
        if not hasattr(self, "_extractor_"):
            model = as_featurizers(getattr(self, "featurizers_", None) or self.featurizers)
            rules = getattr(self, "abstain_", None)
            screen = [ScreenFeaturizer(rules.language if rules else None)] if self.abstain else []
            self._extractor_ = make_extractor(model + screen, self.cache, self.batch_size, progress=self.progress,
                                              engine=self.engine, **(self.engine_options or {}))
            self._n_model_ = len(model)
        return self._extractor_

    def _model_featurizers(self) -> list:
        return self._extractor().featurizers[:self._n_model_]

    def _split(self, X: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """Model columns, and the screen measures (plain column names) when abstaining."""
        if not self.abstain:
            return X, None
        n = sum(len(f.columns()) for f in self._model_featurizers())
        return X.iloc[:, :n], X.iloc[:, n:].set_axis([c.split(".", 1)[1] for c in X.columns[n:]], axis=1)

    def prepare(self, dataset: Dataset) -> Prepared:
        """Extract (or read cached) features; combine user groups with duplicate clusters."""
        if dataset.label is None:
            raise DatasetError("training and evaluation need a label column")
        self._candidates()  # an unknown regressor is an error before, not after, extraction
        extractor = self._extractor()
        X, report = extractor.run(dataset)
        X, screen = self._split(X)
        check_ensemble(self.ensemble, X.columns)  # before any tuning: fit and evaluate both start here
        if len(X) < 4:
            raise DatasetError(f"only {len(X)} usable clips after extraction; need at least 4 to learn "
                               f"({len(report.failed)} failed, {len(report.skipped)} skipped)")
        names = [str(i) for i in X.index]
        y = dataset.table.loc[names, dataset.label].to_numpy(np.float64)
        user = dataset.table.loc[names, "group"].astype(str).to_numpy() if "group" in dataset.table else None
        clusters = extractor.duplicates(names, report) if self.group_duplicates else []
        groups = combine_groups(names, user, clusters) if (user is not None or clusters) else None
        data = Prepared(X, y, groups, report, clusters, screen)
        if self.augment:
            data.augmented, data.source = self._augment(dataset, data)
        return data

    def _augment(self, dataset: Dataset, data: Prepared) -> tuple[pd.DataFrame, np.ndarray]:
        """Features of `augment` copies of every usable clip (files made once, in the cache folder; with an
        in-memory cache, in a temporary folder removed once their features are extracted)."""
        extractor = self._extractor()
        with contextlib.ExitStack() as stack:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="speechgrade-"))) \
                if isinstance(extractor.cache, MemoryCache) else extractor.cache.root
            augmenter = Augmenter(self.augment, self.augment_ops, self.seed)
            rows = []
            for i, name in enumerate(data.names):
                path, digest = Path(dataset.table.loc[name, "path"]), data.report.audio[name]["digest"]
                try:
                    copies = augmenter.copies_of(path, digest, root / AUGMENT_NS)
                except Exception as exc:  # one clip that will not augment must not stop training
                    data.report.failed.append(Problem(f"{name}#aug",
                                                      f"augmentation failed: {type(exc).__name__}: {exc}"))
                    continue
                rows += [{"filename": f"{name}#aug{k}", "path": str(c), "source": i}
                         for k, (c, _) in enumerate(copies, 1)]
            table = pd.DataFrame(rows, columns=["filename", "path", "source"]).set_index("filename")
            X, _ = extractor.run(Dataset(table))
        X, _ = self._split(X)
        return X, table.loc[X.index, "source"].to_numpy(int)

    # -- learning -------------------------------------------------------------------------------
    def _candidates(self) -> list[str]:
        """The regressors to choose from (`"ridge,svr"`: the one with the lower tuning CV RMSE wins)."""
        names = [r.strip() for r in self.regressor.split(",") if r.strip()] if isinstance(self.regressor, str) \
            else list(self.regressor)
        for name in names:
            get_regressor_class(name)
        return names

    def _new_model(self, tuned: TuneResult, columns: Sequence[str], folds: int, seed: int
                   ) -> "ScoringModel | EnsembleModel":
        """An unfitted model with tuned parameters: one regressor, or one per family with --ensemble."""
        if self.ensemble:
            return EnsembleModel(tuned.regressor, tuned.params, columns, self.ensemble, self.pca, seed, folds)
        return ScoringModel(tuned.regressor, tuned.params, self.pca, seed, columns)

    def _fit_model(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None, columns: Sequence[str],
                   seed: int, study_name: str | None = None, folds: int | None = None
                   ) -> tuple["ScoringModel | EnsembleModel", TuneResult]:
        """Tune each candidate regressor (for each family's member with an ensemble), keep the one with the lower
        tuning CV RMSE, then fit on all the rows given."""
        folds = folds or self.folds
        candidates = self._candidates()

        def tuned(cols: Sequence[int], suffix: str = "") -> TuneResult:
            results = [tune(X[:, cols], y, groups, name, self.trials, self.timeout, folds, self.pca, seed,
                            storage=self.study, columns=[columns[i] for i in cols],
                            study_name=study_name and study_name + suffix + (f"-{name}" if len(candidates) > 1 else ""))
                       for name in candidates]
            return min(results, key=lambda r: r.cv_rmse)

        if not self.ensemble:
            result = tuned(list(range(len(columns))))
            return self._new_model(result, columns, folds, seed).fit(X, y, groups), result
        members = {fam: tuned(idx, f"-{fam}") for fam, idx in families(columns).items()}
        result = TuneResult({f: r.params for f, r in members.items()}, 0.0, sum(r.n_trials for r in members.values()),
                            {f: r.cv_rmse for f, r in members.items()}, {f: r.regressor for f, r in members.items()})
        model = self._new_model(result, columns, folds, seed).fit(X, y, groups)
        result.cv_rmse = model.oof_rmse_
        return model, result

    def _rubric(self) -> Rubric:
        return Rubric(self.calibrate, self.snap)

    def fit(self, dataset: Dataset, prepared: Prepared | None = None) -> "Scorer":
        """Tune on all rows with grouped CV, then fit the final model on all of them; the rubric and the
        conformal interval are fitted on out-of-fold predictions, the abstain rules on the screen measures."""
        data = prepared or self.prepare(dataset)
        self.featurizers_ = self._model_featurizers()
        self.columns_ = list(data.X.columns)
        X, y, groups = data.training_rows()
        self.model_, result = self._fit_model(X, y, groups, self.columns_,
                                              self.seed, "speechgrade-train" if self.study else None)
        self.label_ = dataset.label
        self.label_range_ = (float(data.y.min()), float(data.y.max()))
        self.tuning_ = {"params": result.params, "selection_cv_rmse": result.cv_rmse, "trials": result.n_trials}
        if result.members:
            self.tuning_ |= {"member_cv_rmse": result.members, "weights": self.model_.weights(),
                             "member_regressors": result.regressor}
        else:
            self.tuning_["regressor"] = result.regressor
        # out-of-fold predictions of the original clips only (their copies share their fold)
        oof = self._out_of_fold(X, y, groups, result, self.columns_, self.folds, self.seed)[:len(data.y)]
        self.rubric_ = self._rubric().fit(oof, data.y)
        residuals = self.rubric_.transform(oof) - data.y
        self.interval_ = {"coverage": self.coverage, "halfwidth": conformal_halfwidth(residuals, self.coverage)}
        if self.abstain:
            self.abstain_ = AbstainRules(language=language_model(self.featurizers_)).fit(data.screen)
            del self._extractor_  # scoring screens with the English check, which training did not need
        self.training_ = {"n": len(data.y), "augmented_copies": len(y) - len(data.y),
                          "fingerprint": _fingerprint(data), "duplicates": data.duplicates,
                          "groups": None if data.groups is None else int(len(np.unique(data.groups)))}
        self.evaluation_ = getattr(self, "evaluation_", None)
        return self

    def _out_of_fold(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None, tuned: TuneResult,
                     columns: Sequence[str], folds: int, seed: int) -> np.ndarray:
        """Grouped out-of-fold predictions of models with these parameters (for the rubric and the interval)."""
        pred = np.zeros(len(y))
        for tr, te in make_folds(y, groups, folds, seed):
            model = self._new_model(tuned, columns, folds, seed).fit(X[tr], y[tr], None if groups is None else groups[tr])
            pred[te] = model.predict(X[te])
        return pred

    def evaluate(self, dataset: Dataset, folds: int | None = None, repeats: int = 3,
                 prepared: Prepared | None = None, progress: Callable[[str], None] | None = None) -> Evaluation:
        """Nested, repeated, grouped CV: tuning runs inside each outer training fold only."""
        data = prepared or self.prepare(dataset)
        folds = folds or self.folds
        counter = iter(range(10**9))
        importances: list[np.ndarray] = []
        weights: list[dict[str, float]] = []
        chosen: list = []
        columns = list(data.X.columns)

        def fit_predict(X, y, groups, seed):
            name = f"speechgrade-eval-{next(counter)}" if self.study else None
            model, result = self._fit_model(X, y, groups, columns, seed, name, folds=self.inner_folds)
            imp = model.feature_importance()
            if imp is not None:
                importances.append(imp)
            if isinstance(model, EnsembleModel):
                weights.append(model.weights())
            chosen.append(result.regressor)
            rubric = self._rubric()
            if not rubric.active:
                return model
            # with --augment these rows include the copies (grouped with their sources, so still out of fold)
            oof = self._out_of_fold(X, y, groups, result, columns, self.inner_folds, seed)
            return RubricModel(model, rubric.fit(oof, y))

        extra = None if data.augmented is None else (data.augmented.to_numpy(np.float64), data.source)
        ev = cross_validate(data.X.to_numpy(np.float64), data.y, data.groups, fit_predict, data.names,
                            folds, repeats, self.seed, progress=progress, coverage=self.coverage, augmented=extra)
        ev.config = self.get_config() | {"label": dataset.label, "folds": folds, "repeats": repeats}
        ev.extra = {"duplicates": data.duplicates, "skipped": [[p.filename, p.reason] for p in data.report.skipped],
                    "failed": [[p.filename, p.reason] for p in data.report.failed]}
        if len(self._candidates()) > 1:  # how often each candidate won the tuning in the outer folds
            ev.summary["regressor_choices"] = _tally(chosen)
        if weights:
            ev.summary["ensemble"] = {"method": self.ensemble,
                                      "weights": pd.DataFrame(weights).mean().round(4).to_dict()}
        if importances:
            ev.importance = pd.Series(np.mean(importances, axis=0), index=data.X.columns).sort_values(ascending=False)
        self.evaluation_ = ev.summary
        return ev

    def feature_importance(self) -> pd.Series | None:
        """Share of the fitted model's importance per feature column (None with PCA or no importances)."""
        self._check_fitted()
        imp = self.model_.feature_importance()
        return None if imp is None else pd.Series(imp, index=self.columns_).sort_values(ascending=False)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments that define the model (JSON-able)."""
        feats = self.featurizers if isinstance(self.featurizers, str) else \
            [f if isinstance(f, str) else f.spec for f in self.featurizers]
        return {"featurizers": feats, "regressor": self.regressor, "ensemble": self.ensemble,
                "calibrate": self.calibrate, "snap": self.snap, "abstain": self.abstain, "augment": self.augment,
                "augment_ops": list(self.augment_ops), "trials": self.trials,
                "tuning_folds": self.folds, "inner_folds": self.inner_folds,
                "pca": self.pca, "seed": self.seed, "group_duplicates": self.group_duplicates}

    # -- scoring --------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise BundleError("this Scorer is not fitted: call fit() or Scorer.load()")

    def _extract(self, data: "Dataset | Iterable[str | os.PathLike]") -> tuple[Dataset, pd.DataFrame]:
        """The dataset and its feature rows (the failures go to `last_report_`)."""
        self._check_fitted()
        dataset = data if isinstance(data, Dataset) else Dataset.from_paths(data)
        X, self.last_report_ = self._extractor().run(dataset)
        if len(X):
            missing = [c for c in self.columns_ if c not in X.columns]
            if missing:
                raise BundleError(f"the featurizers produce different columns than the model expects "
                                  f"({len(missing)} missing, e.g. {missing[0]})")
        return dataset, X

    def _score_rows(self, X: pd.DataFrame) -> pd.DataFrame:
        """Scores of extracted rows on the rubric, `<label>_raw` before it (when a rubric is set), and
        `abstain_reason` (None, or why the clip is not scoreable) when abstaining."""
        Xm, screen = self._split(X)
        raw = self.model_.predict(Xm[self.columns_].to_numpy(np.float64))
        out = pd.DataFrame({self.label_: self.rubric_.transform(raw)}, index=X.index)
        if self.rubric_.active:
            out[f"{self.label_}_raw"] = raw
        if screen is not None:
            out["abstain_reason"] = self.abstain_.reasons(screen)
        return out

    def predict_frame(self, data: "Dataset | Iterable[str | os.PathLike]", intervals: bool = False,
                      explain: bool = False) -> pd.DataFrame:
        """One row per input in input order (NaN where a file failed; see `last_report_`): the score (on the
        rubric, with `<label>_raw` before it when calibrating or snapping); with `intervals` its conformal
        interval (`<label>_lo`, `<label>_hi`); when abstaining, `abstain` and `abstain_reason` (failed files
        abstain with their failure); with `explain` each feature family's contribution to the raw score
        (`explain.<family>`, `explain.base`; none for models without attributions)."""
        dataset, X = self._extract(data)
        index = pd.Index(dataset.input_order, name="filename")
        scored = self._score_rows(X) if len(X) else None
        frame = pd.DataFrame({self.label_: np.nan}, index=index, dtype=np.float64)
        if scored is not None:
            frame.loc[X.index, self.label_] = scored[self.label_]
        if self.rubric_.active:
            frame[f"{self.label_}_raw"] = np.nan if scored is None else scored[f"{self.label_}_raw"]
        if intervals:
            frame[f"{self.label_}_lo"], frame[f"{self.label_}_hi"] = self.interval(frame[self.label_].to_numpy())
        if self.abstain:
            reasons = pd.Series(None, index=index, dtype=object)
            if scored is not None:
                reasons[X.index] = scored["abstain_reason"]
            report = self.last_report_
            for p in [*dataset.problems, *report.failed, *report.skipped]:
                if p.filename in reasons.index:
                    reasons[p.filename] = p.reason
            frame["abstain"], frame["abstain_reason"] = reasons.notna(), reasons.fillna("")
        explained = self.explain_rows(X) if explain and len(X) else None
        if explained is not None:
            frame = frame.join(explained.add_prefix("explain."))
        return frame

    def predict(self, data: "Dataset | Iterable[str | os.PathLike]") -> pd.Series:
        """Scores in input order (NaN for files that failed; see `last_report_`)."""
        return self.predict_frame(data)[self.label_]

    def explain_rows(self, X: pd.DataFrame) -> pd.DataFrame | None:
        """Contribution of each feature family (column prefix) to each row's score, and the base value."""
        contrib = self.model_.contributions(X[self.columns_].to_numpy(np.float64))
        if contrib is None:
            return None
        families = pd.Index([c.split(".", 1)[0] for c in self.columns_])
        per_family = pd.DataFrame(contrib[:, :-1], index=X.index, columns=families).T.groupby(level=0).sum().T
        per_family["base"] = contrib[:, -1]
        return per_family

    def explain(self, data: "Dataset | Iterable[str | os.PathLike]") -> pd.DataFrame | None:
        """Per-prediction attributions grouped by feature family (None for models without them, e.g. svr)."""
        _, X = self._extract(data)
        return self.explain_rows(X) if len(X) else None

    def predict_interval(self, data: "Dataset | Iterable[str | os.PathLike]") -> pd.DataFrame:
        """Scores with their conformal prediction interval (columns score, lo, hi; coverage in attrs)."""
        label = self.label_
        frame = self.predict_frame(data, intervals=True)
        out = frame[[label, f"{label}_lo", f"{label}_hi"]].set_axis(["score", "lo", "hi"], axis=1)
        out.attrs["coverage"] = self.interval_["coverage"]
        return out

    def interval(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) of the split-conformal interval around scores, clipped to the label range."""
        q = self.interval_["halfwidth"]
        return np.clip(scores - q, *self.label_range_), np.clip(scores + q, *self.label_range_)

    def score_audio(self, audio: np.ndarray) -> dict[str, Any]:
        """Score one decoded clip (16 kHz mono): the score, its transcript and main features when the model has them."""
        self._check_fitted()
        extractor = self._extractor()  # binds the cache, so transcripts are shared between featurizers
        parts, named = [], {}
        for prefix, f in zip(column_prefixes(extractor.featurizers), extractor.featurizers):
            vec = np.asarray(f.featurize_batch([audio])[0], np.float32)
            parts.append(vec)
            if f.name in MAIN_FEATURES:
                cols = f.columns()
                named.update({f"{prefix}.{c}": float(vec[cols.index(c)]) for c in MAIN_FEATURES[f.name] or cols
                              if c in cols})
        row = pd.DataFrame([np.concatenate(parts)], columns=extractor.columns())
        scored = self._score_rows(row).iloc[0]
        score = float(scored[self.label_])
        explanation = self.explain_rows(row)
        lo, hi = self.interval(np.array([score]))
        out: dict[str, Any] = {"score": score, "interval": {"lo": float(lo[0]), "hi": float(hi[0]),
                                                            "coverage": self.interval_["coverage"]}, "features": named}
        if self.rubric_.active:
            out["raw_score"] = float(scored[f"{self.label_}_raw"])
        if self.abstain:
            reason = scored["abstain_reason"]
            out["abstain"] = reason if isinstance(reason, str) else None  # or why this clip should not be trusted
        if explanation is not None:
            out["explanation"] = {k: round(float(v), 4) for k, v in explanation.iloc[0].items()}
        whisper = next((f for f in extractor.featurizers if f.name == "whisper"), None)
        if whisper is not None:
            t = whisper.transcriber().transcribe(audio)  # cached by the featurizer above
            out["transcript"] = t.text
            out["words"] = [vars(w) for w in t.words]
        return out

    # -- persistence ----------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> Path:
        """Write a bundle: manifest.json + preprocess.npz + the regressor's native files."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        files = self.model_.save(directory)
        prefixes = column_prefixes(self.featurizers_)
        manifest = {
            "label": {"name": self.label_, "min": self.label_range_[0], "max": self.label_range_[1]},
            "featurizers": [{**f.identity, "spec": f.spec, "prefix": p} for f, p in zip(self.featurizers_, prefixes)],
            "feature_columns": self.columns_,
            "model": {"regressor": self.model_.regressor, "params": self.model_.params, "pca": self.pca,
                      "seed": self.seed,
                      "ensemble": self.ensemble},
            "config": self.get_config(),
            "tuning": self.tuning_,
            "interval": self.interval_,
            "rubric": self.rubric_.to_dict(),
            "abstain": self.abstain_.to_dict() if self.abstain else None,
            "cv_metrics": self.evaluation_,
            "training_data": self.training_,
        }
        write_manifest(directory, manifest, files)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike, cache: Any = None, progress: bool = False) -> "Scorer":
        """Read a bundle written by `save`; refuses tampered, unknown-version or unloadable bundles."""
        directory = Path(directory)
        manifest = read_manifest(directory)
        featurizers = featurizers_from_manifest(manifest)
        m = manifest["model"]
        candidates = manifest.get("config", {}).get("regressor") or m["regressor"]  # m: what was chosen
        obj = cls(featurizers=featurizers, regressor=candidates, pca=m["pca"], seed=m["seed"],
                  cache=cache, progress=progress, ensemble=m.get("ensemble"))
        obj.featurizers_ = featurizers
        obj.columns_ = manifest["feature_columns"]
        if obj.ensemble:
            obj.model_ = EnsembleModel.load(directory, m["regressor"], m["params"], obj.columns_, m["pca"], m["seed"])
        else:
            obj.model_ = ScoringModel.load(directory, m["regressor"], m["params"], m["pca"], m["seed"], obj.columns_)
        obj.label_ = manifest["label"]["name"]
        obj.label_range_ = (manifest["label"]["min"], manifest["label"]["max"])
        obj.tuning_, obj.training_ = manifest.get("tuning"), manifest.get("training_data")
        # bundles written before intervals existed: an interval spanning the whole label range
        obj.interval_ = manifest.get("interval") or {"coverage": None, "halfwidth": float("inf")}
        obj.rubric_ = Rubric.from_dict(manifest.get("rubric") or {"calibrate": False, "snap": None, "points": None,
                                                                  "step": None, "range": obj.label_range_})
        obj.calibrate, obj.snap = obj.rubric_.calibrate, obj.rubric_.snap
        obj.abstain = manifest.get("abstain") is not None  # bundles from before abstaining do not screen
        if obj.abstain:
            obj.abstain_ = AbstainRules(**manifest["abstain"])
        obj.evaluation_ = manifest.get("cv_metrics")
        obj.manifest_ = manifest
        return obj


def _tally(chosen: list) -> dict:
    """How often each regressor was chosen (per member for ensembles)."""
    if chosen and isinstance(chosen[0], dict):
        return {fam: _tally([c[fam] for c in chosen]) for fam in chosen[0]}
    return {name: chosen.count(name) for name in sorted(set(chosen))}


def _fingerprint(data: Prepared) -> str:
    """Hash of (file content, label) pairs: identifies the training data."""
    h = hashlib.sha256()
    for name, label in sorted(zip(data.names, data.y)):
        h.update(f"{data.report.audio.get(name, {}).get('digest', name)}:{label!r};".encode())
    return h.hexdigest()
