"""The Scorer as a whole: one inference path for every front end, and a bundle that restores what was saved."""

import json
import subprocess
import sys

import numpy as np
import pytest

import speechgrade as sg
from speechgrade.audio import decode_audio


@pytest.fixture(scope="module")
def fitted(tone_dataset, tmp_path_factory):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    cache = tmp_path_factory.mktemp("cache")
    scorer = sg.Scorer("acoustic", "ridge", trials=0, calibrate=True, cache=cache).fit(ds)
    return scorer, scorer.save(tmp_path_factory.mktemp("m") / "model"), ds, cache


def test_cli_http_and_python_give_identical_scores(fitted):
    scorer, model, ds, cache = fitted
    paths = ds.paths[:4]
    api = sg.Scorer.load(model, cache=cache).score(paths, explain=True)
    cli = subprocess.run([sys.executable, "-m", "speechgrade", "predict", str(model), *map(str, paths), "--json",
                          "--explain", "--cache", str(cache)], capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    lines = [json.loads(line) for line in cli.stdout.splitlines() if line.strip()]
    from fastapi.testclient import TestClient
    from speechgrade.serve.app import ServeConfig, create_app

    client = TestClient(create_app(ServeConfig(str(model), cache=str(cache))))
    for path, record, line in zip(paths, api.records(), lines):
        http = client.post("/v1/score", files={"file": (path.name, path.read_bytes(), "audio/wav")}).json()
        assert record["score"] == line["score"] == http["score"] == line["scores"]["label"]["score"]
        # one record shape: the server adds only what a request has (timing, the model and its label)
        assert set(http) - set(line) == {"label", "model", "duration_s", "processing_s"} and set(line) <= set(http)
        assert record["interval"] == line["interval"] == http["interval"]
        assert record["explanation"] == line["explanation"] == http["explanation"]
        assert record["raw_score"] == line["raw_score"] == http["raw_score"]


def test_decoded_clips_score_like_their_files(fitted):
    scorer, _, ds, _ = fitted
    clips = [sg.Clip(p.name, decode_audio(p)) for p in ds.paths[:3]]
    np.testing.assert_allclose(scorer.predict(clips).to_numpy(), scorer.predict(ds.paths[:3]).to_numpy(), atol=1e-9)
    one = scorer.score_audio(clips[0].audio)
    assert one["score"] == round(float(scorer.predict(ds.paths[:1]).iloc[0]), 4)
    assert "acoustic.speech_ratio" in one["features"] and "acoustic" in one["explanation"]


def test_load_restores_exactly_what_save_wrote(fitted):
    scorer, model, _, cache = fitted
    loaded = sg.Scorer.load(model, cache=cache)
    manifest = json.loads((model / "manifest.json").read_text())
    assert loaded.get_config() == manifest["config"] == scorer.get_config()
    assert loaded.rubric_.to_dict() == scorer.rubric_.to_dict() and loaded.label_range_ == scorer.label_range_


def test_a_failed_file_keeps_its_place_and_reason(fitted, tmp_path):
    scorer, _, ds, _ = fitted
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    scores = scorer.score([ds.paths[0], bad, ds.paths[1]])
    assert list(scores.frame.index) == [ds.paths[0].name, "bad.wav", ds.paths[1].name]
    assert np.isnan(scores.frame.loc["bad.wav", "label"]) and "bad.wav" in scores.problems
    assert scores.record("bad.wav")["error"] == scores.problems["bad.wav"]


def test_unfitted_scorer_says_so():
    with pytest.raises(sg.SpeechgradeError, match="not fitted"):
        sg.Scorer("acoustic").predict(["x.wav"])
