"""What the product writes and says: one record shape, honest verdicts, the rubric's range, safe CSV and paths."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import speechgrade as sg
from speechgrade.csvsafe import neutralise
from speechgrade.evaluate import agreement, against_mean, cross_validate, fit_mean

CLI = [sys.executable, "-m", "speechgrade"]


def run(*args, ok=True):
    proc = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=600)
    assert proc.returncode in ((0,) if ok else (1, 2)), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


@pytest.fixture(scope="module")
def grammar_model(tone_dataset, tmp_path_factory):
    """A model of a label called `grammar`, trained with --label-range 0,10 on labels of 1-5."""
    root = tmp_path_factory.mktemp("grammar")
    frame = pd.read_csv(tone_dataset).rename(columns={"label": "grammar"})
    csv = root / "grammar.csv"
    frame.to_csv(csv, index=False)
    run("train", csv, "-a", tone_dataset.parent / "wav", "-l", "grammar", "-f", "acoustic", "--label-range", "0,10",
        "--out", root / "model", "--cache", root / "cache")
    return root, csv, tone_dataset.parent / "wav"


def test_a_label_called_grammar_keeps_its_score_and_its_range(grammar_model):
    root, _, wav = grammar_model
    manifest = json.loads((root / "model" / "manifest.json").read_text())
    assert manifest["label"]["min"] == 0 and manifest["label"]["max"] == 10
    record = json.loads(run("predict", root / "model", wav / "clip001.wav", "--json", "--cache", root / "cache").stdout)
    assert isinstance(record["score"], float) and record["scores"]["grammar"]["score"] == record["score"]
    assert record["scores"]["grammar"]["range"] == [0.0, 10.0]
    assert record["interval"]["lo"] >= 0 and record["interval"]["hi"] <= 10


def test_predict_scores_every_audio_file_of_a_folder(grammar_model):
    root, _, wav = grammar_model
    out = run("predict", root / "model", wav, "--cache", root / "cache").stdout
    table = pd.read_csv(pd.io.common.StringIO(out))
    assert len(table) == len(list(wav.glob("*.wav"))) and table["grammar"].notna().all()


def test_an_output_that_is_an_input_is_refused_and_left_intact(grammar_model):
    root, csv, wav = grammar_model
    before = csv.read_bytes()
    proc = run("predict", root / "model", csv, "-a", wav, "-o", csv, ok=False)
    assert "the output (--out) is an input file" in proc.stderr and csv.read_bytes() == before
    proc = run("extract", csv, "-a", wav, "-f", "acoustic", "-o", csv, ok=False)
    assert csv.read_bytes() == before


def test_formula_cells_are_neutralised_and_numbers_stay_numbers():
    frame = pd.DataFrame({"filename": ["=HYPERLINK(\"x\")", "+SUM(1)", "ok", "-2"], "score": [1.0, -2.0, 3.0, 4.0]})
    safe, changed = neutralise(frame.set_index("filename"))
    assert list(safe.index) == ["'=HYPERLINK(\"x\")", "'+SUM(1)", "ok", "'-2"] and changed == 3
    assert list(safe["score"]) == [1.0, -2.0, 3.0, 4.0]


def test_markup_in_a_filename_is_shown_not_parsed(grammar_model, tmp_path):
    root, _, wav = grammar_model
    proc = run("predict", root / "model", tmp_path / "[/x]gone.wav", "[bold red]missing.wav", ok=False)
    assert "[/x]gone.wav" in proc.stderr and "[bold red]missing.wav" in proc.stderr


def test_agreement_is_quadratic_weighted_kappa_on_the_label_step():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    y = rng.choice(np.arange(1, 5.5, 0.5), 300)
    p = y + rng.normal(0, 0.6, 300)
    got = agreement(y, p)
    yi, pi = np.round((y - 1) / 0.5).astype(int), np.round((np.clip(p, 1, 5) - 1) / 0.5).astype(int)
    assert got["qwk"] == pytest.approx(cohen_kappa_score(yi, pi, weights="quadratic"))
    assert got["exact"] == pytest.approx(np.mean(yi == pi)) and got["adjacent"] >= got["exact"]


def test_a_model_no_better_than_the_mean_is_called_so():
    rng = np.random.default_rng(1)
    y, X = rng.uniform(1, 5, 80), rng.normal(size=(80, 5))  # features unrelated to the labels
    ev = cross_validate(X, y, None, fit_mean, folds=4, repeats=2)
    assert "NOT clearly better than predicting the mean" in ev.summary["against_mean"]["verdict"]
    good = against_mean(y, (y + rng.normal(0, 0.2, 80))[None], np.full((1, 80), y.mean()))
    assert good["verdict"].startswith("The model is clearly better") and good["rmse_gain_ci95"][0] > 0


def test_label_range_must_hold_the_labels(tone_dataset):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    with pytest.raises(sg.SpeechgradeError, match="outside --label-range"):
        sg.Scorer("acoustic", "ridge", trials=0, cache=False, label_range=(2, 3)).fit(ds)


def test_predict_report_writes_a_readable_page_per_answer(tone_dataset, tmp_path):
    import speechgrade as sg
    from typer.testing import CliRunner

    from speechgrade.cli import app

    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    model = sg.Scorer("acoustic", "ridge", trials=0, cache=tmp_path / "c").fit(ds).save(tmp_path / "m")
    clips = [str(p) for p in ds.paths[:3]]
    result = CliRunner().invoke(app, ["predict", str(model), *clips, "--report", str(tmp_path / "pages"),
                                      "--cache", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "explain" not in result.stdout  # the CSV is as without --report
    index = (tmp_path / "pages" / "index.html").read_text()
    assert index.count("answer-") == 3 and "clip000" in index
    page = (tmp_path / "pages" / "answer-0.html").read_text()
    assert "label: " in page and " interval " in page and "most training answers" in page
    assert "acoustic measures" in page and "acoustic.pause_count" not in page  # words, not column names
