"""Optuna tuning and the model search that keeps the better regressor."""

import numpy as np

from speechgrade.models import get_regressor_class
from speechgrade.tuning import ModelSearch, tune


def _data(n=80, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = 3 + X[:, 0] - 0.5 * X[:, 1] + 0.1 * rng.normal(size=n)
    return X, y


def test_tuning_respects_trials_and_resumes_from_sqlite(tmp_path):
    X, y = _data()
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    first = tune(X, y, regressor="ridge", trials=3, storage=storage, study_name="s")
    assert first.n_trials == 3 and "alpha" in first.params
    again = tune(X, y, regressor="ridge", trials=5, storage=storage, study_name="s")
    assert again.n_trials == 5  # two more, not five more
    defaults = tune(X, y, regressor="lightgbm", trials=0)
    assert defaults.n_trials == 0 and defaults.params["n_estimators"] == 300


def test_lightgbm_search_space_is_the_designs():
    import optuna

    space = {}
    study = optuna.create_study()
    study.optimize(lambda t: space.update(get_regressor_class("lightgbm").search_space(t)) or 0.0, n_trials=1)
    dist = study.trials[0].distributions
    assert (dist["n_estimators"].low, dist["n_estimators"].high) == (100, 700)
    assert (dist["learning_rate"].low, dist["learning_rate"].high, dist["learning_rate"].log) == (0.01, 0.3, True)
    assert (dist["max_depth"].low, dist["max_depth"].high) == (3, 10)
    assert (dist["num_leaves"].low, dist["num_leaves"].high) == (5, 30)


def test_search_keeps_the_candidate_with_the_lower_tuning_rmse():
    X, y = _data()
    columns = [f"a.x{i}" for i in range(3)] + [f"b.x{i}" for i in range(3, 6)]
    search = ModelSearch("ridge,lightgbm", trials=0, folds=3).fit(X, y, None, columns)
    each = {name: tune(X, y, regressor=name, trials=0, folds=3).cv_rmse for name in ("ridge", "lightgbm")}
    assert search.result_.regressor == min(each, key=each.get) == "ridge"
    assert search.summary()["regressor"] == "ridge" and search.best_estimator_.regressor == "ridge"
    oof = search.out_of_fold(X, y, None, columns)
    assert oof.shape == y.shape and np.corrcoef(oof, y)[0, 1] > 0.9


def test_ensemble_search_tunes_each_family_and_reports_weights():
    X, y = _data()
    columns = [f"a.x{i}" for i in range(3)] + [f"b.x{i}" for i in range(3, 6)]
    search = ModelSearch("ridge", trials=0, folds=3, ensemble="stack").fit(X, y, None, columns)
    summary = search.summary()
    assert set(summary["member_cv_rmse"]) == {"a", "b"} and set(summary["weights"]) == {"a", "b"}
    assert summary["weights"]["a"] > summary["weights"]["b"]  # family a holds the signal
