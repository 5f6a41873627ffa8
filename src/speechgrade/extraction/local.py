"""The local engine: decode once, featurize what the cache lacks, report the rest, in this process."""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .. import columns as cols
from ..audio import MAX_AUDIO_S, MIN_SAMPLES, AudioInfo, AudioTooLong, UnusableAudio, audio_digest, check_usable, decode_with_info
from ..cache import as_cache, file_digest
from ..dataset import Dataset, Problem
from ..duplicates import FP_BANDS, duplicate_clusters, fingerprint
from ..errors import AudioError, ConfigError, ModelNotFoundError
from ..features import as_featurizers
from ..machine import cpu_count
from .progress import progress_bar

AUDIO_NS = "audio-v1"
FINGERPRINT_NS = "fingerprint-v1"
log = logging.getLogger("speechgrade.extract")
_OK_KEYS = {"digest": str, "duration_s": (int, float), "decoded_sha256": str}


def valid_audio_info(info: object) -> bool:
    """Whether a cached audio record has the shape this version writes (a damaged one is recomputed)."""
    if not isinstance(info, dict) or info.get("status") not in ("ok", "skipped", "failed"):
        return False
    if info["status"] != "ok":
        return isinstance(info.get("reason"), str)
    return all(isinstance(info.get(k), t) for k, t in _OK_KEYS.items())


def valid_fingerprint(fp: object) -> bool:
    """Whether a cached duplicate fingerprint has its shape (frames x bands)."""
    return isinstance(fp, np.ndarray) and fp.ndim == 2 and fp.shape[1] == FP_BANDS and len(fp) > 0


def valid_vector(vec: object, size: int) -> bool:
    """Whether a cached feature vector is a 1-D float array of the featurizer's length."""
    return isinstance(vec, np.ndarray) and vec.ndim == 1 and vec.shape[0] == size and vec.dtype.kind == "f"


@dataclass
class Clip:
    """A clip already decoded to mono 16 kHz float32 (an upload, a microphone), scored like a file."""

    name: str
    audio: np.ndarray
    info: AudioInfo | None = None


def as_dataset(data) -> tuple[Dataset, dict[str, Clip]]:
    """A Dataset (decoded clips get a row each, with an empty path) and the clips by name."""
    if isinstance(data, Dataset):
        return data, {}
    data = list(data)
    if data and all(isinstance(c, Clip) for c in data):
        clips = {c.name: c for c in data}
        table = pd.DataFrame({"path": [""] * len(clips)}, index=pd.Index(list(clips), name="filename"))
        return Dataset(table, order=list(clips)), clips
    return Dataset.from_paths(data), {}


@dataclass
class ExtractReport:
    """What happened to each file: computed, served from cache, skipped (unusable) or failed."""

    processed: int = 0
    cached: int = 0
    skipped: list[Problem] = field(default_factory=list)
    failed: list[Problem] = field(default_factory=list)
    audio: dict[str, dict] = field(default_factory=dict)  # filename -> digest, decoded hash, duration
    computed: list[str] = field(default_factory=list)  # files whose features were computed (not cached)
    damaged: int = 0  # cache entries of the wrong shape, treated as missing and recomputed
    by_featurizer: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> computed / cached counts

    def count(self, featurizer: str, computed: bool) -> None:
        """One clip's vector of one featurizer, computed or read from the cache."""
        counts = self.by_featurizer.setdefault(featurizer, {"computed": 0, "cached": 0})
        counts["computed" if computed else "cached"] += 1

    def to_dict(self) -> dict:
        """Plain-JSON summary."""
        return {"processed": self.processed, "cached": self.cached, "damaged_cache_entries": self.damaged,
                "by_featurizer": self.by_featurizer,
                "skipped": [[p.filename, p.reason] for p in self.skipped],
                "failed": [[p.filename, p.reason] for p in self.failed]}

    def problems(self) -> list[Problem]:
        """Failed, then skipped files."""
        return [*self.failed, *self.skipped]


@dataclass
class _Item:
    name: str
    path: Path
    digest: str = ""
    audio: np.ndarray | None = None
    clip: Clip | None = None
    needs: list[int] = field(default_factory=list)
    vectors: dict[int, np.ndarray] = field(default_factory=dict)
    problem: Problem | None = None
    skipped: bool = False


class Extractor:
    """Extract features for many files with one set of featurizers and a cache (the local engine)."""

    def __init__(self, featurizers, cache=None, batch_size: int = 8, min_samples: int = MIN_SAMPLES,
                 progress: bool = True, max_audio_s: float | None = MAX_AUDIO_S, workers: int | None = None):
        self.max_audio_s = max_audio_s
        self.workers = workers if workers is not None else min(2, cpu_count())
        self.featurizers = as_featurizers(featurizers)
        self.cache = as_cache(cache)
        self.batch_size = max(1, int(batch_size))
        self.min_samples = int(min_samples)
        self.progress = progress
        for f in self.featurizers:
            f.bind(self.cache)

    def prefixes(self) -> list[str]:
        """The column family of each featurizer, in order."""
        return cols.prefixes(f.name for f in self.featurizers)

    def columns(self) -> list[str]:
        """Output column names: `<prefix>.<feature>`."""
        return [cols.column(p, c) for p, f in zip(self.prefixes(), self.featurizers) for c in f.columns()]

    def _audio_key(self, digest: str) -> str:
        limit = "" if self.max_audio_s == MAX_AUDIO_S else f"|{self.max_audio_s}"  # old keys stay valid
        return hashlib.sha256(f"{digest}|{self.min_samples}{limit}".encode()).hexdigest()

    def _decode(self, item: _Item) -> tuple[np.ndarray, AudioInfo]:
        """Samples and info of a file, or of a decoded clip as given."""
        if item.clip is None:
            return decode_with_info(item.path, max_duration_s=self.max_audio_s)
        if self.max_audio_s is not None and len(item.clip.audio) > self.max_audio_s * 16000:
            raise AudioTooLong(item.name, f"longer than the limit of {self.max_audio_s:g} s")
        info = item.clip.info or AudioInfo("pcm_f32", "array", 16000, 1, len(item.clip.audio) / 16000)
        return np.asarray(item.clip.audio, np.float32), info

    def _prepare(self, item: _Item, report: ExtractReport) -> None:
        """Hash the file, look up the cache, decode only when something is missing."""
        try:
            item.digest = audio_digest(item.clip.audio) if item.clip is not None else file_digest(item.path)
        except OSError as exc:
            item.problem = Problem(item.name, f"cannot read file ({exc.strerror or exc})")
            return
        info = self.cache.get_json(AUDIO_NS, self._audio_key(item.digest))
        if info is not None and not valid_audio_info(info):
            info = self._damaged(report, item.name, "audio record")
        if info and info.get("status") != "ok":
            item.problem, item.skipped = Problem(item.name, info["reason"]), info["status"] == "skipped"
            return
        for k, f in enumerate(self.featurizers):
            vec = self.cache.get_array(f.cache_namespace, item.digest)
            if vec is not None and not valid_vector(vec, self._sizes[k]):
                vec = self._damaged(report, item.name, f"{f.name} vector")
            if vec is None:
                item.needs.append(k)
            else:
                item.vectors[k] = vec
        if info and not item.needs and valid_fingerprint(self.cache.get_array(FINGERPRINT_NS, item.digest)):
            report.audio[item.name] = info
            return
        try:
            audio, meta = self._decode(item)
            check_usable(audio, item.name if item.clip is not None else str(item.path), self.min_samples)
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

    def _damaged(self, report: ExtractReport, name: str, what: str) -> None:
        """Count a damaged cache entry (it is recomputed); the first one of a run is logged."""
        if not report.damaged:
            log.warning("damaged cache entry (%s of %s) in %s: recomputing it", what, name, self.cache.root)
        report.damaged += 1
        return None

    def _lanes(self) -> list[list[int]]:
        """Featurizer indices in two lanes that can run at once: those that transcribe (in order, so the first
        transcribes and the rest read the cached transcript), and the others (acoustic, encoder, screen)."""
        speech = [k for k, f in enumerate(self.featurizers) if f.stage == "transcribing"]
        other = [k for k in range(len(self.featurizers)) if k not in speech]
        return [lane for lane in (speech, other) if lane]

    def _featurize(self, items: list[_Item], on_stage: Callable[[str], None] | None = None) -> None:
        """Run each featurizer on the items that need it, batched; a failing file fails alone. With two workers
        the transcribing lane and the other featurizers run at the same time (both cores busy while Whisper
        decodes). `on_stage` hears what is being done ("transcribing", then "measuring")."""
        lanes = [[k for k in lane if any(it.problem is None and k in it.needs for it in items)]
                 for lane in self._lanes()]
        lanes = [lane for lane in lanes if lane]
        if self.workers < 2 or len(lanes) < 2:
            for k in [k for lane in lanes for k in lane]:
                self._run_featurizer(k, items, on_stage)
            return
        with ThreadPoolExecutor(2, thread_name_prefix="speechgrade-lane") as pool:
            other = pool.submit(lambda: [self._run_featurizer(k, items) for k in lanes[1]])
            for k in lanes[0]:
                self._run_featurizer(k, items, on_stage)
            if not other.done() and on_stage is not None:
                on_stage("measuring")
            other.result()

    def _run_featurizer(self, k: int, items: list[_Item], on_stage: Callable[[str], None] | None = None) -> None:
        """Featurizer k on the items that need it, batched; a clip it fails on fails alone."""
        f = self.featurizers[k]
        todo = [it for it in items if it.problem is None and k in it.needs]
        if not todo:
            return
        if on_stage is not None:
            on_stage(f.stage)
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

    def run(self, data, on_stage: Callable[[str], None] | None = None) -> tuple[pd.DataFrame, ExtractReport]:
        """Features of every usable file or clip (rows indexed by filename) and the report of the rest; `data` is a
        Dataset, a list of paths or a list of Clips. `on_stage` hears what is being done ("decoding",
        "transcribing", "measuring"), for progress lines."""
        dataset, clips = as_dataset(data)
        report = ExtractReport(failed=list(p for p in dataset.problems if "not found" in p.reason))
        columns = self.columns()
        self._sizes = [len(f.columns()) for f in self.featurizers]
        rows: dict[str, np.ndarray] = {}
        names, paths = dataset.filenames, dataset.paths
        with progress_bar(self.progress, len(names)) as advance:
            for start in range(0, len(names), self.batch_size):
                items = [_Item(n, p, clip=clips.get(n)) for n, p in zip(names[start:start + self.batch_size],
                                                                         paths[start:start + self.batch_size])]
                if on_stage is not None:
                    on_stage("decoding")
                for it in items:
                    self._prepare(it, report)
                self._featurize(items, on_stage)
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
                    for k, f in enumerate(self.featurizers):
                        report.count(f.name, k in it.needs)
                    rows[it.name] = np.concatenate([it.vectors[k] for k in range(len(self.featurizers))])
                    it.audio = None
                advance(len(items))
        table = pd.DataFrame.from_dict(rows, orient="index", columns=columns, dtype=np.float32) if rows \
            else pd.DataFrame(columns=columns, dtype=np.float32)
        table.index.name = "filename"
        return table, report

    def duplicates(self, names: Sequence[str], report: ExtractReport) -> list[list[str]]:
        """Clusters of exact/near-duplicate recordings among extracted files."""
        names = [n for n in names if n in report.audio]
        digests = [report.audio[n]["digest"] for n in names]

        def fingerprint_of(i: int) -> np.ndarray:  # from the cache, one at a time: memory stays flat
            fp = self.cache.get_array(FINGERPRINT_NS, digests[i])
            return fp if fp is not None else np.zeros((1, FP_BANDS), np.float16)

        return duplicate_clusters(list(names), [report.audio[n]["decoded_sha256"] for n in names], fingerprint_of)
