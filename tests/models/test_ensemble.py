import numpy as np
import pytest

import speechgrade as sg
from speechgrade.errors import ConfigError
from speechgrade.models.ensemble import EnsembleModel, check_ensemble, families

COLUMNS = [f"good.x{i}" for i in range(5)] + [f"noise.x{i}" for i in range(20)]


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(COLUMNS)))
    y = 3 + X[:, :5] @ np.array([1.0, 0.5, -0.5, 0.3, 0.2]) + 0.1 * rng.normal(size=n)
    return X, y


def test_families_follow_the_column_prefix():
    assert families(["a.x", "b.y", "a.z"]) == {"a": [0, 2], "b": [1]}


def test_stack_weights_the_informative_member_and_round_trips(tmp_path):
    X, y = _data()
    model = EnsembleModel("ridge", {"good": {"alpha": 1.0}, "noise": {"alpha": 1.0}}, COLUMNS, "stack").fit(X, y)
    w = model.weights()
    assert w["good"] > 0.8 and w["noise"] < 0.2 and min(w.values()) >= 0
    members = model.member_predictions(X[:10])
    assert set(members) == {"good", "noise"}
    files = model.save(tmp_path)
    assert "ensemble.json" in files and "member-good/model.ridge.json" in files
    loaded = EnsembleModel.load(tmp_path, "ridge", model.params, COLUMNS, None)
    np.testing.assert_array_equal(model.predict(X), loaded.predict(X))


def test_mean_averages_and_contributions_add_up():
    X, y = _data()
    model = EnsembleModel("ridge", {}, COLUMNS, "mean").fit(X, y)
    assert model.weights() == {"good": 0.5, "noise": 0.5}
    parts = model.member_predictions(X[:5])
    np.testing.assert_allclose(model.predict(X[:5]), np.clip((parts["good"] + parts["noise"]) / 2, *model.y_range_))
    contrib = model.contributions(X[:5])
    assert contrib.shape == (5, len(COLUMNS) + 1)
    inside = (model.predict(X[:5]) > model.y_range_[0]) & (model.predict(X[:5]) < model.y_range_[1])
    np.testing.assert_allclose(contrib.sum(1)[inside], model.predict(X[:5])[inside], atol=1e-9)


def test_ensemble_needs_two_families_and_a_known_method():
    with pytest.raises(ConfigError, match="two feature families"):
        check_ensemble("stack", ["acoustic.a", "acoustic.b"])
    with pytest.raises(ConfigError, match="unknown ensemble"):
        check_ensemble("vote", COLUMNS)
    check_ensemble(None, ["acoustic.a"])


def test_scorer_evaluates_members_beside_the_stack_and_saves_it(tone_dataset, cache_dir, tmp_path):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    scorer = sg.Scorer("acoustic,acoustic?window_s=10", "ridge", trials=2, ensemble="stack", cache=cache_dir)
    ev = scorer.evaluate(ds, folds=4, repeats=1)
    assert set(ev.summary["members"]) == {"acoustic", "acoustic-2"}
    assert set(ev.summary["ensemble"]["weights"]) == {"acoustic", "acoustic-2"}
    assert {"member_acoustic", "member_acoustic-2"} <= set(ev.predictions.columns)
    assert ev.summary["pearson"] > 0.7 and ev.config["ensemble"] == "stack"
    scorer.fit(ds)
    assert set(scorer.tuning_["weights"]) == {"acoustic", "acoustic-2"}
    loaded = sg.Scorer.load(scorer.save(tmp_path / "m"), cache=cache_dir)
    a, b = scorer.predict(ds.paths[:8]), loaded.predict(ds.paths[:8])
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    explained = loaded.explain(ds.paths[:8])
    assert list(explained.columns) == ["acoustic", "acoustic-2", "base"]


def test_several_regressors_let_the_data_choose_per_member(tone_dataset, cache_dir, tmp_path):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    scorer = sg.Scorer("acoustic,acoustic?window_s=10", "ridge,svr", trials=1, ensemble="stack", cache=cache_dir)
    ev = scorer.evaluate(ds, folds=4, repeats=1)
    choices = ev.summary["regressor_choices"]
    assert set(choices) == {"acoustic", "acoustic-2"} and all(sum(c.values()) == 4 for c in choices.values())
    scorer.fit(ds)
    chosen = scorer.tuning_["member_regressors"]
    assert set(chosen.values()) <= {"ridge", "svr"}
    loaded = sg.Scorer.load(scorer.save(tmp_path / "m"), cache=cache_dir)
    assert loaded.model_.regressor == chosen and loaded.regressor == "ridge,svr"
    np.testing.assert_array_equal(loaded.predict(ds.paths[:5]), scorer.predict(ds.paths[:5]))


def test_a_single_model_keeps_the_better_candidate(tone_dataset, cache_dir):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    scorer = sg.Scorer("acoustic", ["ridge", "svr"], trials=1, cache=cache_dir).fit(ds)
    assert scorer.tuning_["regressor"] in ("ridge", "svr") and scorer.model_.regressor == scorer.tuning_["regressor"]
    with pytest.raises(ConfigError, match="unknown regressor"):
        sg.Scorer("acoustic", "ridge,forest", trials=0, cache=cache_dir).fit(ds)


SPLIT = [f"left.x{i}" for i in range(3)] + [f"right.x{i}" for i in range(3)]


def _split_data(n=150, seed=1):
    """Each family carries half the signal, so the blend beats either member alone."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(SPLIT)))
    y = 3 + X[:, 0] + X[:, 3] + 0.1 * rng.normal(size=n)
    return X, y


def test_stack_keeps_the_blend_when_it_wins_the_inner_comparison(tmp_path):
    X, y = _split_data()
    model = EnsembleModel("ridge", {}, SPLIT, "stack").fit(X, y, np.arange(len(y)) // 2)
    assert model.choice_["winner"] == "stack" and "member" not in model.choice_
    assert model.choice_["rmse"]["stack"] < 0.7 * model.choice_["rmse"]["best"]
    assert min(model.weights().values()) > 0.5
    model.save(tmp_path)
    loaded = EnsembleModel.load(tmp_path, "ridge", {}, SPLIT, None)
    assert loaded.choice_ == model.choice_


def test_stack_gives_way_to_the_best_member_when_it_wins(tmp_path, monkeypatch):
    X, y = _data()
    monkeypatch.setattr(EnsembleModel, "_blend_or_best",
                        lambda self, P, y, g: {"rmse": {"stack": 0.5, "best": 0.4}, "winner": "best"})
    model = EnsembleModel("ridge", {}, COLUMNS, "stack").fit(X, y)
    assert model.weights() == {"good": 1.0, "noise": 0.0} and model.intercept_ == 0.0
    assert model.choice_["member"] == "good"
    np.testing.assert_allclose(model.predict(X), np.clip(model.member_predictions(X)["good"], *model.y_range_))
    model.save(tmp_path)
    assert EnsembleModel.load(tmp_path, "ridge", {}, COLUMNS, None).choice_["member"] == "good"


def test_few_speakers_keep_the_blend_without_a_comparison():
    X, y = _split_data(n=60)
    model = EnsembleModel("ridge", {}, SPLIT, "stack").fit(X, y, np.arange(len(y)) % 12)  # 12 speakers
    assert model.choice_ is None and min(model.weights().values()) > 0.5
    off = EnsembleModel("ridge", {}, SPLIT, "stack", choose=False).fit(X, y)
    assert off.choice_ is None


def test_findings_name_a_family_that_beat_the_model():
    from speechgrade.evaluate import _member_findings

    summary = {"pearson": 0.5, "rmse": 0.66,
               "ensemble": {"kept_alone": {"whisper": 1, "whisper-encoder": 13, "(blend)": 1}},
               "members": {"whisper-encoder": {"pearson": 0.53, "rmse": 0.65}, "grammar": {"pearson": 0.3, "rmse": 0.8}}}
    lines = _member_findings(summary)
    assert lines[0] == "The blend gave way to one family alone in 14 of 15 training folds (whisper-encoder 13, whisper 1)."
    assert "The whisper-encoder family alone did better than the model" in lines[1]
    assert "`--features whisper-encoder`" in lines[1]
    summary["members"]["whisper-encoder"]["rmse"] = 0.7
    summary["ensemble"]["kept_alone"] = {"(blend)": 15}
    assert _member_findings(summary) == []
