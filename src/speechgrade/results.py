"""Scores: what scoring returns to every front end (Python, CLI, HTTP), which each renders its own way."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import pandas as pd

from .extraction import ExtractReport

EXPLAIN = "explain."


def _round(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else round(value, 4)


def score_frame(label: str, order: list[str], scored: pd.Index, raw: np.ndarray, post, screen: pd.DataFrame | None,
                problems: dict[str, str], intervals: bool) -> pd.DataFrame:
    """The Scores frame: raw scores of the `scored` rows through the fitted post-processing `post`, every input in
    `order` (NaN where not scored); abstain columns when `screen` is given (failures abstain with their reason)."""
    frame = pd.DataFrame({label: np.nan}, index=pd.Index(order, name="filename"), dtype=np.float64)
    frame.loc[scored, label] = post.scores(raw)
    if post.rubric_.active:
        frame[f"{label}_raw"] = np.nan
        frame.loc[scored, f"{label}_raw"] = raw
    if intervals:
        frame[f"{label}_lo"], frame[f"{label}_hi"] = post.interval(frame[label].to_numpy())
    if screen is not None:
        reasons = pd.Series(None, index=frame.index, dtype=object)
        if len(scored):
            reasons[scored] = post.reasons(screen)
        for name, reason in problems.items():
            if name in reasons.index:
                reasons[name] = reason
        frame["abstain"], frame["abstain_reason"] = reasons.notna(), reasons.fillna("")
    return frame


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
    """One row per input in input order, failures in place (NaN score, `problems` says why).

    `frame` columns: `<label>`; `<label>_raw` with a rubric; `<label>_lo`, `<label>_hi` with intervals;
    `abstain`, `abstain_reason` when abstaining; `explain.<family>`, `explain.base` with explanations.
    """

    label: str
    frame: pd.DataFrame
    problems: dict[str, str]
    report: ExtractReport
    coverage: float | None = None
    details: dict[str, dict[str, Any]] = field(default_factory=dict)  # filename -> features, transcript, words

    def explain_columns(self) -> list[str]:
        """The `explain.*` columns present."""
        return [c for c in self.frame.columns if c.startswith(EXPLAIN)]

    def record(self, name: str) -> dict[str, Any]:
        """One input as a plain dict: filename, score, interval, raw_score, abstain, explanation, error, details."""
        row, label = self.frame.loc[name], self.label
        score = _round(row[label])
        out: dict[str, Any] = {"filename": name, "score": score}
        if score is not None:
            if f"{label}_lo" in row:
                out["interval"] = {"lo": _round(row[f"{label}_lo"]), "hi": _round(row[f"{label}_hi"]),
                                   "coverage": self.coverage}
            if f"{label}_raw" in row:
                out["raw_score"] = _round(row[f"{label}_raw"])
            explained = {c.removeprefix(EXPLAIN): _round(row[c]) for c in self.explain_columns()}
            if explained:
                out["explanation"] = explained
        if "abstain_reason" in row:
            out["abstain"] = row["abstain_reason"] or None
        if name in self.problems:
            out["error"] = self.problems[name]
        return out | self.details.get(name, {})

    def records(self) -> Iterator[dict[str, Any]]:
        """`record` of every input, in input order."""
        return (self.record(name) for name in self.frame.index)

    def explanations(self) -> pd.DataFrame | None:
        """Each family's contribution (and `base`) per scored row; None for models without attributions."""
        columns = self.explain_columns()
        if not columns:
            return None
        return self.frame[columns].dropna().rename(columns=lambda c: c.removeprefix(EXPLAIN))

    def intervals(self) -> pd.DataFrame:
        """Columns score, lo, hi (coverage in attrs)."""
        label = self.label
        out = self.frame[[label, f"{label}_lo", f"{label}_hi"]].set_axis(["score", "lo", "hi"], axis=1)
        out.attrs["coverage"] = self.coverage
        return out

    def flagged(self) -> dict[str, str]:
        """Scored clips flagged by the abstain rules, with the reason."""
        if "abstain_reason" not in self.frame:
            return {}
        return {n: r for n, r in self.frame["abstain_reason"].items() if r and n not in self.problems}
