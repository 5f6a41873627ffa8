"""The local engine: decode once, featurize what the cache lacks, report the rest, in this process."""

from __future__ import annotations

import hashlib
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .. import columns as cols
from ..audio import MAX_AUDIO_S, MIN_SAMPLES, AudioInfo, AudioTooLong, UnusableAudio, audio_digest, check_usable, decode_with_info
from ..cache import as_cache, file_digest
from ..dataset import Clip, Dataset, Problem, as_dataset  # noqa: F401  (Clip, as_dataset: the engines' inputs)
from ..duplicates import FP_BANDS, duplicate_clusters, fingerprint
from ..errors import AudioError, ConfigError, ModelNotFoundError
from ..features import as_featurizers
from ..machine import cpu_count
from .progress import progress_bar

AUDIO_NS = "audio-v1"
FINGERPRINT_NS = "fingerprint-v1"
log = logging.getLogger("speechgrade.extract")
# a batch's side featurizers run while the next batch is decoded and transcribed, so two batches of audio are held;
# past this many samples in one batch (hostile or very long clips) the batch is finished first
PIPELINE_MAX_SAMPLES = 16000 * 60 * 30
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
    digest: str = ""  # of the file's bytes (a clip's: of its samples), the key of its cache entries
    decoded: str = ""  # SHA-256 of the decoded samples (`decoded_sha256`), hashed once per run
    audio: np.ndarray | None = None
    clip: Clip | None = None
    needs: list[int] = field(default_factory=list)
    vectors: dict[int, np.ndarray] = field(default_factory=dict)
    problem: Problem | None = None
    skipped: bool = False


class Extractor:
    """Extract features for many files with one set of featurizers and a cache (the local engine).

    `fingerprints`: keep each clip's duplicate fingerprint in the cache (what `duplicates` reads); training and
    evaluation look for duplicates, prediction does not and leaves it False."""

    def __init__(self, featurizers, cache=None, batch_size: int = 8, min_samples: int = MIN_SAMPLES,
                 progress: bool = True, max_audio_s: float | None = MAX_AUDIO_S, workers: int | None = None,
                 fingerprints: bool = True):
        self.max_audio_s = max_audio_s
        self.fingerprints = fingerprints
        self.workers = workers if workers is not None else min(2, cpu_count())
        self.featurizers = as_featurizers(featurizers)
        self.cache = as_cache(cache)
        self.batch_size = max(1, int(batch_size))
        self.min_samples = int(min_samples)
        self.progress = progress
        self._sizes: dict[int, int] = {}
        self._namespaces: list[str] | None = None
        self._lock = threading.Lock()
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

    def namespaces(self) -> list[str]:
        """Each featurizer's cache folder, computed once per extractor: a namespace hashes the featurizer's
        identity, and that may read its weights (`ssl` digests up to 4 MiB of each weights file)."""
        with self._lock:  # batch items are prepared two at a time
            if self._namespaces is None:
                self._namespaces = [f.cache_namespace for f in self.featurizers]
            return self._namespaces

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
        for k, (f, namespace) in enumerate(zip(self.featurizers, self.namespaces())):
            vec = self.cache.get_array(namespace, item.digest)
            if vec is not None and not valid_vector(vec, self._size(k)):
                vec = self._damaged(report, item.name, f"{f.name} vector")
            if vec is None:
                item.needs.append(k)
            else:
                item.vectors[k] = vec
        has_fp = not self.fingerprints or valid_fingerprint(self.cache.get_array(FINGERPRINT_NS, item.digest))
        if info and not item.needs and has_fp:
            report.audio[item.name] = info
            item.decoded = info["decoded_sha256"]
            return
        try:
            audio, meta = self._decode(item)
            check_usable(audio, item.name if item.clip is not None else str(item.path), self.min_samples)
        except AudioError as exc:
            item.problem, item.skipped = Problem(item.name, exc.reason), isinstance(exc, UnusableAudio)
            self.cache.put_json(AUDIO_NS, self._audio_key(item.digest),
                                {"status": "skipped" if item.skipped else "failed", "reason": exc.reason})
            return
        # a clip's digest already is the hash of these samples (_decode gives them as float32, as hashed)
        item.decoded = item.digest if item.clip is not None else audio_digest(audio)
        info = {"status": "ok", "digest": item.digest, "duration_s": meta.duration_s,
                "source_rate": meta.source_rate, "channels": meta.channels, "codec": meta.codec,
                "decoded_sha256": item.decoded}
        if not has_fp:
            self.cache.put_array(FINGERPRINT_NS, item.digest, fingerprint(audio))
        self.cache.put_json(AUDIO_NS, self._audio_key(item.digest), info)
        report.audio[item.name] = info
        item.audio = audio

    def _size(self, k: int) -> int:
        """Featurizer k's vector length, asked only when a cached vector is checked: some featurizers load their
        model to know it, and on an empty cache that load is better left to the thread that featurizes."""
        with self._lock:
            if k not in self._sizes:
                self._sizes[k] = len(self.featurizers[k].columns())
            return self._sizes[k]

    def _prepare_all(self, items: list[_Item], report: ExtractReport) -> None:
        """Prepare a batch's items, two at a time with two workers (decoding and hashing release the GIL)."""
        if self.workers < 2 or len(items) < 2:
            for it in items:
                self._prepare(it, report)
            return
        with ThreadPoolExecutor(2, thread_name_prefix="speechgrade-decode") as pool:
            list(pool.map(lambda it: self._prepare(it, report), items))

    def _damaged(self, report: ExtractReport, name: str, what: str) -> None:
        """Count a damaged cache entry (it is recomputed); the first one of a run is logged."""
        with self._lock:  # batch items are prepared two at a time
            if not report.damaged:
                log.warning("damaged cache entry (%s of %s) in %s: recomputing it", what, name, self.cache.root)
            report.damaged += 1
        return None

    def _featurize(self, items: list[_Item], side: ThreadPoolExecutor,
                   on_stage: Callable[[str], None] | None = None) -> list[Future]:
        """Run each featurizer on the items that need it, batched; a failing file fails alone. With two workers,
        transcription runs here while the featurizers that do not transcribe (acoustic, encoder, screen, then those
        that read the fresh transcripts) run on the `side` thread: the returned futures, which may still be running
        while the next batch is decoded and transcribed (both cores busy while Whisper decodes, and no core idle
        while one thread parses transcripts). `on_stage` hears what is being done."""
        needed = [k for k in range(len(self.featurizers)) if any(it.problem is None and k in it.needs for it in items)]
        speech = [k for k in needed if self.featurizers[k].stage == "transcribing"]
        head, readers = speech[:1], speech[1:]  # the first transcribes; the rest read its cached transcripts
        other = [k for k in needed if k not in speech]
        if self.workers < 2 or not (other or readers):
            for k in speech + other:
                self._run_featurizer(k, items, on_stage)
            return []
        futures = [side.submit(self._run_featurizers, other, items)] if other else []
        sent = self._transcribe_first(head[0], items, readers, side, futures, on_stage) if readers else set()
        for k in head:
            self._run_featurizer(k, items, on_stage)
        rest = [it for i, it in enumerate(items) if i not in sent]
        if readers and rest:
            futures.append(side.submit(self._run_featurizers, readers, rest))
        return futures

    def _transcribe_first(self, head: int, items: list[_Item], readers: list[int], side: ThreadPoolExecutor,
                          futures: list[Future], on_stage: Callable[[str], None] | None) -> set[int]:
        """Transcribe the batch with the head featurizer's transcriber, handing each clip to the readers on the
        side thread as soon as its transcript is cached (they fill the core that the last transcription leaves
        idle; their futures join `futures`). A clip that fails fails alone, with the message the head featurizer
        would give. Returns the indices of the items handed over."""
        f = self.featurizers[head]
        todo = [i for i, it in enumerate(items) if it.problem is None and head in it.needs]
        sent: set[int] = set()
        if not hasattr(f, "transcriber") or not todo:
            return sent
        if on_stage is not None:
            on_stage(f.stage)

        def done(j: int, error: BaseException | None) -> None:
            it = items[todo[j]]
            if isinstance(error, (ConfigError, ModelNotFoundError)):
                return  # raised below, for the whole run
            if error is not None:  # as the head featurizer would report it, without a second try
                it.problem = Problem(it.name, f"{f.name} failed: {type(error).__name__}: {error}")
                return
            sent.add(todo[j])
            futures.append(side.submit(self._run_featurizers, readers, [it]))

        try:
            f.transcriber().transcribe_many([items[i].audio for i in todo], on_done=done,
                                            keys=[items[i].decoded for i in todo])
        except (ConfigError, ModelNotFoundError):
            raise
        except Exception:  # noqa: BLE001 - each failed clip was reported by done()
            pass
        return sent

    def _run_featurizers(self, ks: list[int], items: list[_Item]) -> None:
        """Featurizers ks in order on the items (on the side thread)."""
        for k in ks:
            self._run_featurizer(k, items)

    def _run_featurizer(self, k: int, items: list[_Item], on_stage: Callable[[str], None] | None = None) -> None:
        """Featurizer k on the items that need it, batched; a clip it fails on fails alone."""
        f = self.featurizers[k]
        todo = [it for it in items if it.problem is None and k in it.needs]
        if not todo:
            return
        if on_stage is not None:
            on_stage(f.stage)
        try:
            vectors = f.featurize_keyed([it.audio for it in todo], [it.decoded for it in todo])
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
            self.cache.put_array(self.namespaces()[k], it.digest, vec)
            it.vectors[k] = vec

    def run(self, data, on_stage: Callable[[str], None] | None = None) -> tuple[pd.DataFrame, ExtractReport]:
        """Features of every usable file or clip (rows indexed by filename) and the report of the rest; `data` is a
        Dataset, a list of paths or a list of Clips. `on_stage` hears what is being done ("decoding",
        "transcribing", "measuring"), for progress lines."""
        dataset, clips = as_dataset(data)
        report = ExtractReport(failed=list(p for p in dataset.problems if "not found" in p.reason))
        rows: dict[str, np.ndarray] = {}
        names, paths = dataset.filenames, dataset.paths
        pending: tuple[list[_Item], list[Future]] | None = None  # a batch whose side featurizers may still run
        with progress_bar(self.progress, len(names)) as advance, \
                ThreadPoolExecutor(1, thread_name_prefix="speechgrade-side") as side:
            for start in range(0, len(names), self.batch_size):
                items = [_Item(n, p, clip=clips.get(n)) for n, p in zip(names[start:start + self.batch_size],
                                                                         paths[start:start + self.batch_size])]
                if on_stage is not None:
                    on_stage("decoding")
                self._prepare_all(items, report)
                futures = self._featurize(items, side, on_stage)
                if pending is not None:
                    self._finish(*pending, rows, report, advance, on_stage)
                pending = (items, futures)
                if sum(len(it.audio) for it in items if it.audio is not None) > PIPELINE_MAX_SAMPLES:
                    self._finish(*pending, rows, report, advance, on_stage)  # long clips: one batch held at a time
                    pending = None
            if pending is not None:
                self._finish(*pending, rows, report, advance, on_stage)
        columns = self.columns()
        table = pd.DataFrame.from_dict(rows, orient="index", columns=columns, dtype=np.float32) if rows \
            else pd.DataFrame(columns=columns, dtype=np.float32)
        table.index.name = "filename"
        return table, report

    def _finish(self, items: list[_Item], futures: list[Future], rows: dict[str, np.ndarray], report: ExtractReport,
                advance: Callable[[int], None], on_stage: Callable[[str], None] | None = None) -> None:
        """Wait for a batch's side featurizers, then add its rows and its problems to the report and advance the
        progress bar."""
        if on_stage is not None and not all(f.done() for f in futures):
            on_stage("measuring")
        for f in futures:
            f.result()
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

    def duplicates(self, names: Sequence[str], report: ExtractReport) -> list[list[str]]:
        """Clusters of exact/near-duplicate recordings among extracted files (with `fingerprints`)."""
        if not self.fingerprints:
            raise ConfigError("duplicates need fingerprints: this extractor was made with fingerprints=False")
        names = [n for n in names if n in report.audio]
        digests = [report.audio[n]["digest"] for n in names]

        def fingerprint_of(i: int) -> np.ndarray:  # from the cache, one at a time: memory stays flat
            fp = self.cache.get_array(FINGERPRINT_NS, digests[i])
            return fp if fp is not None else np.zeros((1, FP_BANDS), np.float16)

        return duplicate_clusters(list(names), [report.audio[n]["decoded_sha256"] for n in names], fingerprint_of)
