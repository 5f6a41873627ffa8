"""Adding a featurizer, a regressor or an ASR backend is one class and one registration: each runs through every
front end."""

import importlib
import json

import numpy as np
import pytest
from typer.testing import CliRunner

import speechgrade as sg
from speechgrade.features import FEATURIZERS
from speechgrade.models import REGRESSORS
from speechgrade.speech import SPEECH_MODELS


@pytest.fixture
def plugins():
    """The toy plugins registered for one test (one import registers them, as a plugin module would)."""
    toy = importlib.reload(importlib.import_module("toyplugins"))
    yield
    for name in toy.NAMES["featurizers"]:
        FEATURIZERS.pop(name, None)
    for name in toy.NAMES["regressors"]:
        REGRESSORS.pop(name, None)
    for name in toy.NAMES["speech_models"]:
        SPEECH_MODELS.pop(name, None)


def test_a_new_featurizer_and_regressor_work_everywhere(plugins, tone_dataset, tmp_path):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    scorer = sg.Scorer("toy-loudness,acoustic", "toy-lstsq", trials=0, cache=tmp_path / "cache")
    ev = scorer.evaluate(ds, folds=4, repeats=1)
    assert ev.summary["n"] == len(ds) and np.isfinite(ev.summary["rmse"])
    model = scorer.fit(ds).save(tmp_path / "model")
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["featurizers"][0]["name"] == "toy-loudness" and manifest["model"]["regressor"] == "toy-lstsq"
    api = sg.Scorer.load(model, cache=tmp_path / "cache").predict(ds.paths[:3])
    assert api.notna().all()

    # the command line lists it with its columns, and predicts with it
    runner = CliRunner()
    from speechgrade.cli import app

    listed = runner.invoke(app, ["list", "--columns"])
    assert "toy-loudness" in listed.output and "toy-loudness.zcr\tzero crossings per sample" in listed.output
    assert "toy-lstsq" in listed.output
    done = runner.invoke(app, ["predict", str(model), *map(str, ds.paths[:3]), "--cache", str(tmp_path / "cache")])
    assert done.exit_code == 0, done.output
    cli = [float(line.split(",")[1]) for line in done.stdout.strip().splitlines()[1:]]
    np.testing.assert_allclose(cli, api.round(4).to_numpy())

    # and the HTTP API serves it, with its summary column
    from fastapi.testclient import TestClient
    from speechgrade.serve.app import ServeConfig, create_app

    client = TestClient(create_app(ServeConfig(str(model), cache=str(tmp_path / "cache"), plugins=["toyplugins"])))
    r = client.post("/v1/score", files={"file": ("a.wav", ds.paths[0].read_bytes(), "audio/wav")})
    assert r.status_code == 200, r.text
    assert r.json()["score"] == pytest.approx(api.iloc[0], abs=1e-4)
    assert "toy-loudness.rms_db" in r.json()["features"]


def test_a_new_asr_backend_serves_every_transcript_featurizer(plugins, tone_dataset, tmp_path):
    """`--asr toy` (a backend registered by one plug-in class) writes the transcript that whisper, grammar and
    text-embedding read, on the command line and through the Scorer, and answers the English check."""
    pytest.importorskip("spacy")
    pytest.importorskip("sentence_transformers")
    import pandas as pd
    from speechgrade.cli import app

    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    out = tmp_path / "feats.csv"
    done = CliRunner().invoke(app, ["extract", str(tone_dataset), "-a", str(tone_dataset.parent / "wav"), "-f",
                                    "whisper,grammar,text-embedding,acoustic", "--asr", "toy", "--cache",
                                    str(tmp_path / "cache"), "--out", str(out)])
    assert done.exit_code == 0, done.output
    table = pd.read_csv(out, index_col=0)
    assert len(table) == len(ds) and table.notna().all().all()
    # 1.5 s clips: the toy hears five words in each, and the grammar and embedding columns read that transcript
    assert (table["whisper.word_count"] == 5).all()
    assert (table.filter(like="text-embedding.").abs().sum(axis=1) > 0).all()
    assert table.filter(like="grammar.").abs().sum(axis=1).gt(0).all()

    scorer = sg.Scorer("whisper,grammar,acoustic", "ridge", trials=0, asr="toy", cache=tmp_path / "cache").fit(ds)
    assert scorer.post_.language == "toy"  # the English check asks the toy backend
    record = next(scorer.score(ds.paths[:1], details=True).records())
    assert record["transcript"] == "I goes to the school" and not record["abstain"]
    assert any(f["text"] == "goes" for f in record["grammar_findings"])
