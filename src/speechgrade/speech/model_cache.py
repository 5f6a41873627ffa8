"""Loaded models held by an explicit object: `ModelCache` (a small LRU a caller can pass, replace or clear).

Loaders take `models: ModelCache | None`; None means `MODELS`, the process-wide one, which `clear_models()`
empties (a long-lived process drops its Whisper, encoders, MiniLM and grammar tools that way).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

MAX_MODELS = 12  # loaded objects kept, newest used first (a few Whisper sizes, encoders, sentence and grammar tools)


class ModelCache:
    """Loaded models by key, at most `maxsize` of them, each loaded once even when two threads ask together."""

    def __init__(self, maxsize: int = MAX_MODELS):
        self.maxsize = maxsize
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Hashable, threading.Lock] = {}  # one lock per key being loaded: others are not held up

    def get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        """The object stored under `key`, loaded with `load()` the first time."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            value = load()
            with self._lock:
                self._items[key] = value
                self._loading.pop(key, None)
                while len(self._items) > self.maxsize:
                    self._items.popitem(last=False)
            return value

    def drop(self, key: Hashable) -> None:
        """Forget the object stored under `key` (it is loaded again when next asked for)."""
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        """Forget every loaded object."""
        with self._lock:
            self._items.clear()

    def keys(self) -> list[Hashable]:
        """Keys of what is loaded, oldest first."""
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        return len(self._items)


MODELS = ModelCache()  # the process-wide default; pass another ModelCache to keep models apart


def clear_models() -> None:
    """Drop every model the process-wide cache holds."""
    MODELS.clear()
