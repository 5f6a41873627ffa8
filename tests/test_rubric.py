import numpy as np
import pytest

import speechgrade as sg
from speechgrade.rubric import Rubric, grid_step


def test_grid_step_and_snapping_to_it():
    y = np.array([1.0, 1.5, 3.0, 4.5, 5.0])
    assert grid_step(y) == 0.5
    rubric = Rubric(snap="auto").fit(np.array([1.2, 1.4, 3.1, 4.4, 5.2]), y)
    np.testing.assert_array_equal(rubric.transform(np.array([0.2, 1.26, 2.74, 4.9, 9.0])), [1.0, 1.5, 2.5, 5.0, 5.0])


def test_isotonic_calibration_is_monotone_and_round_trips():
    rng = np.random.default_rng(0)
    y = rng.uniform(1, 5, 200)
    pred = 3 + 0.4 * (y - 3) + rng.normal(0, 0.2, 200)  # shrunk towards the mean, as regressors are
    rubric = Rubric(calibrate=True).fit(pred, y)
    grid = np.linspace(1, 5, 50)
    out = rubric.transform(grid)
    assert np.all(np.diff(out) >= 0) and rubric.transform(pred).std() > 1.5 * pred.std()  # stretched back out
    again = Rubric.from_dict(rubric.to_dict())
    np.testing.assert_array_equal(again.transform(grid), out)


def test_scorer_snaps_inside_the_folds_and_in_the_bundle(tone_dataset, cache_dir, tmp_path):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    ds.table["label"] = (ds.table["label"] * 2).round() / 2  # a 1-5 scale in 0.5 steps
    scorer = sg.Scorer("acoustic", "ridge", trials=2, snap="auto", calibrate=True, cache=cache_dir)
    ev = scorer.evaluate(ds, folds=4, repeats=1)
    assert np.allclose(ev.predictions["model"] * 2, np.round(ev.predictions["model"] * 2))
    assert ev.summary["pearson"] > 0.7
    loaded = sg.Scorer.load(scorer.fit(ds).save(tmp_path / "m"), cache=cache_dir)
    frame = loaded.predict_frame(ds.paths[:6], intervals=True)
    assert np.allclose(frame["label"] * 2, np.round(frame["label"] * 2))
    assert "label_raw" in frame and not np.allclose(frame["label"], frame["label_raw"])
    assert loaded.rubric_.step_ == 0.5


def test_evaluate_post_processes_each_fold_on_the_scale_train_ships(tone_dataset, cache_dir, monkeypatch):
    """With --label-range and --snap, each outer fold's rubric and model clip to the scale the bundle ships."""
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    ds.table["label"] = (ds.table["label"] * 2).round() / 2
    ranges = []
    fit = Rubric.fit

    def spy(self, pred, y, scale=None):
        ranges.append(fit(self, pred, y, scale).range_)
        return self

    monkeypatch.setattr(Rubric, "fit", spy)
    scorer = sg.Scorer("acoustic", "ridge", trials=0, snap=0.5, label_range=(0, 10), cache=cache_dir)
    ev = scorer.evaluate(ds, folds=3, repeats=1)
    assert ranges == [(0.0, 10.0)] * 3  # one rubric per outer fold, each on the given scale
    assert ev.config["label_range"] == [0, 10]
    ranges.clear()
    scorer.fit(ds)
    assert ranges == [(0.0, 10.0)] and scorer.rubric_.range_ == scorer.label_range_ == (0.0, 10.0)
    assert scorer.model_.y_range_ == (0.0, 10.0)


def test_fold_models_clip_to_the_scale_not_the_fold_labels():
    """A model fitted with a scale clips its predictions to it; without one, to its training labels."""
    from speechgrade.models import ScoringModel

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.clip(3 + X[:, 0], 2, 4)
    far = np.array([[10.0, 0, 0], [-10.0, 0, 0]])
    assert ScoringModel("ridge").fit(X, y).predict(far).tolist() == [4.0, 2.0]
    assert ScoringModel("ridge").fit(X, y, scale=(1, 5)).predict(far).tolist() == [5.0, 1.0]


def test_rescale_maps_to_the_raters_mean_and_sd_then_snaps():
    from speechgrade.rubric import raters_mapping

    rng = np.random.default_rng(0)
    y = rng.uniform(1, 5, 300)
    pred = 3 + 0.4 * (y - 3) + rng.normal(0, 0.2, 300)  # shrunk to the middle, as regressors are
    rubric = Rubric(rescale=True).fit(pred, y, scale=(-100, 100))  # a wide scale: nothing is clipped
    mapped = rubric.transform(pred)
    assert mapped.mean() == pytest.approx(y.mean()) and mapped.std() == pytest.approx(y.std())
    assert rubric.mapping_ == pytest.approx(raters_mapping(pred, y)) and rubric.active and rubric.rescaled
    # one fitted rubric gives both score sets: raw is the model's score on the scale, mapped the rescaled one
    both = rubric.variants(pred)
    np.testing.assert_allclose(both["raw"], pred)
    np.testing.assert_allclose(both["mapped"], mapped)
    # rescale first, then clip to the scale, then snap
    snapped = Rubric(rescale=True, snap=0.5).fit(pred, y, scale=(1, 5)).transform(pred)
    np.testing.assert_allclose(snapped, np.round(np.clip(mapped, 1, 5) * 2) / 2)
    # calibrate wins over rescale: the isotonic map alone
    cal = Rubric(calibrate=True, rescale=True).fit(pred, y)
    np.testing.assert_allclose(cal.transform(pred), Rubric(calibrate=True).fit(pred, y).transform(pred))
    assert not cal.rescaled and cal.to_dict()["mapping"] is None
    # saved and loaded; a rubric saved before `rescale` existed does not rescale
    again = Rubric.from_dict(rubric.to_dict())
    np.testing.assert_array_equal(again.transform(pred), mapped)
    old = {k: v for k, v in Rubric(snap=0.5).fit(pred, y).to_dict().items() if k not in ("rescale", "mapping")}
    assert not Rubric.from_dict(old).rescale
    # constant predictions have no spread to stretch: they are only shifted to the labels' mean
    assert Rubric(rescale=True).fit(np.full(5, 2.0), np.arange(1.0, 6.0)).transform(np.full(2, 2.0)).tolist() == [3, 3]


def test_each_fold_maps_on_out_of_fold_predictions_of_its_training_rows_only(tone_dataset, cache_dir, monkeypatch):
    """The map to the raters' mean and SD is fitted inside each outer training fold, on that fold's inner out-of-fold
    predictions: it never sees the fold's test rows; the mapped scores are that map applied to the fold model's."""
    from speechgrade.folds import make_folds

    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    seen = []
    fit = Rubric.fit

    def spy(self, pred, y, scale=None):
        fit(self, pred, y, scale)
        seen.append((np.asarray(pred).copy(), np.asarray(y).copy(), self))
        return self

    monkeypatch.setattr(Rubric, "fit", spy)
    scorer = sg.Scorer("acoustic", "ridge", trials=0, rescale=True, cache=cache_dir)
    data = scorer.prepare(ds)
    ev = scorer.evaluate(ds, folds=4, repeats=2, prepared=data)
    splits = make_folds(data.y, data.groups, 4, 0) + make_folds(data.y, data.groups, 4, 1)
    assert len(seen) == len(splits) == 8
    p = ev.predictions.set_index(["repeat", "filename"])
    for k, ((pred, y, rubric), (tr, te)) in enumerate(zip(seen, splits)):
        np.testing.assert_array_equal(y, data.y[tr])  # the training rows' labels, in order: no test row
        slope, intercept = rubric.mapping_
        assert (slope * pred + intercept).mean() == pytest.approx(data.y[tr].mean())
        assert (slope * pred + intercept).std() == pytest.approx(data.y[tr].std())
        names = [data.names[i] for i in te]
        rows = p.loc[[(k // 4, n) for n in names]]
        lo, hi = rubric.range_
        np.testing.assert_allclose(rows["model_mapped"], np.clip(slope * rows["model_raw"] + intercept, lo, hi),
                                   atol=1e-9)
        np.testing.assert_allclose(rows["model"], rows["model_mapped"])  # --rescale: the model's scores are mapped
    assert ev.config["rescale"] is True
    assert ev.predictions["model_mapped"].std() > ev.predictions["model_raw"].std()
