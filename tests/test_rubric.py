import numpy as np

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
