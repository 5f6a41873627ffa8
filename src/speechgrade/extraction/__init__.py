"""Extraction: a dataset (or decoded clips) in, a feature table and a report out.

Two engines: `local` (this process, `local.py`) and `ray` (a Ray cluster, `ray.py`); `make_extractor` is the
only place that knows them. Both write the same content-addressed cache and return the same table.
"""

from __future__ import annotations

import os
from typing import Iterable

import pandas as pd

from ..audio import MAX_AUDIO_S, MIN_SAMPLES
from ..dataset import Dataset
from ..errors import ConfigError
from dataclasses import dataclass
from typing import Any

from .local import Clip, ExtractReport, Extractor, as_dataset

ENGINES = ("local", "ray")

__all__ = ["ENGINES", "Clip", "ExtractReport", "Extracted", "Extractor", "as_dataset", "extract", "make_extractor"]


@dataclass
class Extracted:
    """Extracted features of some inputs, ready to score: the dataset, extractor, model columns, screen, report."""

    dataset: Dataset
    extractor: Any
    X: pd.DataFrame
    screen: pd.DataFrame | None
    report: ExtractReport


def make_extractor(featurizers, cache=None, batch_size: int = 8, min_samples: int = MIN_SAMPLES,
                   progress: bool = False, engine: str = "local", max_audio_s: float | None = MAX_AUDIO_S,
                   fingerprints: bool = True, **engine_options):
    """The local Extractor, or the Ray one (`engine="ray"`, options: address, num_gpus_per_worker, workers), with
    the same options. Files longer than `max_audio_s` are refused with a reason (memory grows with the decoded
    clip); `fingerprints=False` (prediction) keeps no duplicate fingerprints."""
    if engine == "local":
        return Extractor(featurizers, cache, batch_size, min_samples, progress, max_audio_s, fingerprints=fingerprints)
    if engine == "ray":
        from .ray import RayExtractor

        return RayExtractor(featurizers, cache, batch_size, min_samples, progress, max_audio_s, fingerprints,
                            **engine_options)
    raise ConfigError(f"unknown engine '{engine}' ({' or '.join(ENGINES)})")


def extract(dataset: "Dataset | Iterable[str | os.PathLike]", featurizers="acoustic", cache=None,
            progress: bool = False, batch_size: int = 8, min_samples: int = MIN_SAMPLES, engine: str = "local",
            max_audio_s: float | None = MAX_AUDIO_S, **engine_options) -> pd.DataFrame:
    """Feature table (pandas, indexed by filename); `table.attrs["report"]` summarises skips and failures.

    `engine="ray"` runs extraction on a Ray cluster (`address=...`, `num_gpus_per_worker=...`).
    """
    table, report = make_extractor(featurizers, cache, batch_size, min_samples, progress, engine, max_audio_s,
                                   **engine_options).run(dataset)
    table.attrs["report"] = report.to_dict()
    return table
