"""Frame summaries for learned pooling: featurizers with `pooling=learned` store, for each chosen layer, the
mean of each of `segments` equal stretches of the clip (columns `l<layer>.t<segment>.d<dim>`); the pooling head
that learns from them is `models/pooling.py`."""

from __future__ import annotations

import numpy as np

from ..columns import frame_features as frame_columns  # noqa: F401  (the featurizers name their columns with it)

SEGMENTS = 16


def segment_means(frames: np.ndarray, segments: int = SEGMENTS) -> np.ndarray:
    """Mean of each of `segments` equal consecutive stretches of frames (..., T, D) -> (..., segments, D);
    a clip with fewer frames than segments repeats frames."""
    T = frames.shape[-2]
    edges = np.linspace(0, T, segments + 1)
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        lo = min(int(np.floor(a)), T - 1)
        hi = max(int(np.ceil(b)), lo + 1)
        out.append(frames[..., lo:hi, :].mean(-2))
    return np.stack(out, axis=-2)
