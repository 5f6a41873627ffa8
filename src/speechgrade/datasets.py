"""Datasets that ship with speechgrade."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .dataset import Dataset, load_dataset

SAMPLE_LABELS = ("total", "accuracy", "fluency", "prosodic")


def sample_dir() -> Path:
    """Folder of the bundled speechocean762 sample (scores.csv, wav/, README.md)."""
    return Path(str(resources.files("speechgrade") / "data" / "sample"))


def sample(label: str = "total") -> Dataset:
    """79 clips of non-native read English with expert scores (speechocean762 sample, CC BY 4.0)."""
    root = sample_dir()
    return load_dataset(root / "scores.csv", root / "wav", label_column=label)
