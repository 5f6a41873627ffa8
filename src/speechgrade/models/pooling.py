"""The learned pooling head: a weighted sum of encoder layers plus attention over time, fitted as a small head.

Featurizers with `pooling=learned` store frame summaries instead of one pooled vector: for each chosen
layer, the mean of each of `segments` equal stretches of the clip (columns `l<layer>.t<segment>.d<dim>`).
`AttentionPooling` learns, from the training rows only, softmax weights over the layers and an attention
vector over the segments, with a linear read-out to the label; its pooled vector (one value per dimension)
then replaces the block for the regressor. It starts as plain mean pooling (uniform weights) and is
fitted by Adam on the regularised squared error, in numpy, so it needs neither torch nor a GPU.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Sequence

import numpy as np

from ..columns import parse_frame

def frame_blocks(columns: Sequence[str]) -> dict[str, tuple[np.ndarray, tuple[int, int, int]]]:
    """Per family with frame-summary columns: their indices (in L, T, D order) and the shape (L, T, D)."""
    found: dict[str, list[tuple[int, int, int, int]]] = {}
    for i, c in enumerate(columns):
        parsed = parse_frame(c)
        if parsed:
            found.setdefault(parsed[0], []).append((*parsed[1:], i))
    out = {}
    for fam, items in found.items():
        items.sort()
        shape = (len({l for l, _, _, _ in items}), len({t for _, t, _, _ in items}), len({d for _, _, d, _ in items}))
        out[fam] = (np.array([i for *_, i in items]), shape)
    return out


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class AttentionPooling:
    """Softmax layer weights + attention over segments + linear read-out, fitted on (n, L, T, D) blocks."""

    # gentle defaults: it starts at mean pooling and moves only where the data insist; on the 79-clip sample
    # stronger fits (300 steps, l2 0.01) overfit more (bench/options.py)
    def __init__(self, steps: int = 60, lr: float = 0.02, l2: float = 1.0):
        self.steps, self.lr, self.l2 = steps, lr, l2

    def _standardise(self, H: np.ndarray) -> np.ndarray:
        return (H - self.mu_[None, :, None, :]) / self.sd_[None, :, None, :]

    def _forward(self, Z: np.ndarray, alpha: np.ndarray, v: np.ndarray):
        a = _softmax(alpha)
        X = np.einsum("l,nltd->ntd", a, Z)
        w = _softmax(X @ v, axis=1)
        return a, X, w, np.einsum("nt,ntd->nd", w, X)

    def fit(self, H: np.ndarray, y: np.ndarray) -> "AttentionPooling":
        """Learn layer weights and attention from these rows."""
        H, y = np.asarray(H, np.float64), np.asarray(y, np.float64)
        n, L, T, D = H.shape
        self.mu_ = H.mean(axis=(0, 2))
        self.sd_ = np.where(H.std(axis=(0, 2)) > 1e-9, H.std(axis=(0, 2)), 1.0)
        Z = self._standardise(H)
        params = {"alpha": np.zeros(L), "v": np.zeros(D), "beta": np.zeros(D), "b": np.array([y.mean()])}
        m = {k: np.zeros_like(p) for k, p in params.items()}
        s = {k: np.zeros_like(p) for k, p in params.items()}
        for step in range(1, self.steps + 1):
            a, X, w, P = self._forward(Z, params["alpha"], params["v"])
            g = 2 * (P @ params["beta"] + params["b"][0] - y) / n
            dP = g[:, None] * params["beta"][None, :]
            dw = np.einsum("ntd,nd->nt", X, dP)
            ds = w * (dw - (w * dw).sum(1, keepdims=True))
            dX = w[:, :, None] * dP[:, None, :] + ds[:, :, None] * params["v"][None, None, :]
            da = np.einsum("nltd,ntd->l", Z, dX)
            grads = {"alpha": a * (da - (a * da).sum()),
                     "v": np.einsum("nt,ntd->d", ds, X) + 2 * self.l2 * params["v"],
                     "beta": P.T @ g + 2 * self.l2 * params["beta"], "b": np.array([g.sum()])}
            for k in params:  # Adam
                m[k] = 0.9 * m[k] + 0.1 * grads[k]
                s[k] = 0.999 * s[k] + 0.001 * grads[k] ** 2
                params[k] -= self.lr * (m[k] / (1 - 0.9**step)) / (np.sqrt(s[k] / (1 - 0.999**step)) + 1e-8)
        self.alpha_, self.v_, self.beta_, self.b_ = params["alpha"], params["v"], params["beta"], float(params["b"][0])
        return self

    def transform(self, H: np.ndarray) -> np.ndarray:
        """The pooled vector (n, D): attention-weighted mean over segments of the weighted layer mix."""
        return self._forward(self._standardise(np.asarray(H, np.float64)), self.alpha_, self.v_)[3]

    def layer_weights(self) -> np.ndarray:
        """Softmax weight of each layer."""
        return _softmax(self.alpha_)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Arrays to store in an npz file."""
        return {f"{prefix}.{k}": np.asarray(v) for k, v in
                {"mu": self.mu_, "sd": self.sd_, "alpha": self.alpha_, "v": self.v_, "beta": self.beta_,
                 "b": self.b_}.items()}

    @classmethod
    def from_arrays(cls, data, prefix: str) -> "AttentionPooling":
        """Inverse of `to_arrays`."""
        obj = cls()
        obj.mu_, obj.sd_, obj.alpha_, obj.v_, obj.beta_ = (np.asarray(data[f"{prefix}.{k}"], np.float64)
                                                           for k in ("mu", "sd", "alpha", "v", "beta"))
        obj.b_ = float(data[f"{prefix}.b"])
        return obj


class PoolingHeads:
    """Fitted pooling heads by the rows they were fitted on (the last `size`), held by whoever runs many fits on the
    same rows: tuning refits a model on the same folds for every trial, and a head depends on the rows only, not on
    the regressor's parameters. A `ModelSearch` holds one (`heads_`) and hands it to the models it fits."""

    def __init__(self, size: int = 16):
        self.size = size
        self._heads: "OrderedDict[str, AttentionPooling]" = OrderedDict()

    def fit(self, H: np.ndarray, y: np.ndarray) -> AttentionPooling:
        """`AttentionPooling().fit(H, y)`, or the head already fitted on these rows."""
        key = hashlib.sha1(np.ascontiguousarray(H, np.float32).tobytes() + np.asarray(y, np.float64).tobytes()
                           ).hexdigest()
        if key not in self._heads:
            self._heads[key] = AttentionPooling().fit(H, y)
            while len(self._heads) > self.size:
                self._heads.popitem(last=False)
        self._heads.move_to_end(key)
        return self._heads[key]

    def __len__(self) -> int:
        return len(self._heads)


def fit_pooling(H: np.ndarray, y: np.ndarray, heads: PoolingHeads | None = None) -> AttentionPooling:
    """A pooling head fitted on these rows: from `heads` (fitted once per rows), or afresh without one."""
    return heads.fit(H, y) if heads is not None else AttentionPooling().fit(H, y)
