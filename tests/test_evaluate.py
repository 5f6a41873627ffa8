import numpy as np
import pytest

import speechgrade as sg
from speechgrade.evaluate import bootstrap_ci, conformal_coverage, conformal_halfwidth, cross_validate, metrics
from speechgrade.folds import make_folds
from speechgrade.models import register_regressor
from speechgrade.models.ridge import RidgeRegressor


def test_metrics_match_hand_computed_values():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.5, 2.0, 2.0, 4.0])
    m = metrics(y, p)
    assert m["rmse"] == pytest.approx(np.sqrt((0.25 + 0 + 1 + 0) / 4))
    assert m["mae"] == pytest.approx(1.5 / 4)
    assert m["within_0.5"] == 0.75 and m["within_1.0"] == 1.0
    assert m["pearson"] == pytest.approx(np.corrcoef(y, p)[0, 1])
    ci = bootstrap_ci(y, p[None], n_boot=200)
    assert ci["rmse_ci95"][0] <= m["rmse"] <= ci["rmse_ci95"][1]


def test_folds_keep_groups_together_stratify_and_change_with_the_seed():
    rng = np.random.default_rng(0)
    y = rng.integers(1, 10, 120).astype(float) / 2
    groups = np.repeat(np.arange(40), 3).astype(str)
    splits = [make_folds(y, groups, 5, seed) for seed in range(3)]
    for folds in splits:
        covered = np.sort(np.concatenate([te for _, te in folds]))
        assert np.array_equal(covered, np.arange(120))
        for tr, te in folds:
            assert not set(groups[tr]) & set(groups[te])
            assert abs(y[te].mean() - y.mean()) < 0.6
    assert not all(np.array_equal(a[0][1], b[0][1]) for a, b in zip(splits[0], splits[1]))


def test_model_learns_pitch_label_and_shuffled_control_does_not(tone_dataset, shuffled_dataset, cache_dir):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / 'wav')
    ev = sg.Scorer("acoustic", "ridge", trials=3).evaluate(ds, folds=5, repeats=2)
    assert ev.summary["pearson"] > 0.8 and ev.summary["rmse"] < ev.summary["baselines"]["mean"]["rmse"]
    assert ev.summary["n"] == 40 and len(ev.predictions) == 80
    lo, hi = ev.summary["pearson_ci95"]
    assert lo < ev.summary["pearson"] < hi
    shuffled = sg.Scorer("acoustic", "ridge", trials=3).evaluate(sg.load_dataset(shuffled_dataset, shuffled_dataset.parent / 'wav'), 5, 2)
    assert shuffled.summary["pearson"] < 0.4
    assert shuffled.summary["rmse"] > ev.summary["rmse"] * 1.5


def test_lightgbm_default_learns_too(tone_dataset, cache_dir):
    ev = sg.Scorer("acoustic", "lightgbm", trials=2).evaluate(sg.load_dataset(tone_dataset, tone_dataset.parent / 'wav'), folds=4, repeats=1)
    assert ev.summary["pearson"] > 0.7


@register_regressor
class SpyRegressor(RidgeRegressor):
    """Ridge that records every row it is trained on (test only)."""

    name = "spy-test"
    seen: list = []

    def fit(self, X, y):
        SpyRegressor.seen.append(np.asarray(X).copy())
        return super().fit(X, y)


def test_nested_tuning_never_sees_the_outer_test_rows():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 4))
    y = X[:, 0] + rng.normal(0, 0.1, 50)
    groups = np.repeat(np.arange(25), 2).astype(str)
    scorer = sg.Scorer(regressor="spy-test", trials=2, folds=3)
    outer = make_folds(y, groups, 5, 0)
    for tr, te in outer:
        SpyRegressor.seen.clear()
        model = scorer.search(seed=0).fit(X[tr], y[tr], groups[tr], [f"f.{i}" for i in range(4)]).best_estimator_
        assert len(SpyRegressor.seen) == 2 * 3 + 1  # trials x inner folds + the final fit
        # every row a fit saw was standardised train data: map back through the fitted scaler
        test_rows = {tuple(np.round(r, 8)) for r in X[te]}
        for Z in SpyRegressor.seen:
            assert len(Z) <= len(tr)
        raw = [np.round(Z * model.scale_ + model.mean_, 8) for Z in SpyRegressor.seen[-1:]]
        assert not any(tuple(r) in test_rows for Zr in raw for r in Zr)
    # and the whole of cross_validate only hands training rows to the fitting function
    handed = []

    def fit_predict(Xt, yt, gt, seed):
        handed.append({tuple(r) for r in Xt})
        return lambda Xe: np.zeros(len(Xe))

    cross_validate(X, y, groups, fit_predict, folds=5, repeats=2, baselines={})
    for seen, (tr, te) in zip(handed, make_folds(y, groups, 5, 0) + make_folds(y, groups, 5, 1)):
        assert not seen & {tuple(r) for r in X[te]}


def test_conformal_intervals_cover_what_they_claim():
    assert conformal_halfwidth(np.arange(1, 10), 0.8) == 8  # ceil(10 * 0.8) = 8th smallest of 1..9
    rng = np.random.default_rng(0)
    y = rng.normal(size=2000)
    preds = (y + rng.normal(size=2000))[None]
    folds = (np.arange(2000) % 5)[None]
    out = conformal_coverage(y, preds, folds, 0.8)
    assert abs(out["interval_coverage"] - 0.8) < 0.03 and out["interval_width"] == pytest.approx(2 * 1.28, rel=0.1)


def test_evaluate_reports_interval_coverage(tone_dataset, cache_dir):
    ev = sg.Scorer("acoustic", "ridge", trials=0, coverage=0.9).evaluate(
        sg.load_dataset(tone_dataset, tone_dataset.parent / 'wav'), folds=5, repeats=2)
    assert ev.summary["interval_coverage_target"] == 0.9 and 0.7 <= ev.summary["interval_coverage"] <= 1.0


def test_decisions_count_who_the_raters_and_the_scores_select():
    from speechgrade.metrics import decisions, quartile_cuts

    y = np.array([2.0, 3.0, 3.5, 4.0, 4.5, 5.0])
    raw = np.array([[3.0, 3.1, 3.2, 3.4, 3.5, 3.6],    # repeat 1: shrunk to the middle
                    [3.0, 3.0, 3.6, 3.3, 3.5, 3.4]])   # repeat 2
    mapped = np.array([[2.0, 3.6, 3.4, 4.0, 4.5, 5.0], [2.5, 2.5, 4.0, 3.5, 4.5, 4.0]])
    out = decisions(y, {"raw": raw, "mapped": mapped}, [3.5, 4.0])
    assert out["raters"] == [4, 3] and out["cut_scores"] == [3.5, 4.0] and out["n"] == 6
    at35, at4 = out["scores"]["raw"]["cuts"]
    # raw at 3.5: repeat 1 selects clips 5, 6 (both rated >= 3.5); repeat 2 selects 3, 5 (both rated >= 3.5)
    assert at35 == {"cut": 3.5, "raters": 4, "selected": 2.0, "selected_range": [2, 2], "both": 2.0,
                    "both_range": [2, 2]}
    assert at4["selected"] == 0.0 and at4["both"] == 0.0
    m35, m4 = out["scores"]["mapped"]["cuts"]
    # mapped at 3.5: repeat 1 selects 2, 4, 5, 6 (3 of them rated >= 3.5); repeat 2 selects 3, 4, 5, 6 (all 4)
    assert m35["selected"] == 4.0 and m35["both"] == 3.5 and m35["both_range"] == [3, 4]
    # mapped at 4.0: repeat 1 selects 4, 5, 6; repeat 2 selects 3, 5, 6 (clip 3 is rated 3.5)
    assert m4["selected"] == 3.0 and m4["both"] == 2.5 and m4["both_range"] == [2, 3]
    assert out["scores"]["mapped"]["pearson"] == pytest.approx(np.mean([metrics(y, p)["pearson"] for p in mapped]))
    assert quartile_cuts(np.array([1, 2, 3, 4, 5.0])) == [2.0, 3.0, 4.0]


def test_evaluation_reports_raw_and_mapped_scores_at_the_cut_scores(tone_dataset, cache_dir):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    ev = sg.Scorer("acoustic", "ridge", trials=0).evaluate(ds, folds=4, repeats=2)
    quartiles = ev.extra["decisions"]  # before any cut score is given: the labels' quartiles
    y = ds.table["label"].to_numpy(float)
    assert quartiles["cut_source"] == "label quartiles" and quartiles["cut_scores"] == list(
        np.round(np.percentile(y, [25, 50, 75]), 2))
    got = ev.decisions([3.0, 4.0])["label"]
    assert got is ev.extra["decisions"] and got["cut_source"] == "given" and got["model_scores"] == "raw"
    assert got["raters"] == [int((y >= 3).sum()), int((y >= 4).sum())]
    raw, mapped = got["scores"]["raw"], got["scores"]["mapped"]
    assert raw["pearson"] == pytest.approx(ev.summary["pearson"]) and raw["rmse"] == pytest.approx(ev.summary["rmse"])
    assert mapped["spread_ratio"] > raw["spread_ratio"]
    per_repeat = ev.predictions.pivot_table(index="filename", columns="repeat", values="model_mapped")
    assert got["scores"]["mapped"]["cuts"][0]["selected_range"] == [int((per_repeat >= 3 - 1e-9).sum().min()),
                                                                    int((per_repeat >= 3 - 1e-9).sum().max())]
    assert "decisions" in ev.to_json() and ev.extra["scale"]["from"] == "training labels"
    assert ev.extra["scale"]["note"].startswith(f"label: scale {y.min():g}-{y.max():g}, taken from the training labels")


def test_summary_prints_as_a_table_and_stays_a_dict():
    import json

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.clip(3 + X[:, 0] + rng.normal(0, 0.3, 60), 1, 5)
    ev = cross_validate(X, y, None, lambda X, y, g, s: RidgeRegressor({"alpha": 1.0}).fit(X, y), folds=3, repeats=2)
    summary = ev.summary
    assert summary["pearson"] > 0.8 and isinstance(summary, dict) and json.loads(json.dumps(summary))["n"] == 60
    text = str(summary)
    lines = text.splitlines()
    assert lines[0] == "60 clips, 3-fold CV x 2 repeats (mean ± std over repeats)"
    assert lines[1].split() == ["metric", "model", "baseline:", "mean", "baseline:", "ridge"]
    pearson = next(line for line in lines if line.startswith("Pearson r"))
    assert f"{summary['pearson']:.3f} ± {summary['pearson_std']:.3f}" in pearson
    assert f"{summary['baselines']['ridge']['pearson']:.3f}" in pearson
    assert repr(summary) == text and lines[-1] == summary["against_mean"]["verdict"]
    page = summary._repr_html_()
    assert page.startswith("<table><caption>60 clips") and "<td>RMSE</td>" in page and "</table><p>The model" in page
    assert sg.evaluate.Evaluation({"label": ev}).summary is summary
