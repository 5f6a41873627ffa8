"""Sub-scores: one Scorer per label (grammar, fluency, ...) from one extraction, an optional composite, one bundle.

`MultiScorer(["grammar", "fluency"], featurizers=..., ...)` takes every Scorer option. Features are
extracted once; each label is tuned and fitted on the rows that have it. The bundle is one folder: one
manifest (kind `multi-label`) listing every label's model files, kept in `label-<name>/`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .bundle import Manifest, read_manifest, write_manifest
from .dataset import Dataset
from .errors import BundleError, ConfigError, DatasetError, SpeechgradeError
from .evaluate import Evaluation, metrics, summarise
from .results import Scores
from .scorer import Scorer

KIND = "multi-label"


def parse_overall(spec: "str | dict[str, float] | None", labels: Sequence[str]) -> dict[str, float] | None:
    """Composite weights from `mean` or `grammar=0.4,fluency=0.6` (normalised to sum to 1)."""
    if spec is None or spec == "":
        return None
    if isinstance(spec, str) and spec.strip() == "mean":
        return {label: 1 / len(labels) for label in labels}
    weights = spec if isinstance(spec, dict) else {}
    if isinstance(spec, str):
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, sep, value = part.partition("=")
            try:
                weights[name.strip()] = float(value)
            except ValueError:
                raise ConfigError(f"--overall takes `mean` or label=weight pairs (got {part!r})") from None
    unknown = set(weights) - set(labels)
    if unknown or not weights or sum(weights.values()) <= 0:
        raise ConfigError(f"--overall weights must name the labels ({', '.join(labels)}) with a positive sum")
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()}


@dataclass
class MultiEvaluation:
    """Each label's Evaluation, the composite's figures, and how the human and predicted sub-scores correlate."""

    labels: dict[str, Evaluation]
    overall: dict[str, Any] | None = None
    human_corr: pd.DataFrame | None = None
    predicted_corr: pd.DataFrame | None = None
    missing: dict[str, int] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """One row per label: r, Spearman, RMSE, MAE, within 0.5 / 1.0, interval coverage, ridge baseline r."""
        rows = {}
        for label, ev in self.labels.items():
            s = ev.summary
            rows[label] = {"n": s["n"], "pearson": s["pearson"], "pearson_std": s["pearson_std"],
                           "spearman": s["spearman"], "rmse": s["rmse"], "mae": s["mae"],
                           "within_0.5": s["within_0.5"], "within_1.0": s["within_1.0"],
                           "interval_coverage": s.get("interval_coverage"),
                           "baseline_ridge_pearson": s["baselines"]["ridge"]["pearson"],
                           "baseline_mean_rmse": s["baselines"]["mean"]["rmse"]}
        if self.overall and self.overall.get("against"):
            rows[f"overall (composite vs {self.overall['against']})"] = {
                k: self.overall.get(k) for k in ("n", "pearson", "pearson_std", "spearman", "rmse", "mae",
                                                 "within_0.5", "within_1.0")}
        return pd.DataFrame(rows).T

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: per label the flat object a single-label evaluate writes, plus the correlations."""
        out: dict[str, Any] = {"labels": {k: ev.to_json() for k, ev in self.labels.items()}, "overall": self.overall,
                               "missing_labels": self.missing}
        for name, corr in (("human_correlation", self.human_corr), ("predicted_correlation", self.predicted_corr)):
            out[name] = None if corr is None else corr.round(4).to_dict()
        return out


class MultiScorer:
    """One Scorer per label, sharing featurizers and one extraction; optional weighted composite (`overall`)."""

    def __init__(self, labels: Sequence[str], overall: "str | dict[str, float] | None" = None, **options: Any):
        self.labels = list(labels)
        self.overall = overall
        self.options = options

    def _scorer(self) -> Scorer:
        return Scorer(**self.options)

    def _check(self, dataset: Dataset) -> None:
        absent = [label for label in self.labels if label not in dataset.table.columns]
        if absent:
            raise DatasetError(f"the dataset has no label column '{absent[0]}'")
        parse_overall(self.overall, self.labels)

    def prepare(self, dataset: Dataset):
        """Features of every row once (cached); each label then uses the rows that have it."""
        self._check(dataset)
        return self._scorer().prepare(dataset)

    def _for_label(self, dataset: Dataset, data, label: str):
        """The dataset and prepared rows of one label (rows without it left out, copies with their sources)."""
        from .training import Prepared

        values = dataset.table.loc[data.names, label].to_numpy(np.float64)
        keep = np.flatnonzero(np.isfinite(values))
        if len(keep) < 4:
            raise DatasetError(f"label '{label}': only {len(keep)} clips have it; need at least 4 to learn")
        out = Prepared(data.X.iloc[keep], values[keep], None if data.groups is None else data.groups[keep],
                       data.report, data.duplicates, None if data.screen is None else data.screen.iloc[keep])
        if data.augmented is not None and len(data.augmented):
            remap = {int(old): new for new, old in enumerate(keep)}
            rows = [i for i, s in enumerate(data.source) if int(s) in remap]
            out.augmented = data.augmented.iloc[rows]
            out.source = np.array([remap[int(data.source[i])] for i in rows], int)
        return dataset.with_label(label), out

    def fit(self, dataset: Dataset, prepared=None) -> "MultiScorer":
        """Fit one Scorer per label on the rows that have it."""
        data = prepared or self.prepare(dataset)
        self.scorers_ = {label: self._scorer().fit(*self._for_label(dataset, data, label)) for label in self.labels}
        self.weights_ = parse_overall(self.overall, self.labels)
        return self

    def evaluate(self, dataset: Dataset, folds: int | None = None, repeats: int = 3, prepared=None,
                 progress: Callable[[str], None] | None = None) -> MultiEvaluation:
        """Each label's nested, repeated, grouped CV; the composite against an `overall` column when there is one;
        correlations between the human sub-scores and between the predicted ones."""
        data = prepared or self.prepare(dataset)
        evs = {}
        for label in self.labels:
            sub, rows = self._for_label(dataset, data, label)
            say = (lambda m, label=label: progress(f"{label}: {m}")) if progress else None
            evs[label] = self._scorer().evaluate(sub, folds, repeats, prepared=rows, progress=say)
        oof = pd.DataFrame({label: ev.predictions.groupby("filename")["model"].mean() for label, ev in evs.items()})
        human = dataset.table.loc[[n for n in data.names], self.labels]
        result = MultiEvaluation(evs, human_corr=human.corr(), predicted_corr=oof.corr(),
                                 missing={label: int(human[label].isna().sum()) for label in self.labels})
        weights = parse_overall(self.overall, self.labels)
        if weights:
            result.overall = self._overall_figures(evs, weights, dataset)
        return result

    @staticmethod
    def _overall_figures(evs: dict[str, Evaluation], weights: dict[str, float], dataset: Dataset) -> dict | None:
        """The composite's out-of-fold figures per repeat against an `overall` column (None without one)."""
        column = next((c for c in dataset.table.columns if c.lower() == "overall"), None)
        if column is None:
            return {"weights": weights, "against": None}
        frames = [ev.predictions.set_index(["filename", "repeat"])["model"].rename(label)
                  for label, ev in evs.items() if label in weights]
        joined = pd.concat(frames, axis=1).dropna()
        composite = sum(joined[label] * w for label, w in weights.items())
        truth = dataset.table[column].reindex(joined.index.get_level_values(0)).to_numpy(np.float64)
        ok = np.isfinite(truth)
        per_repeat = [metrics(truth[ok & (joined.index.get_level_values(1) == r)],
                              composite.to_numpy()[ok & (joined.index.get_level_values(1) == r)])
                      for r in sorted(set(joined.index.get_level_values(1)))]
        return {"weights": weights, "against": column, "n": int(ok.sum() // max(len(per_repeat), 1)),
                **summarise(per_repeat)}

    # -- scoring --------------------------------------------------------------------------------
    def score(self, data, intervals: bool = True, explain: bool = False, details: bool = False) -> "MultiScores":
        """Every label's Scores from one extraction (and the composite when there are weights)."""
        first = next(iter(self.scorers_.values()))
        extracted = first.extract(data)
        scores = {label: s.score_extracted(extracted, intervals, explain, details and label == first.label_)
                  for label, s in self.scorers_.items()}
        return MultiScores(scores, self.weights_)

    def predict(self, data) -> pd.DataFrame:
        """One column per label (and `overall` with weights), one row per input in input order."""
        return self.score(data, intervals=False).frame()

    # -- persistence ----------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> Path:
        """One bundle: manifest.json (kind multi-label) and each label's model files in `label-<name>/`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        members, files, libraries = {}, [], []
        for label, scorer in self.scorers_.items():
            sub = f"label-{label}"
            manifest, written, libs = scorer.save_files(directory / sub)
            members[label] = {"folder": sub, **manifest.to_dict()}
            files += [f"{sub}/{f}" for f in written]
            libraries += libs
        write_manifest(directory, {"kind": KIND, "labels": self.labels, "overall": self.weights_, "members": members},
                       files, dict.fromkeys(libraries))
        return directory

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any], directory: str | os.PathLike, cache: Any = None,
                      progress: bool = False, **runtime) -> "MultiScorer":
        """A fitted MultiScorer from a verified multi-label manifest."""
        directory = Path(directory)
        try:
            obj = cls(list(manifest["labels"]), manifest.get("overall"))
            obj.scorers_ = {}
            for label in obj.labels:
                body = dict(manifest["members"][label])
                folder = directory / str(body.pop("folder"))
                if not folder.resolve().is_relative_to(directory.resolve()):
                    raise BundleError(f"{directory}: label '{label}' points outside the bundle")
                names = {f.name for f in Manifest.__dataclass_fields__.values()} - {"meta"}
                member = Manifest(**{k: v for k, v in body.items() if k in names})
                obj.scorers_[label] = Scorer.from_manifest(member, folder, cache, progress, **runtime)
            obj.weights_ = manifest.get("overall")
            obj.options = {}
        except SpeechgradeError:
            raise
        except Exception as exc:  # a manifest of the wrong shape: refused with a reason, never a crash
            raise BundleError(f"{directory}: malformed multi-label manifest ({type(exc).__name__}: {exc})") from None
        obj.manifest_ = manifest
        return obj


@dataclass
class MultiScores:
    """Each label's Scores for the same inputs, and the composite weights."""

    labels: dict[str, Scores]
    weights: dict[str, float] | None = None

    @property
    def first(self) -> Scores:
        """The first label's Scores (problems, abstain and details are the same for every label)."""
        return next(iter(self.labels.values()))

    @property
    def problems(self) -> dict[str, str]:
        """Inputs not scored, and why."""
        return self.first.problems

    def frame(self, intervals: bool = False, abstain: bool = False) -> pd.DataFrame:
        """`<label>` (and `<label>_lo`, `<label>_hi`, `<label>.explain.*`) per label, `overall`, `abstain*`."""
        out = pd.concat([s.frame[label] for label, s in self.labels.items()], axis=1)
        if self.weights:
            out["overall"] = sum(self.labels[k].frame[k] * w for k, w in self.weights.items())
        for label, s in self.labels.items():
            if intervals and f"{label}_lo" in s.frame:
                out[[f"{label}_lo", f"{label}_hi"]] = s.frame[[f"{label}_lo", f"{label}_hi"]]
        for label, s in self.labels.items():
            out = out.join(s.frame[s.explain_columns()].add_prefix(f"{label}."))
        if abstain and "abstain" in self.first.frame:
            out[["abstain", "abstain_reason"]] = self.first.frame[["abstain", "abstain_reason"]]
        return out

    def record(self, name: str) -> dict[str, Any]:
        """One input: `scores` {label: score, interval, raw_score, explanation}, `overall`, then the shared parts."""
        records = {label: s.record(name) for label, s in self.labels.items()}
        first = records[next(iter(records))]
        out: dict[str, Any] = {"filename": name, "scores": {
            label: {k: v for k, v in r.items() if k in ("score", "interval", "raw_score", "explanation")}
            for label, r in records.items()}}
        if self.weights and all(records[k]["score"] is not None for k in self.weights):
            out["overall"] = round(sum(records[k]["score"] * w for k, w in self.weights.items()), 4)
        return out | {k: v for k, v in first.items() if k not in ("filename", "score", "interval", "raw_score",
                                                                    "explanation")}

    def records(self):
        """`record` of every input, in input order."""
        return (self.record(name) for name in self.first.frame.index)

    def flagged(self) -> dict[str, str]:
        """Scored clips flagged by the abstain rules, with the reason."""
        return self.first.flagged()


def load_scorer(directory: str | os.PathLike, cache: Any = None, progress: bool = False,
                **runtime) -> "Scorer | MultiScorer":
    """The Scorer or MultiScorer a bundle holds (single-label bundles load as before)."""
    manifest = read_manifest(directory)
    if manifest.get("kind") == KIND:
        return MultiScorer.from_manifest(manifest, directory, cache, progress, **runtime)
    return Scorer.load(directory, cache, progress, **runtime)


__all__ = ["MultiEvaluation", "MultiScorer", "MultiScores", "load_scorer", "parse_overall"]
