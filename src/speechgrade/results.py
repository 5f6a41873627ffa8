"""Scores: what scoring returns to every front end (Python, CLI, HTTP), which each renders its own way."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator

import pandas as pd

from .extraction import ExtractReport

EXPLAIN = "explain."


def _round(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else round(value, 4)


def abstain_columns(frame: pd.DataFrame, scored: pd.Index, post, screen: pd.DataFrame | None,
                    problems: dict[str, str], warnings: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """`abstain` and `abstain_reason` for every row of `frame` (failures abstain with their reason; a featurizer's
    warnings, such as a hallucinated transcript, are reasons too)."""
    if screen is None:
        return frame
    reasons = pd.Series(None, index=frame.index, dtype=object)
    if len(scored):
        reasons[scored] = post.reasons(screen)
    for name, said in (warnings or {}).items():
        if said and name in reasons.index:
            reasons[name] = "; ".join(([reasons[name]] if reasons[name] else []) + said)
    for name, reason in problems.items():
        if name in reasons.index:
            reasons[name] = reason
    frame["abstain"], frame["abstain_reason"] = reasons.notna(), reasons.fillna("")
    return frame


def row_warnings(featurizers: list, X: pd.DataFrame, report: ExtractReport) -> dict[str, list[str]]:
    """Per scored row, what its featurizers warn about (from the cache: no model runs)."""
    out = {}
    for name in X.index:
        said = [w for f in featurizers for w in f.warnings(report.audio[name]["decoded_sha256"])]
        if said:
            out[name] = list(dict.fromkeys(said))
    return out


def row_details(featurizers: list, prefixes: list[str], X: pd.DataFrame, report: ExtractReport
                ) -> dict[str, dict[str, Any]]:
    """Per scored row: each featurizer's summary columns (`features`) and `details` (transcript, findings)."""
    out = {}
    for name in X.index:
        features, said = {}, {}
        for prefix, f in zip(prefixes, featurizers):
            features |= {f"{prefix}.{c}": float(X.at[name, f"{prefix}.{c}"]) for c in f.summary_columns()}
            said = f.details(report.audio[name]["decoded_sha256"]) | said  # the first to say a thing wins
        out[name] = {"features": features, **said}
    return out


@dataclass
class Scores:
    """One row per input in input order, failures in place (NaN scores, `problems` says why).

    `frame` columns, per label: `<label>`; `<label>_raw` with a rubric; `<label>_lo`, `<label>_hi` with intervals;
    `<label>.explain.<family>` and `<label>.explain.base` with explanations; then `overall` (with composite
    weights) and `abstain`, `abstain_reason` when abstaining.
    """

    labels: list[str]
    frame: pd.DataFrame
    problems: dict[str, str]
    report: ExtractReport
    coverage: float | None = None
    details: dict[str, dict[str, Any]] = field(default_factory=dict)  # filename -> features, transcript, words
    weights: dict[str, float] | None = None  # composite weights of `overall`
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # label -> (min, max) of its scale
    rows: list[str] | None = None  # one name per input row when a CSV repeats names (the output repeats them too)
    stretches: dict[str, dict[str, Any]] = field(default_factory=dict)  # filename -> stretches.stretch_record

    @property
    def label(self) -> str:
        """The first (with one label, the only) label."""
        return self.labels[0]

    def explain_columns(self, label: str | None = None) -> list[str]:
        """The `<label>.explain.*` columns present (of every label when `label` is None)."""
        prefixes = tuple(f"{lb}.{EXPLAIN}" for lb in ([label] if label else self.labels))
        return [c for c in self.frame.columns if c.startswith(prefixes)]

    def _label_record(self, row: pd.Series, label: str) -> dict[str, Any]:
        score = _round(row[label])
        out: dict[str, Any] = {"score": score}
        if label in self.ranges:
            out["range"] = list(self.ranges[label])
        if score is None:
            return out
        if label in self.ranges:  # a plain-words band: the lower, middle or upper third of the scale
            lo, hi = self.ranges[label]
            t = (score - lo) / max(hi - lo, 1e-9)
            out["band"] = "low" if t < 1 / 3 else "middle" if t < 2 / 3 else "high"
        if f"{label}_lo" in row:
            out["interval"] = {"lo": _round(row[f"{label}_lo"]), "hi": _round(row[f"{label}_hi"]),
                               "coverage": self.coverage}
        if f"{label}_raw" in row:
            out["raw_score"] = _round(row[f"{label}_raw"])
        prefix = f"{label}.{EXPLAIN}"
        explained = {c.removeprefix(prefix): _round(row[c]) for c in self.explain_columns(label)}
        if explained:
            out["explanation"] = explained
        return out

    def record(self, name: str) -> dict[str, Any]:
        """One input as a plain dict, the same for every front end: `filename`; `score` (the only label's, or the
        composite `overall` with several labels and weights, else null) with its `interval`, `raw_score` and
        `explanation`; `scores` {label: {score, range, interval, raw_score, explanation}}; `overall`; `abstain`;
        `error`; then the details (features, transcript, words, grammar findings); `stretches` when computed
        (`stretches.add_stretches`)."""
        row = self.frame.loc[name]
        scores = {label: self._label_record(row, label) for label in self.labels}
        headline = scores[self.label] if len(self.labels) == 1 else {"score": self._overall(row)}
        out: dict[str, Any] = {"filename": name, **{k: v for k, v in headline.items() if k != "range"},
                               "scores": scores}
        if self.weights:
            out["overall"] = self._overall(row)
        if "abstain_reason" in row:
            out["abstain"] = row["abstain_reason"] or None
        if name in self.problems:
            out["error"] = self.problems[name]
        details = self.details.get(name, {})
        if out.get("abstain") and (details.get("grammar_findings") or details.get("fluency_findings")):
            details = {**details, "grammar_findings": [], "fluency_findings": []}  # no advice on what was "heard" in noise
        return out | details | ({"stretches": self.stretches[name]} if name in self.stretches else {})

    def _overall(self, row: pd.Series) -> float | None:
        return _round(row["overall"]) if self.weights else None

    def records(self) -> Iterator[dict[str, Any]]:
        """`record` of every input, in input order."""
        return (self.record(name) for name in (self.rows or self.frame.index))

    def explanations(self, label: str | None = None) -> pd.DataFrame | None:
        """Each family's contribution (and `base`) per scored row for `label` (default the first); None for
        models without attributions."""
        label = label or self.label
        columns = self.explain_columns(label)
        if not columns:
            return None
        return self.frame[columns].dropna().rename(columns=lambda c: c.removeprefix(f"{label}.{EXPLAIN}"))

    def intervals(self, label: str | None = None) -> pd.DataFrame:
        """Columns score, lo, hi of `label` (default the first; coverage in attrs)."""
        label = label or self.label
        out = self.frame[[label, f"{label}_lo", f"{label}_hi"]].set_axis(["score", "lo", "hi"], axis=1)
        out.attrs["coverage"] = self.coverage
        return out

    def table(self, intervals: bool = False, abstain: bool = False, explain: bool = True) -> pd.DataFrame:
        """What `predict` writes as CSV: `<label>...`, `overall`, then `<label>_lo`/`_hi`, `abstain*`, and the
        explanations (`explain.<family>` with one label, `<label>.explain.<family>` with several)."""
        frame = self.frame
        keep = [*self.labels, *(["overall"] if self.weights else [])]
        if intervals:
            keep += [c for lb in self.labels for c in (f"{lb}_lo", f"{lb}_hi") if c in frame]
        if abstain and "abstain" in frame:
            keep += ["abstain", "abstain_reason"]
        if explain:
            keep += self.explain_columns()
        out = frame[keep] if self.rows is None else frame.loc[self.rows, keep]
        if len(self.labels) == 1:
            out = out.rename(columns=lambda c: c.removeprefix(f"{self.label}."))
        return out

    def flagged(self) -> dict[str, str]:
        """Scored clips flagged by the abstain rules, with the reason."""
        if "abstain_reason" not in self.frame:
            return {}
        return {n: r for n, r in self.frame["abstain_reason"].items() if r and n not in self.problems}
