"""Content-addressed feature store: key = file content hash + featurizer identity; atomic writes."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("speechgrade.cache")

CACHE_ENV = "SPEECHGRADE_CACHE"
LAYOUT_VERSION = "v1"


def default_cache_dir() -> Path:
    """`$SPEECHGRADE_CACHE`, else `~/.cache/speechgrade`."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "speechgrade"


def file_digest(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def bytes_digest(data: bytes) -> str:
    """SHA-256 of bytes (hex)."""
    return hashlib.sha256(data).hexdigest()


def config_digest(obj: Any) -> str:
    """Stable short hash of a JSON-able configuration."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # atomic on POSIX: readers see the old entry or the whole new one
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class FeatureCache:
    """Arrays and JSON records stored under `root/v1/<namespace>/<key[:2]>/<key>.{npy,json}`.

    The cache may fail; the run may not: an entry that cannot be read is a miss, and when the folder cannot be
    written (a file in its place, no permission, a full disk) the first failure is logged once and entries are
    kept in memory for the rest of the run."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self._kept: dict[tuple[str, str, str], Any] = {}  # what could not be written, for this run
        self.unwritable: str | None = None  # why writing failed (None while it works)

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.root)!r})"

    def _path(self, namespace: str, key: str, suffix: str) -> Path:
        return self.root / LAYOUT_VERSION / namespace / key[:2] / f"{key}{suffix}"

    def _put(self, namespace: str, key: str, suffix: str, value: Any, write) -> None:
        if self.unwritable is None:
            try:
                _atomic_write(self._path(namespace, key, suffix), write)
                return
            except OSError as exc:
                self.unwritable = exc.strerror or type(exc).__name__
                log.warning("the feature cache %s cannot be written (%s): features are computed but not kept",
                            self.root, self.unwritable)
        self._kept[(namespace, key, suffix)] = value

    def _read(self, namespace: str, key: str, suffix: str, load) -> Any | None:
        kept = self._kept.get((namespace, key, suffix))
        if kept is not None:
            return kept
        path = self._path(namespace, key, suffix)
        try:
            return load(path)
        except FileNotFoundError:
            return None
        except (ValueError, EOFError, UnicodeDecodeError):  # damaged: removed, recomputed
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
            return None
        except OSError:  # a file where a folder should be, no permission: a miss
            return None

    def get_array(self, namespace: str, key: str) -> np.ndarray | None:
        """The stored array, or None when absent (an unreadable entry counts as absent)."""
        return self._read(namespace, key, ".npy", lambda path: np.load(path, allow_pickle=False))

    def put_array(self, namespace: str, key: str, array: np.ndarray) -> None:
        """Store an array atomically."""
        array = np.asarray(array)
        self._put(namespace, key, ".npy", array, lambda fh: np.save(fh, array, allow_pickle=False))

    def get_json(self, namespace: str, key: str) -> Any | None:
        """The stored JSON value, or None when absent or unreadable."""
        return self._read(namespace, key, ".json", lambda path: json.loads(path.read_text(encoding="utf-8")))

    def put_json(self, namespace: str, key: str, value: Any) -> None:
        """Store a JSON value atomically."""
        data = json.dumps(value, separators=(",", ":")).encode("utf-8")
        self._put(namespace, key, ".json", json.loads(data), lambda fh: fh.write(data))


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
