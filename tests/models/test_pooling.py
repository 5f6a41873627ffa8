import numpy as np

from speechgrade.models.pipeline import ScoringModel
from speechgrade.features.frames import frame_columns, segment_means
from speechgrade.models.pooling import AttentionPooling, frame_blocks


def test_segment_means_cover_the_clip_evenly():
    frames = np.arange(8, dtype=float)[:, None]
    np.testing.assert_array_equal(segment_means(frames, 4)[:, 0], [0.5, 2.5, 4.5, 6.5])
    assert segment_means(frames[:2], 4).shape == (4, 1)  # fewer frames than segments


def test_frame_blocks_find_the_layout():
    cols = ["acoustic.x"] + [f"ssl.{c}" for c in frame_columns([3, 5], 2, 4)]
    idx, shape = frame_blocks(cols)["ssl"]
    assert shape == (2, 2, 4) and idx[0] == 1 and len(idx) == 16


def _task(n=160, seed=0):
    """Label carried by layer 1 of the segments the clip 'speaks' in: mean pooling dilutes it."""
    rng = np.random.default_rng(seed)
    H = rng.normal(size=(n, 2, 8, 6))
    y = rng.normal(size=n)
    loud = rng.integers(0, 8, n)
    H[np.arange(n), :, loud, 0] += 4.0  # a marker dimension says where the speech is
    H[np.arange(n), 1, loud, 1] += 3 * y  # ... and there layer 1 carries the label
    return H, y


def test_head_learns_layer_and_time_weights_that_beat_mean_pooling():
    H, y = _task()
    head = AttentionPooling(steps=300, lr=0.05, l2=1e-2).fit(H[:120], y[:120])
    assert head.layer_weights()[1] > 0.6
    pooled = head.transform(H[120:])
    learned = abs(np.corrcoef(pooled[:, 1], y[120:])[0, 1])
    mean = abs(np.corrcoef(H[120:, :, :, 1].mean(axis=(1, 2)), y[120:])[0, 1])
    assert learned > mean + 0.1


def test_gradients_match_finite_differences():
    H, y = _task(20)
    head = AttentionPooling(steps=3).fit(H, y)
    Z = head._standardise(H)
    rng = np.random.default_rng(1)
    alpha, v, beta, b = rng.normal(size=2), rng.normal(size=6) * 0.3, rng.normal(size=6), 0.1

    def loss(alpha, v):
        P = head._forward(Z, alpha, v)[3]
        return np.mean((P @ beta + b - y) ** 2)

    eps = 1e-6
    num_v = np.array([(loss(alpha, v + eps * e) - loss(alpha, v - eps * e)) / (2 * eps) for e in np.eye(6)])
    num_a = np.array([(loss(alpha + eps * e, v) - loss(alpha - eps * e, v)) / (2 * eps) for e in np.eye(2)])
    # the same algebra as AttentionPooling.fit
    from speechgrade.models.pooling import _softmax
    a, X, w, P = head._forward(Z, alpha, v)
    g = 2 * (P @ beta + b - y) / len(y)
    dP = g[:, None] * beta[None, :]
    dw = np.einsum("ntd,nd->nt", X, dP)
    ds = w * (dw - (w * dw).sum(1, keepdims=True))
    dX = w[:, :, None] * dP[:, None, :] + ds[:, :, None] * v[None, None, :]
    da = np.einsum("nltd,ntd->l", Z, dX)
    np.testing.assert_allclose(np.einsum("nt,ntd->d", ds, X), num_v, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(a * (da - (a * da).sum()), num_a, rtol=1e-4, atol=1e-8)
    assert _softmax(np.zeros(3)).sum() == 1


def test_scoring_model_pools_inside_fit_and_round_trips(tmp_path):
    H, y = _task()
    cols = ["other.a"] + [f"ssl.{c}" for c in frame_columns([0, 1], 8, 6)]
    X = np.column_stack([np.random.default_rng(2).normal(size=len(y)), H.reshape(len(y), -1)])
    model = ScoringModel("ridge", {"alpha": 1.0}, columns=cols).fit(X[:120], y[:120])
    assert model.mean_.shape == (1 + 6,)  # one passthrough column + the pooled dimensions
    contrib = model.contributions(X[120:])
    assert contrib.shape == (40, len(cols) + 1)
    pred = model.predict(X[120:])
    inside = (pred > model.y_range_[0]) & (pred < model.y_range_[1])
    np.testing.assert_allclose(contrib.sum(1)[inside], pred[inside], atol=1e-9)  # attributions add up
    model.save(tmp_path)
    again = ScoringModel.load(tmp_path, "ridge", {"alpha": 1.0}, None, columns=cols)
    np.testing.assert_allclose(again.predict(X[120:]), model.predict(X[120:]))
    assert np.corrcoef(model.predict(X[120:]), y[120:])[0, 1] > 0.5


def test_fitted_heads_are_held_by_the_search_not_by_the_module():
    """The memo of fitted pooling heads belongs to a model search (and the models it fits), not to the module."""
    import speechgrade.models.pooling as pooling
    from speechgrade.models.pooling import PoolingHeads
    from speechgrade.tuning import ModelSearch

    assert not hasattr(pooling, "_FITTED")
    rng = np.random.default_rng(0)
    columns = [f"ssl.{c}" for c in frame_columns([3, 5], 2, 4)]
    X, y = rng.normal(size=(30, len(columns))), rng.normal(size=30)
    heads = PoolingHeads()
    H = X[:, frame_blocks(columns)["ssl"][0]].reshape(30, 2, 2, 4)
    assert heads.fit(H, y) is heads.fit(H.copy(), y) and len(heads) == 1
    a = ModelSearch("ridge", trials=2, folds=3).fit(X, y, None, columns)
    b = ModelSearch("ridge", trials=2, folds=3).fit(X, y, None, columns)
    assert a.heads_ is not b.heads_ and len(a.heads_) == 4  # 3 folds and all rows, each fitted once
    assert a.best_estimator_.heads is a.heads_
    np.testing.assert_array_equal(a.best_estimator_.predict(X), b.best_estimator_.predict(X))
