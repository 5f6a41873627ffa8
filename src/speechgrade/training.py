"""A labelled dataset made ready for learning: features, labels, groups (duplicates kept together), the
`screen` measures, and the features of augmented copies."""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from . import columns as cols
from .augment import NAMESPACE as AUGMENT_NS, Augmenter
from .cache import MemoryCache
from .dataset import Dataset, Problem
from .duplicates import combine_groups
from .errors import DatasetError
from .extraction import ExtractReport


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

    def for_label(self, dataset: Dataset, label: str) -> tuple[Dataset, "Prepared"]:
        """The dataset and rows of one label: rows without it left out, augmented copies kept with their sources."""
        values = dataset.table.loc[self.names, label].to_numpy(np.float64)
        keep = np.flatnonzero(np.isfinite(values))
        if len(keep) < 4:
            raise DatasetError(f"label '{label}': only {len(keep)} clips have it; need at least 4 to learn")
        out = Prepared(self.X.iloc[keep], values[keep], None if self.groups is None else self.groups[keep],
                       self.report, self.duplicates, None if self.screen is None else self.screen.iloc[keep])
        if self.augmented is not None and len(self.augmented):
            remap = {int(old): new for new, old in enumerate(keep)}
            rows = [i for i, s in enumerate(self.source) if int(s) in remap]
            out.augmented = self.augmented.iloc[rows]
            out.source = np.array([remap[int(self.source[i])] for i in rows], int)
        return dataset.with_label(label), out

    def fingerprint(self) -> str:
        """Hash of (file content, label) pairs: identifies the training data."""
        h = hashlib.sha256()
        for name, label in sorted(zip(self.names, self.y)):
            h.update(f"{self.report.audio.get(name, {}).get('digest', name)}:{label!r};".encode())
        return h.hexdigest()


def split_screen(X: pd.DataFrame, screen_family: str | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Model columns, and the screen measures (plain feature names) when a screen family is given."""
    if screen_family is None:
        return X, None
    screen = [c for c in X.columns if cols.family(c) == screen_family]
    model = [c for c in X.columns if cols.family(c) != screen_family]
    return X[model], X[screen].set_axis([cols.feature(c) for c in screen], axis=1)


def prepare(dataset: Dataset, extractor, screen_family: str | None = None, group_duplicates: bool = True,
            augment: int = 0, augment_ops: Sequence[str] = (), seed: int = 0) -> Prepared:
    """Extract (or read cached) features; combine user groups with duplicate clusters; add augmented copies."""
    if dataset.label is None:
        raise DatasetError("training and evaluation need a label column")
    X, report = extractor.run(dataset)
    X, screen = split_screen(X, screen_family)
    if len(X) < 4:
        raise DatasetError(f"only {len(X)} usable clips after extraction; need at least 4 to learn "
                           f"({len(report.failed)} failed, {len(report.skipped)} skipped)")
    names = [str(i) for i in X.index]
    y = dataset.table.loc[names, dataset.label].to_numpy(np.float64)
    user = dataset.table.loc[names, "group"].astype(str).to_numpy() if "group" in dataset.table else None
    clusters = extractor.duplicates(names, report) if group_duplicates else []
    groups = combine_groups(names, user, clusters) if (user is not None or clusters) else None
    data = Prepared(X, y, groups, report, clusters, screen)
    if augment:
        data.augmented, data.source = augmented_features(dataset, data, extractor, screen_family,
                                                         Augmenter(augment, augment_ops, seed))
    return data


def augmented_features(dataset: Dataset, data: Prepared, extractor, screen_family: str | None,
                       augmenter: Augmenter) -> tuple[pd.DataFrame, np.ndarray]:
    """Features of the augmented copies of every usable clip, and each copy's source row (files made once, in
    the cache folder; with an in-memory cache, in a temporary folder removed once their features are extracted)."""
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="speechgrade-"))) \
            if isinstance(extractor.cache, MemoryCache) else extractor.cache.root
        rows = []
        for i, name in enumerate(data.names):
            path, digest = Path(dataset.table.loc[name, "path"]), data.report.audio[name]["digest"]
            try:
                copies = augmenter.copies_of(path, digest, root / AUGMENT_NS)
            except Exception as exc:  # one clip that will not augment must not stop training
                data.report.failed.append(Problem(f"{name}#aug", f"augmentation failed: {type(exc).__name__}: {exc}"))
                continue
            rows += [{"filename": f"{name}#aug{k}", "path": str(c), "source": i}
                     for k, (c, _) in enumerate(copies, 1)]
        table = pd.DataFrame(rows, columns=["filename", "path", "source"]).set_index("filename")
        X, _ = extractor.run(Dataset(table))
    X, _ = split_screen(X, screen_family)
    return X, table.loc[X.index, "source"].to_numpy(int)
