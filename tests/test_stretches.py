"""Stretch scores: each stretch scored alone by the model; how they relate to the clip's score, as documented in
stretches.py; and every front end that shows them (predict --json --stretches, --report, the HTTP record)."""

import importlib
import json
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest
from audiogen import speechlike, write

import speechgrade as sg
from speechgrade.features import FEATURIZERS
from speechgrade.models import REGRESSORS
from speechgrade.speech import SPEECH_MODELS
from speechgrade.stretches import (MAX_STRETCHES, add_stretches, stretch_bounds, score_story, stretch_record,
                                   stretch_scores, used_families, weighted_mean)

SR = 16000


@pytest.fixture(scope="module")
def plugins():
    """The toy plugins (toy-means: sample means, so a clip's features are the mean of its parts')."""
    toy = importlib.reload(importlib.import_module("toyplugins"))
    yield toy
    for name in toy.NAMES["featurizers"]:
        FEATURIZERS.pop(name, None)
    for name in toy.NAMES["regressors"]:
        REGRESSORS.pop(name, None)
    for name in toy.NAMES["speech_models"]:
        SPEECH_MODELS.pop(name, None)


def _loudness_dataset(root, n: int = 30):
    """Clips whose label follows their loudness (label = 1 + 4 * gain)."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(n):
        gain = float(rng.uniform(0.2, 1.0))
        write(root / "wav" / f"c{i:02d}.wav", gain * speechlike(1.5, seed=i))
        rows.append({"filename": f"c{i:02d}", "label": round(1 + 4 * gain, 4)})
    pd.DataFrame(rows).to_csv(root / "data.csv", index=False)
    return sg.load_dataset(root / "data.csv", root / "wav")


@pytest.fixture(scope="module")
def linear_scorer(plugins, tmp_path_factory):
    """Ridge (linear, no rubric) on sample means: the model for which the clip's score is exactly the duration-weighted
    mean of non-overlapping stretches' scores."""
    ds = _loudness_dataset(tmp_path_factory.mktemp("loud"))
    return sg.Scorer("toy-means", "ridge", trials=0, abstain=False, cache=False).fit(ds)


@pytest.fixture(scope="module")
def pitch_model(tone_dataset, tmp_path_factory):
    """Ridge on acoustic measures, fitted on the tone dataset (label follows pitch), saved."""
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    cache = tmp_path_factory.mktemp("cache")
    return sg.Scorer("acoustic", "ridge", trials=0, cache=cache).fit(ds).save(tmp_path_factory.mktemp("m") / "model")


def _uneven(seconds=(2.0, 1.5, 2.7), gains=(0.3, 0.9, 0.5)):
    """Speech-like parts of different loudness, one after another."""
    return np.concatenate([g * speechlike(s, seed=k) for k, (s, g) in enumerate(zip(seconds, gains))])


def test_bounds_cover_the_clip_with_at_most_max_stretches():
    bounds = stretch_bounds(25 * SR)  # 10 s windows every 5 s: 0-10, 5-15, 10-20, 15-25
    assert [(a / SR, b / SR) for a, b in bounds] == [(0, 10), (5, 15), (10, 20), (15, 25)]
    tail = stretch_bounds(int(27.3 * SR))
    assert tail[-1] == (15 * SR, int(27.3 * SR))  # the tail (under a hop) joins the last stretch
    for seconds in (60, 600, 3600):
        long = stretch_bounds(seconds * SR)
        sizes = {b - a for a, b in long[:-1]}
        assert 2 <= len(long) <= MAX_STRETCHES and long[0][0] == 0 and long[-1][1] == seconds * SR
        assert len(sizes) == 1 and all(b1[0] - b0[0] == long[1][0] for b0, b1 in zip(long, long[1:]))  # even hop
    assert stretch_bounds(14 * SR) == [] and stretch_bounds(15 * SR) != []  # under one window plus one hop: none
    assert len(stretch_bounds(100 * SR, 3.0, 3.0, max_stretches=5)) == 5


def test_short_clips_have_no_stretches(linear_scorer):
    audio = speechlike(3.0)
    record = linear_scorer.score_audio(audio)
    summary = stretch_record(linear_scorer, audio, record)
    assert summary["windows"] == [] and summary["weighted_mean"] is None and summary["lowest"] is None
    assert summary["clip_score"] == record["score"]


def test_the_weighted_mean_is_the_mean_of_the_stretches_weighted_by_duration(linear_scorer):
    audio = _uneven()
    summary = stretch_record(linear_scorer, audio, linear_scorer.score_audio(audio), window_s=1.0, hop_s=0.5)
    found = summary["windows"]
    durations = np.array([s["end_s"] - s["start_s"] for s in found])
    scores = np.array([s["score"] for s in found])
    assert len(found) == 11 and durations[-1] > durations[0]  # the last runs to the end
    assert summary["weighted_mean"] == pytest.approx(float((durations * scores).sum() / durations.sum()), abs=1e-4)
    assert summary["lowest"] == int(np.argmin(scores))
    assert weighted_mean(found) == summary["weighted_mean"]


def test_linear_model_on_sample_means_adds_up_exactly(linear_scorer):
    """As documented: a linear model on features that are sample means, windows that do not overlap -> the clip's
    score is the duration-weighted mean of the stretches' scores; with overlapping windows it is not."""
    audio = _uneven()
    record = linear_scorer.score_audio(audio)
    apart = stretch_record(linear_scorer, audio, record, window_s=1.0, hop_s=1.0)
    scores = [s["score"] for s in apart["windows"]]
    assert len(scores) == 6 and max(scores) - min(scores) > 0.5  # the stretches differ...
    assert apart["weighted_mean"] == pytest.approx(record["score"], abs=2e-4)  # ...and add up to the clip's score
    overlapping = stretch_record(linear_scorer, audio, record, window_s=2.0, hop_s=1.0)
    assert abs(overlapping["weighted_mean"] - record["score"]) > 0.01  # not the clip's score in general


def test_stretches_are_scored_alone_without_touching_the_cache(plugins, tmp_path):
    ds = _loudness_dataset(tmp_path / "data", n=12)
    cache = tmp_path / "cache"
    scorer = sg.Scorer("toy-means", "ridge", trials=0, abstain=False, cache=cache).fit(ds)
    before = sorted(p.relative_to(cache) for p in cache.rglob("*") if p.is_file())
    audio = _uneven()
    found = stretch_scores(scorer, audio, 1.0, 1.0)
    after = sorted(p.relative_to(cache) for p in cache.rglob("*") if p.is_file())
    assert before == after  # no window is written to the feature cache
    alone = scorer.score_audio(audio[round(found[1]["start_s"] * SR):round(found[1]["end_s"] * SR)])  # scored alone, the same
    assert found[1]["score"] == pytest.approx(alone["score"], abs=1e-4)


def test_stretches_separate_the_halves_of_an_answer(pitch_model):
    """A clip whose second half is at the pitch of high labels: its later stretches score higher."""
    scorer = sg.Scorer.load(pitch_model)
    low, high = speechlike(6.0, f0=100 + 40 * 1.5, seed=1), speechlike(6.0, f0=100 + 40 * 4.5, seed=2)
    found = stretch_scores(scorer, np.concatenate([low, high]), window_s=2.0, hop_s=1.0)
    first = [s["score"] for s in found if s["end_s"] <= 6.0]
    second = [s["score"] for s in found if s["start_s"] >= 6.0]
    assert len(first) == 5 and len(second) == 5
    assert min(second) > max(first) + 1.0, (first, second)


def test_measures_keep_their_contributions(pitch_model):
    scorer = sg.Scorer.load(pitch_model)
    assert used_families(scorer) == ["acoustic"]
    audio = _uneven()
    summary = stretch_record(scorer, audio, scorer.score_audio(audio), 1.0, 1.0)
    assert summary["embedding"] is False and summary["story"] is None  # measures: their contributions say it


def test_embedding_models_say_so_in_words(plugins, tmp_path):
    """An encoder's pooled states alone (or an ensemble that keeps that member alone): the story in words."""
    pytest.importorskip("transformers")
    from tinymodels import save_tiny_wavlm

    wavlm = save_tiny_wavlm(tmp_path / "wavlm")
    ds = _loudness_dataset(tmp_path / "data", n=16)
    alone = sg.Scorer(f"ssl:{wavlm}", "ridge", trials=0, abstain=False, cache=False).fit(ds)
    assert used_families(alone) == ["ssl"]
    story = score_story(alone)
    assert story.startswith("This score comes from how the answer sounds to the encoder (a self-supervised speech "
                            "encoder)")
    both = sg.Scorer(f"toy-means,ssl:{wavlm}", "ridge", trials=0, abstain=False, ensemble="stack", cache=False,
                     folds=3).fit(ds)
    fitted = both.model_
    fitted.weights_ = np.array([1.0, 0.5])
    assert used_families(both) == ["toy-means", "ssl"] and score_story(both) is None  # a measure in use: no story
    fitted.weights_ = np.array([0.0, 1.0])  # the stack kept the encoder alone
    assert used_families(both) == ["ssl"] and score_story(both) == story
    audio = _uneven()
    summary = stretch_record(both, audio, both.score_audio(audio), 2.0, 1.0)
    assert summary["embedding"] is True and summary["story"] == story and len(summary["windows"]) == 5


def test_add_stretches_puts_them_in_the_record(linear_scorer):
    audio = _uneven()
    scores = linear_scorer.score([sg.Clip("a", audio), sg.Clip("b", audio[:SR])], details=True)
    add_stretches(linear_scorer, scores, lambda name: {"a": audio, "b": audio[:SR]}[name], 1.0, 1.0)
    a, b = scores.record("a"), scores.record("b")
    assert len(a["stretches"]["windows"]) == 6 and a["stretches"]["clip_score"] == a["score"]
    assert b["stretches"]["windows"] == []  # one second: too short for two stretches
    json.dumps(a)  # the record stays JSON


def test_predict_json_and_report_show_the_stretches(pitch_model, tmp_path):
    from typer.testing import CliRunner

    from speechgrade.cli import app

    halves = np.concatenate([speechlike(10.0, f0=160, seed=1), speechlike(10.0, f0=280, seed=2)])
    answer = write(tmp_path / "answer.wav", halves)
    runner = CliRunner()
    plain = runner.invoke(app, ["predict", str(pitch_model), str(answer), "--cache", str(tmp_path / "c"), "--json"])
    assert plain.exit_code == 0, plain.output
    assert "stretches" not in json.loads(plain.stdout.strip().splitlines()[-1])  # only when asked
    done = runner.invoke(app, ["predict", str(pitch_model), str(answer), "--cache", str(tmp_path / "c"), "--json", "--stretches"])
    assert done.exit_code == 0, done.output
    record = json.loads(done.stdout.strip().splitlines()[-1])
    found = record["stretches"]
    assert [(w["start_s"], w["end_s"]) for w in found["windows"]] == [(0, 10), (5, 15), (10, 20)]
    assert found["clip_score"] == record["score"] and found["window_s"] == 10 and found["hop_s"] == 5
    assert found["windows"][2]["score"] > found["windows"][0]["score"]  # the higher pitch, the higher label
    assert found["lowest"] == 0 and found["story"] is None

    report = tmp_path / "pages"
    done = runner.invoke(app, ["predict", str(pitch_model), str(answer), "--cache", str(tmp_path / "c"), "--report", str(report)])
    assert done.exit_code == 0, done.output
    page = (report / "answer-0.html").read_text()
    chart = page[page.index("<svg"):page.index("</svg>") + 6]
    ElementTree.fromstring(chart)  # well-formed SVG
    assert chart.count("<circle") == 3 and "whole answer" in chart and "<script" not in page and "http" not in chart.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert "0:00.0–0:10.0" in page and "The lowest stretch is 0:00.0–0:10.0" in page
    assert f"weighted by duration is {found['weighted_mean']:.2f}" in page
    assert "What drove the score</h3><table>" in page  # acoustic measures: their contributions, as before


def test_the_report_says_in_words_when_an_embedding_drives_the_score():
    from speechgrade.report import answer_page

    story = "This score comes from how the answer sounds to the encoder (<i>x</i>)"
    record = {"filename": "a.wav", "score": 3.0, "scores": {"total": {"score": 3.0, "range": [0, 5], "band": "middle",
                                                                     "explanation": {"ssl": 0.5, "base": 2.5}}},
              "stretches": {"label": "total", "window_s": 10, "hop_s": 5, "clip_score": 3.0, "weighted_mean": 2.5,
                            "lowest": 1, "story": story, "embedding": True,
                            "windows": [{"start_s": 0, "end_s": 10, "score": 3.5},
                                        {"start_s": 5, "end_s": 15, "score": 1.5},
                                        {"start_s": 10, "end_s": 17.5, "score": None}]}}
    page = answer_page(record, {"titles": {}, "meanings": {}, "ranges": {}})
    assert "sounds to the encoder (&lt;i&gt;x&lt;/i&gt;)" in page and "+0.50" not in page  # words, not a contribution
    assert page.count("<circle") == 2 and "not scored" in page and "0:05.0–0:15.0 (1.50)" in page
    short = answer_page({**record, "stretches": {**record["stretches"], "windows": [], "lowest": None}},
                        {"titles": {}, "meanings": {}, "ranges": {}})
    assert "too short to score in stretches (it needs 15 s)" in short and "<svg" not in short


def test_the_http_record_has_the_stretches_when_asked(pitch_model, tmp_path):
    import time

    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from speechgrade.serve.app import ServeConfig, create_app

    halves = np.concatenate([speechlike(10.0, f0=160, seed=1), speechlike(10.0, f0=280, seed=2)])
    data = write(tmp_path / "answer.wav", halves).read_bytes()
    upload = {"file": ("answer.wav", data, "audio/wav")}
    with TestClient(create_app(ServeConfig(str(pitch_model), cache=str(tmp_path / "cache")))) as client:
        plain = client.post("/v1/score", files=upload)
        asked = client.post("/v1/score?stretches=1", files=upload)
        started = client.post("/v1/jobs?stretches=true", files=upload).json()
        job = started
        for _ in range(200):
            job = client.get(started["url"]).json()
            if job["stage"] in ("done", "failed"):
                break
            time.sleep(0.1)
    assert plain.status_code == 200 and "stretches" not in plain.json()
    assert asked.status_code == 200, asked.text
    found = asked.json()["stretches"]
    assert [(w["start_s"], w["end_s"]) for w in found["windows"]] == [(0, 10), (5, 15), (10, 20)]
    assert found["clip_score"] == asked.json()["score"] and found["weighted_mean"] is not None
    assert job["stage"] == "done" and job["result"]["stretches"] == found
