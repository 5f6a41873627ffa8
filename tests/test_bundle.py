import json

import numpy as np
import pytest

import speechgrade as sg
from speechgrade.errors import BundleError


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tone_dataset):
    cache = tmp_path_factory.mktemp("cache")
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    scorer = sg.Scorer("acoustic", "lightgbm", trials=2, cache=cache).fit(ds)
    model_dir = scorer.save(tmp_path_factory.mktemp("model") / "m")
    return scorer, model_dir, ds, cache


def test_round_trip_gives_identical_predictions(trained):
    scorer, model_dir, ds, cache = trained
    loaded = sg.Scorer.load(model_dir, cache=cache)
    a, b = scorer.predict(ds.paths[:10]), loaded.predict(ds.paths[:10])
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    assert a.name == "label" and list(a.index) == [p.name for p in ds.paths[:10]]
    assert loaded.label_range_[0] <= a.min() and a.max() <= loaded.label_range_[1]
    iv = loaded.predict_interval(ds.paths[:10])
    assert (iv["lo"] <= iv["score"]).all() and (iv["score"] <= iv["hi"]).all() and iv.attrs["coverage"] == 0.8


def test_manifest_records_what_a_user_needs(trained):
    _, model_dir, ds, _ = trained
    m = json.loads((model_dir / "manifest.json").read_text())
    assert m["format_version"] == 1 and m["label"]["name"] == "label"
    assert m["featurizers"][0]["name"] == "acoustic" and m["featurizers"][0]["version"] == "1"
    assert len(m["feature_columns"]) == 78 and m["training_data"]["n"] == 40
    assert len(m["training_data"]["fingerprint"]) == 64 and "lightgbm" in m["libraries"]
    assert set(m["files"]) == {"preprocess.npz", "model.lgb.txt", "README.md"}  # README.md: the model card
    assert m["tuning"]["trials"] == 2 and "created" in m
    assert m["interval"]["coverage"] == 0.8 and m["interval"]["halfwidth"] > 0


def _copy(model_dir, tmp_path):
    import shutil

    dst = tmp_path / "copy"
    shutil.copytree(model_dir, dst)
    return dst


def test_tampered_manifest_is_refused(trained, tmp_path):
    d = _copy(trained[1], tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    m["label"]["max"] = 100
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="modified after saving"):
        sg.Scorer.load(d)


def test_tampered_model_file_is_refused(trained, tmp_path):
    d = _copy(trained[1], tmp_path)
    with open(d / "model.lgb.txt", "a") as fh:
        fh.write("\n# changed")
    with pytest.raises(BundleError, match="model.lgb.txt: model file was modified"):
        sg.Scorer.load(d)


def test_unknown_version_and_missing_bundle_are_refused(trained, tmp_path):
    d = _copy(trained[1], tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    m["format_version"] = 99
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="format version 99 is not supported"):
        sg.Scorer.load(d)
    with pytest.raises(BundleError, match="no manifest.json"):
        sg.Scorer.load(tmp_path / "nothing")


def test_featurizer_version_mismatch_is_refused(trained, tmp_path):
    from speechgrade.bundle import _checksum

    d = _copy(trained[1], tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    m["featurizers"][0]["version"] = "0"
    m["checksum"] = _checksum(m)
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="featurizer version 0"):
        sg.Scorer.load(d)


def test_an_old_bundle_with_the_scale_in_its_rubric_still_loads(trained, tmp_path):
    """Bundles before the scale was kept once also wrote it in `rubric.range`: they load with that scale."""
    from speechgrade.bundle import _checksum

    scorer, model_dir, ds, cache = trained
    d = _copy(model_dir, tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    assert "range" not in m["rubric"]  # new bundles record the scale once, in `label`
    m["label"]["min"], m["label"]["max"] = 0.0, 10.0
    m["rubric"]["range"] = [0.0, 10.0]  # the old shape: a second copy in the rubric
    m["checksum"] = _checksum(m)
    (d / "manifest.json").write_text(json.dumps(m))
    loaded = sg.Scorer.load(d, cache=cache)
    assert loaded.label_range_ == loaded.rubric_.range_ == (0.0, 10.0)
    iv = loaded.predict_interval(ds.paths[:5])
    assert (iv["lo"] >= 0).all() and (iv["hi"] <= 10).all()
