"""Sub-scores: several labels from one extraction, one bundle, every front end."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import speechgrade as sg
from speechgrade.composite import parse_overall

CLI = [sys.executable, "-m", "speechgrade"]


@pytest.fixture(scope="module")
def labelled(tone_dataset, tmp_path_factory):
    """The tone clips with three labels: `pitch` (learnable), `noise` (not), `overall`; `noise` lacks 6 values."""
    root = tone_dataset.parent
    frame = pd.read_csv(tone_dataset)
    rng = np.random.default_rng(0)
    frame["pitch"] = frame["label"]
    frame["noise"] = rng.uniform(1, 5, len(frame)).round(1)
    frame.loc[:5, "noise"] = np.nan
    frame["overall"] = (frame["pitch"] + frame["noise"].fillna(3)) / 2
    path = tmp_path_factory.mktemp("multi") / "multi.csv"
    frame.drop(columns=["label"]).to_csv(path, index=False)
    return path, root / "wav"


def test_all_labels_are_read_and_rows_missing_one_label_are_kept(labelled):
    path, wav = labelled
    data = sg.load_dataset(path, wav, "all")
    assert data.labels == ["pitch", "noise", "overall"] and len(data) == 40  # `group` and `filename` are metadata
    assert data.table["noise"].isna().sum() == 6
    assert len(data.with_label("noise")) == 34 and len(data.with_label("pitch")) == 40


def test_each_label_is_evaluated_on_its_own_rows_with_the_composite(labelled, tmp_path):
    path, wav = labelled
    data = sg.load_dataset(path, wav, "pitch,noise")
    scorer = sg.Scorer(overall="pitch=1,noise=1", featurizers="acoustic", cache=tmp_path)
    ev = scorer.evaluate(data, folds=4, repeats=2)
    table = ev.table()
    assert table.loc["pitch", "n"] == 40 and table.loc["noise", "n"] == 34 and ev.missing["noise"] == 6
    assert table.loc["pitch", "pearson"] > 0.8 and table.loc["noise", "pearson"] < 0.5
    assert ev.overall["against"] == "overall" and ev.overall["weights"] == {"pitch": 0.5, "noise": 0.5}
    assert ev.predicted_corr.shape == (2, 2) and ev.human_corr.loc["pitch", "pitch"] == 1.0
    assert json.loads(json.dumps(ev.to_json(), default=str))["labels"]["noise"]["n"] == 34


def test_one_bundle_serves_every_sub_score_everywhere(labelled, tmp_path):
    path, wav = labelled
    model, cache = tmp_path / "model", tmp_path / "cache"
    train = subprocess.run([*CLI, "train", str(path), "-a", str(wav), "-l", "pitch,noise", "--overall", "mean",
                            "-f", "acoustic", "--out", str(model), "--cache", str(cache)],
                           capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["kind"] == "multi-label" and manifest["labels"] == ["pitch", "noise"]
    # folders are numbered, never named by a label: a CSV header is not a path
    assert sorted(p.name for p in model.iterdir()) == ["README.md", "label-0", "label-1", "manifest.json"]
    clips = sorted(wav.iterdir())[:3]
    api = sg.Scorer.load(model, cache=cache).predict(clips)
    assert list(api.columns) == ["pitch", "noise", "overall"] and api.notna().all().all()

    csv = subprocess.run([*CLI, "predict", str(model), *map(str, clips), "--intervals", "--cache", str(cache)],
                         capture_output=True, text=True, timeout=300)
    assert csv.returncode == 0, csv.stderr
    header = csv.stdout.splitlines()[0].split(",")
    assert header == ["filename", "pitch", "noise", "overall", "pitch_lo", "pitch_hi", "noise_lo", "noise_hi"]
    lines = subprocess.run([*CLI, "predict", str(model), *map(str, clips), "--json", "--cache", str(cache)],
                           capture_output=True, text=True, timeout=300).stdout.splitlines()
    record = json.loads(lines[0])
    assert set(record["scores"]) == {"pitch", "noise"} and "interval" in record["scores"]["noise"]
    assert record["scores"]["pitch"]["score"] == round(api.iloc[0]["pitch"], 4)

    from fastapi.testclient import TestClient
    from speechgrade.serve.app import ServeConfig, create_app

    client = TestClient(create_app(ServeConfig(str(model), cache=str(cache))))
    body = client.post("/v1/score", files={"file": ("a.wav", clips[0].read_bytes())}).json()
    assert body["scores"]["pitch"]["score"] == record["scores"]["pitch"]["score"]
    assert body["overall"] == record["overall"] and "explanation" in body["scores"]["noise"]
    info = client.get("/v1/model").json()
    assert set(info["labels"]) == {"pitch", "noise"} and info["overall"] == {"pitch": 0.5, "noise": 0.5}


def test_a_single_label_bundle_still_loads_as_before(tone_dataset, tmp_path):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    model = sg.Scorer("acoustic", "ridge", trials=0, cache=False).fit(ds).save(tmp_path / "m")
    loaded = sg.Scorer.load(model)
    assert isinstance(loaded, sg.Scorer) and loaded.label_ == "label"


def test_overall_weights_are_checked():
    assert parse_overall("mean", ["a", "b"]) == {"a": 0.5, "b": 0.5}
    assert parse_overall("a=3,b=1", ["a", "b"]) == {"a": 0.75, "b": 0.25}
    with pytest.raises(sg.SpeechgradeError, match="--overall"):
        parse_overall("c=1", ["a", "b"])
