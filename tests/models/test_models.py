import numpy as np
import pytest

from speechgrade.errors import ConfigError
from speechgrade.models import REGRESSORS, ScoringModel, get_regressor_class


def _data(n=80, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = 3 + X[:, 0] - 0.5 * X[:, 1] + 0.1 * rng.normal(size=n)
    return X, y


@pytest.mark.parametrize("name", sorted(REGRESSORS))
def test_each_regressor_learns_and_round_trips_in_its_native_format(tmp_path, name):
    X, y = _data()
    small = {"lightgbm": {"n_estimators": 60}, "xgboost": {"n_estimators": 60}, "catboost": {"iterations": 60}}
    model = ScoringModel(name, small.get(name, {}), pca=None).fit(X[:60], y[:60])
    pred = model.predict(X[60:])
    assert np.corrcoef(pred, y[60:])[0, 1] > 0.8
    assert pred.min() >= y[:60].min() and pred.max() <= y[:60].max()  # clipped to the training range
    files = model.save(tmp_path)
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".joblib"))]
    for f in files:
        assert b"\x80\x04\x95" not in (tmp_path / f).read_bytes()[:3]  # no pickle protocol header
    loaded = ScoringModel.load(tmp_path, name, model.params, None)
    np.testing.assert_allclose(loaded.predict(X[60:]), pred, rtol=1e-6, atol=1e-6)


def test_pca_is_fitted_inside_the_model_and_saved(tmp_path):
    X, y = _data(d=20)
    model = ScoringModel("ridge", {"alpha": 1.0}, pca=5).fit(X, y)
    assert model.components_.shape == (5, 20)
    model.save(tmp_path)
    loaded = ScoringModel.load(tmp_path, "ridge", {"alpha": 1.0}, 5)
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))


def test_unknown_regressor_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown regressor 'forest'"):
        get_regressor_class("forest")


@pytest.mark.parametrize("name,pca", [("lightgbm", None), ("xgboost", None), ("catboost", None), ("ridge", None),
                                      ("ridge", 3)])
def test_contributions_add_up_to_the_prediction(name, pca):
    X, y = _data()
    small = {"lightgbm": {"n_estimators": 40}, "xgboost": {"n_estimators": 40}, "catboost": {"iterations": 40}}
    model = ScoringModel(name, small.get(name, {}), pca=pca).fit(X, y)
    contrib = model.contributions(X[:10])
    assert contrib.shape == (10, X.shape[1] + 1)
    raw = model.model_.predict(model.transform(X[:10]))
    np.testing.assert_allclose(contrib.sum(1), raw, atol=1e-4)
    assert abs(contrib[:, 0]).mean() > abs(contrib[:, 3]).mean()  # column 0 drives y, column 3 does not


def test_svr_has_no_contributions():
    X, y = _data()
    assert ScoringModel("svr").fit(X, y).contributions(X[:2]) is None


def test_missing_values_become_the_training_mean():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = X[:, 0] * 2 + rng.normal(0, 0.1, 60)
    X[:, 3] = np.nan  # a column a featurizer could not compute (e.g. screen's english_prob)
    X[5, 1] = np.inf
    model = ScoringModel("ridge", {"alpha": 1.0}).fit(X, y)
    row = X[:1].copy()
    row[0, 0] = np.nan
    assert np.isfinite(model.predict(X)).all() and np.isfinite(model.contributions(X)).all()
    assert model.predict(row)[0] == pytest.approx(model.predict(np.where(np.arange(4) == 0, model.mean_, X[0])[None])[0])
