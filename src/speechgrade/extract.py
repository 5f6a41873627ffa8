"""Turn a dataset into a feature table: decode once, featurize what the cache lacks, report the rest."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.console import Console
from rich.text import Text

from .audio import MIN_SAMPLES, UnusableAudio, audio_digest, check_usable, decode_with_info
from .cache import FeatureCache, file_digest
from .dataset import Dataset, Problem
from .duplicates import duplicate_clusters, fingerprint
from .errors import AudioError, ConfigError, ModelNotFoundError
from .features import Featurizer, get_featurizer, split_specs

AUDIO_NS = "audio-v1"
FINGERPRINT_NS = "fingerprint-v1"


class MemoryCache(FeatureCache):
    """A FeatureCache that keeps everything in memory (for `cache=False`)."""

    def __init__(self):
        self.root = Path("<memory>")
        self._store: dict[tuple[str, str], Any] = {}

    def get_array(self, namespace, key):
        return self._store.get((namespace, key))

    def put_array(self, namespace, key, array):
        self._store[(namespace, key)] = np.asarray(array)

    def get_json(self, namespace, key):
        return self._store.get((namespace, key))

    def put_json(self, namespace, key, value):
        self._store[(namespace, key)] = value


def as_cache(cache: "FeatureCache | str | os.PathLike | None | bool") -> FeatureCache:
    """A FeatureCache from a cache, a folder, None (the default folder) or False (in memory)."""
    if isinstance(cache, FeatureCache):
        return cache
    if cache is False:
        return MemoryCache()
    return FeatureCache(None if cache in (None, True) else cache)


def as_featurizers(featurizers: "str | Featurizer | Sequence[str | Featurizer]") -> list[Featurizer]:
    """Featurizer objects from specs (`"acoustic,ssl:DIR"`), objects, or a list of either."""
    if isinstance(featurizers, (str, Featurizer)):
        featurizers = split_specs(featurizers) if isinstance(featurizers, str) else [featurizers]
    out = [get_featurizer(f) for f in featurizers]
    if not out:
        raise ConfigError("no featurizer given")
    return out


def column_prefixes(featurizers: Sequence[Featurizer]) -> list[str]:
    """Column prefix per featurizer: its name, numbered when a name repeats (`ssl`, `ssl-2`)."""
    seen: dict[str, int] = {}
    out = []
    for f in featurizers:
        seen[f.name] = seen.get(f.name, 0) + 1
        out.append(f.name if seen[f.name] == 1 else f"{f.name}-{seen[f.name]}")
    return out


@dataclass
class ExtractReport:
    """What happened to each file: computed, served from cache, skipped (unusable) or failed."""

    processed: int = 0
    cached: int = 0
    skipped: list[Problem] = field(default_factory=list)
    failed: list[Problem] = field(default_factory=list)
    audio: dict[str, dict] = field(default_factory=dict)  # filename -> digest, decoded hash, duration
    computed: list[str] = field(default_factory=list)  # files whose features were computed (not cached)

    def to_dict(self) -> dict:
        """Plain-JSON summary."""
        return {"processed": self.processed, "cached": self.cached,
                "skipped": [[p.filename, p.reason] for p in self.skipped],
                "failed": [[p.filename, p.reason] for p in self.failed]}


@dataclass
class _Item:
    name: str
    path: Path
    digest: str = ""
    audio: np.ndarray | None = None
    needs: list[int] = field(default_factory=list)
    vectors: dict[int, np.ndarray] = field(default_factory=dict)
    problem: Problem | None = None
    skipped: bool = False


class Extractor:
    """Extract features for many files with one set of featurizers and a cache (the local engine)."""

    def __init__(self, featurizers, cache=None, batch_size: int = 8, min_samples: int = MIN_SAMPLES,
                 progress: bool = True):
        self.featurizers = as_featurizers(featurizers)
        self.cache = as_cache(cache)
        self.batch_size = max(1, int(batch_size))
        self.min_samples = int(min_samples)
        self.progress = progress
        for f in self.featurizers:
            f.bind(self.cache)

    def columns(self) -> list[str]:
        """Output column names: `<prefix>.<feature>`."""
        return [f"{p}.{c}" for p, f in zip(column_prefixes(self.featurizers), self.featurizers) for c in f.columns()]

    def _audio_key(self, digest: str) -> str:
        return hashlib.sha256(f"{digest}|{self.min_samples}".encode()).hexdigest()

    def _prepare(self, item: _Item, report: ExtractReport) -> None:
        """Hash the file, look up the cache, decode only when something is missing."""
        try:
            item.digest = file_digest(item.path)
        except OSError as exc:
            item.problem = Problem(item.name, f"cannot read file ({exc.strerror or exc})")
            return
        info = self.cache.get_json(AUDIO_NS, self._audio_key(item.digest))
        if info and info.get("status") != "ok":
            item.problem, item.skipped = Problem(item.name, info["reason"]), info["status"] == "skipped"
            return
        for k, f in enumerate(self.featurizers):
            vec = self.cache.get_array(f.cache_namespace, item.digest)
            if vec is None:
                item.needs.append(k)
            else:
                item.vectors[k] = vec
        if info and not item.needs and self.cache.get_array(FINGERPRINT_NS, item.digest) is not None:
            report.audio[item.name] = info
            return
        try:
            audio, meta = decode_with_info(item.path)
            check_usable(audio, str(item.path), self.min_samples)
        except AudioError as exc:
            item.problem, item.skipped = Problem(item.name, exc.reason), isinstance(exc, UnusableAudio)
            self.cache.put_json(AUDIO_NS, self._audio_key(item.digest),
                                {"status": "skipped" if item.skipped else "failed", "reason": exc.reason})
            return
        info = {"status": "ok", "digest": item.digest, "duration_s": meta.duration_s,
                "source_rate": meta.source_rate, "channels": meta.channels, "codec": meta.codec,
                "decoded_sha256": audio_digest(audio)}
        self.cache.put_array(FINGERPRINT_NS, item.digest, fingerprint(audio))
        self.cache.put_json(AUDIO_NS, self._audio_key(item.digest), info)
        report.audio[item.name] = info
        item.audio = audio

    def _featurize(self, items: list[_Item]) -> None:
        """Run each featurizer on the items that need it, batched; a failing file fails alone."""
        for k, f in enumerate(self.featurizers):
            todo = [it for it in items if it.problem is None and k in it.needs]
            if not todo:
                continue
            try:
                vectors = f.featurize_batch([it.audio for it in todo])
            except (ConfigError, ModelNotFoundError):
                raise
            except Exception:
                vectors = []
                for it in todo:
                    try:
                        vectors.append(f.featurize(it.audio))
                    except (ConfigError, ModelNotFoundError):
                        raise
                    except Exception as exc:  # one bad clip must not abort the batch
                        it.problem = Problem(it.name, f"{f.name} failed: {type(exc).__name__}: {exc}")
                        vectors.append(None)
            for it, vec in zip(todo, vectors):
                if vec is None:
                    continue
                vec = np.asarray(vec, dtype=np.float32)
                self.cache.put_array(f.cache_namespace, it.digest, vec)
                it.vectors[k] = vec

    def run(self, dataset: Dataset | Iterable[str | os.PathLike]) -> tuple[pd.DataFrame, ExtractReport]:
        """Features of every usable file (rows indexed by filename) and the report of the rest."""
        if not isinstance(dataset, Dataset):
            dataset = Dataset.from_paths(dataset)
        report = ExtractReport(failed=list(p for p in dataset.problems if "not found" in p.reason))
        columns = self.columns()
        rows: dict[str, np.ndarray] = {}
        names, paths = dataset.filenames, dataset.paths
        with _progress(self.progress, len(names)) as advance:
            for start in range(0, len(names), self.batch_size):
                items = [_Item(n, p) for n, p in zip(names[start:start + self.batch_size],
                                                      paths[start:start + self.batch_size])]
                for it in items:
                    self._prepare(it, report)
                self._featurize(items)
                for it in items:
                    if it.problem is not None:
                        (report.skipped if it.skipped else report.failed).append(it.problem)
                        report.audio.pop(it.name, None)
                        continue
                    if it.needs:
                        report.processed += 1
                        report.computed.append(it.name)
                    else:
                        report.cached += 1
                    rows[it.name] = np.concatenate([it.vectors[k] for k in range(len(self.featurizers))])
                    it.audio = None
                advance(len(items))
        table = pd.DataFrame.from_dict(rows, orient="index", columns=columns, dtype=np.float32) if rows \
            else pd.DataFrame(columns=columns, dtype=np.float32)
        table.index.name = "filename"
        return table, report

    def fingerprints(self, names: Sequence[str], report: ExtractReport) -> list[np.ndarray]:
        """Cached duplicate fingerprints of extracted files."""
        return [self.cache.get_array(FINGERPRINT_NS, report.audio[n]["digest"]) for n in names]

    def duplicates(self, names: Sequence[str], report: ExtractReport) -> list[list[str]]:
        """Clusters of exact/near-duplicate recordings among extracted files."""
        names = [n for n in names if n in report.audio]
        return duplicate_clusters(list(names), [report.audio[n]["decoded_sha256"] for n in names],
                                  self.fingerprints(names, report))


class SpeedColumn(ProgressColumn):
    """Files per second."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} files/s" if speed else "- files/s")


class _progress:
    """A rich progress bar (files/s, ETA) that does nothing when disabled."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total = enabled, total

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        self._bar = Progress(TextColumn("[bold]extracting"), BarColumn(), MofNCompleteColumn(), SpeedColumn(),
                             TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                             console=Console(stderr=True))  # stdout carries results (predict writes CSV there)
        self._bar.start()
        task = self._bar.add_task("extract", total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc):
        if self.enabled:
            self._bar.stop()
        return False


def make_extractor(featurizers, cache=None, batch_size: int = 8, min_samples: int = MIN_SAMPLES,
                   progress: bool = False, engine: str = "local", **engine_options):
    """The local Extractor, or the Ray one (`engine="ray"`, options: address, num_gpus_per_worker, workers)."""
    if engine == "local":
        return Extractor(featurizers, cache, batch_size, min_samples, progress)
    if engine == "ray":
        from .engines.ray import RayExtractor

        return RayExtractor(featurizers, cache, batch_size, min_samples, progress, **engine_options)
    raise ConfigError(f"unknown engine '{engine}' (local or ray)")


def extract(dataset: Dataset | Iterable[str | os.PathLike], featurizers="acoustic", cache=None,
            progress: bool = False, batch_size: int = 8, min_samples: int = MIN_SAMPLES, engine: str = "local",
            **engine_options) -> pd.DataFrame:
    """Feature table (pandas, indexed by filename); `table.attrs["report"]` summarises skips and failures.

    `engine="ray"` runs extraction on a Ray cluster (`address=...`, `num_gpus_per_worker=...`).
    """
    table, report = make_extractor(featurizers, cache, batch_size, min_samples, progress, engine,
                                   **engine_options).run(dataset)
    table.attrs["report"] = report.to_dict()
    return table
