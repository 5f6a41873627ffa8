"""The composite score: weights over sub-scores (`--overall`), and its out-of-fold figures."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .dataset import Dataset
from .errors import ConfigError
from .crossval import LabelEvaluation
from .metrics import metrics, summarise


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


def overall_figures(evs: dict[str, LabelEvaluation], weights: dict[str, float], dataset: Dataset) -> dict | None:
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
