"""The commands as a user runs them: a real subprocess, real files, what it prints and writes."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from audiogen import write

CLI = [sys.executable, "-m", "speechgrade"]


def run(*args, env_cache=None, ok=True):
    env = {**os.environ}
    if env_cache:
        env["SPEECHGRADE_CACHE"] = str(env_cache)
    proc = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, env=env, timeout=600)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.mark.parametrize("cmd", ["", "extract", "evaluate", "train", "predict", "demo", "list"])
def test_help_is_complete_with_examples(cmd):
    out = run(*([cmd] if cmd else []), "--help").stdout
    assert "Usage" in out
    if cmd and cmd != "list":
        assert "Example" in out


@pytest.mark.slow
def test_extract_evaluate_train_predict(tone_dataset, tmp_path):
    data, wav = tone_dataset, tone_dataset.parent / "wav"
    cache = tmp_path / "cache"
    run("extract", data, "--audio-dir", wav, "--features", "acoustic", "--out", tmp_path / "f.parquet",
        env_cache=cache)
    table = pd.read_parquet(tmp_path / "f.parquet")
    assert table.shape == (40, 78) and table.index.name == "filename"

    proc = run("evaluate", data, "-a", wav, "-f", "acoustic", "-r", "ridge", "--folds", "4", "--repeats", "2",
               "--trials", "3", "--json", tmp_path / "m.json", "--report", tmp_path / "rep", env_cache=cache)
    assert "Pearson r" in proc.stdout and "baseline: mean" in proc.stdout
    m = json.loads((tmp_path / "m.json").read_text())
    for key in ("n", "rmse", "rmse_std", "mae", "mae_std", "pearson", "pearson_std", "spearman", "spearman_std",
                "pearson_ci95", "baselines", "config"):
        assert key in m
    assert m["n"] == 40 and m["pearson"] > 0.8 and set(m["baselines"]) == {"mean", "ridge", "fluency"}
    assert m["config"]["regressor"] == "ridge" and m["interval_coverage_target"] == 0.8
    page = (tmp_path / "rep" / "index.html").read_text()
    for png in ("scatter.png", "residuals.png", "folds.png", "importance.png"):
        assert (tmp_path / "rep" / png).stat().st_size > 5000 and png in page

    run("train", data, "-a", wav, "-f", "acoustic", "-r", "lightgbm", "--trials", "2", "--out", tmp_path / "model",
        env_cache=cache)
    assert (tmp_path / "model" / "manifest.json").exists()

    test_csv = tmp_path / "test.csv"
    pd.DataFrame({"filename": ["clip003", "nope", "clip001"]}).to_csv(test_csv, index=False)
    proc = run("predict", tmp_path / "model", test_csv, "-a", wav, "--out", tmp_path / "p.csv", env_cache=cache)
    run("predict", tmp_path / "model", test_csv, "-a", wav, "--intervals", "--out", tmp_path / "pi.csv", env_cache=cache)
    assert list(pd.read_csv(tmp_path / "pi.csv").columns) == ["filename", "label", "label_lo", "label_hi"]
    run("predict", tmp_path / "model", test_csv, "-a", wav, "--explain", "--out", tmp_path / "pe.csv", env_cache=cache)
    explained = pd.read_csv(tmp_path / "pe.csv", dtype={"filename": str}).set_index("filename")
    assert list(explained.columns) == ["label", "explain.acoustic", "explain.base"]
    ok = explained.dropna()
    rng = json.loads((tmp_path / "model" / "manifest.json").read_text())["label"]
    total = ok[["explain.acoustic", "explain.base"]].sum(1).clip(rng["min"], rng["max"])
    np.testing.assert_allclose(total, ok["label"], atol=1e-3)
    pred = pd.read_csv(tmp_path / "p.csv", dtype={"filename": str})
    assert list(pred.columns) == ["filename", "label"]
    assert list(pred["filename"]) == ["clip003", "nope", "clip001"]
    assert pred["label"].notna().sum() == 2
    assert "nope" in proc.stderr and "not found" in proc.stderr

    proc = run("predict", tmp_path / "model", wav / "clip002.wav", "--json", env_cache=cache)
    record = json.loads(proc.stdout)
    assert record["filename"] == "clip002.wav" and 1 <= record["score"] <= 5 and record["scores"]["label"]["score"] == record["score"]
    assert record["interval"]["lo"] <= record["score"] <= record["interval"]["hi"] and record.get("abstain") is None

    noise = write(tmp_path / "noise.wav", (0.1 * np.random.default_rng(0).normal(size=48000)).astype(np.float32))
    proc = run("predict", tmp_path / "model", wav / "clip002.wav", noise, tmp_path / "gone.wav", "--abstain",
               env_cache=cache)
    flagged = pd.read_csv(io.StringIO(proc.stdout), keep_default_na=False)
    assert list(flagged.columns) == ["filename", "label", "abstain", "abstain_reason"]
    assert list(flagged["abstain"]) == [False, True, True] and flagged["abstain_reason"][1].startswith("mostly noise")
    assert "flagged noise.wav: mostly noise" in " ".join(proc.stderr.split())


def test_snap_and_calibrate_from_the_command_line(tone_dataset, tmp_path):
    data, wav = tone_dataset, tone_dataset.parent / "wav"
    proc = run("evaluate", data, "-a", wav, "-f", "acoustic", "-r", "ridge,svr", "--folds", "4", "--repeats", "1",
               "--trials", "0", "--snap", "0.5", "--calibrate", "--predictions", tmp_path / "oof.csv",
               "--json", tmp_path / "m.json", env_cache=tmp_path / "cache")
    oof = pd.read_csv(tmp_path / "oof.csv")
    assert np.allclose(oof["model"] * 2, np.round(oof["model"] * 2)) and "Pearson r" in proc.stdout
    assert sum(json.loads((tmp_path / "m.json").read_text())["regressor_choices"].values()) == 4
    proc = run("evaluate", data, "-a", wav, "--snap", "half", ok=False)
    assert proc.returncode == 1 and "--snap takes a step" in proc.stderr


def test_list_explains_every_column():
    out = run("list", "--columns").stdout
    assert "lightgbm" in out and "acoustic.pause_count\t" in out and "syllable" in out


def test_errors_are_one_line_without_traceback(tmp_path):
    proc = run("evaluate", tmp_path / "missing.csv", ok=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "missing.csv: CSV file not found" in proc.stderr
    proc = run("predict", tmp_path, "x.wav", ok=False)
    assert proc.returncode == 1 and "not a speechgrade model" in proc.stderr
    proc = run("evaluate", tmp_path / "missing.csv", "--debug", ok=False)
    assert "Traceback" in proc.stderr
    proc = run("extract", tmp_path / "missing.csv", "--features", "bogus", ok=False)
    assert "Traceback" not in proc.stderr


def test_demo_runs_on_the_bundled_sample(tmp_path):
    proc = run("demo", "--label", "fluency", "--out", tmp_path / "demo", "--trials", "2", "--repeats", "1",
               "--features", "acoustic",
               env_cache=tmp_path / "cache")
    assert "baseline: mean" in proc.stdout and "held-out" in proc.stdout
    assert (tmp_path / "demo" / "report" / "index.html").exists()
    assert (tmp_path / "demo" / "model" / "manifest.json").exists()


def test_version():
    import speechgrade

    assert run("--version").stdout == f"speechgrade {speechgrade.__version__}\n"


def test_evaluate_shows_decisions_at_several_cut_scores_and_train_says_its_scale(tone_dataset, tmp_path):
    data, wav = tone_dataset, tone_dataset.parent / "wav"
    labels = pd.read_csv(data)["label"]
    proc = run("evaluate", data, "-a", wav, "-f", "acoustic", "-r", "ridge", "--trials", "0", "--folds", "3",
               "--repeats", "1", "--cut-score", "2.5,3", "--cut-score", "4", "--json", tmp_path / "m.json",
               "--report", tmp_path / "rep", env_cache=tmp_path / "cache")
    said = " ".join(proc.stderr.split())
    assert (f"label: scale {labels.min():g}-{labels.max():g}, taken from the training labels; pass --label-range 1,5 "
            "if the rubric is wider") in said
    shown = " ".join(proc.stdout.split())
    assert "Decisions at cut scores 2.5, 3, 4 (given;" in shown and "mapped to the raters' mean and SD" in shown
    assert f">= 4: selected (raters select {int((labels >= 4).sum())})" in shown
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["decisions"]["cut_scores"] == [2.5, 3.0, 4.0] and set(m["decisions"]["scores"]) == {"raw", "mapped"}
    assert m["decisions"]["raters"] == [int((labels >= c).sum()) for c in (2.5, 3, 4)]
    assert m["scale"]["from"] == "training labels" and m["config"]["rescale"] is False
    page = (tmp_path / "rep" / "index.html").read_text()
    assert "Decisions at cut scores 2.5, 3, 4" in page and "taken from the training labels" in page
    # the audit compares groups at one cut score
    proc = run("evaluate", data, "-a", wav, "--audit-column", "group", "--cut-score", "3,4", ok=False)
    assert proc.returncode == 1 and "--audit-column compares groups at one cut score" in proc.stderr
    proc = run("evaluate", data, "-a", wav, "--cut-score", "high", ok=False)
    assert proc.returncode == 1 and "--cut-score takes numbers" in proc.stderr
    proc = run("train", data, "-a", wav, "-f", "acoustic", "-r", "ridge", "--trials", "0", "--folds", "3",
               "--label-range", "0,10", "--rescale", "--out", tmp_path / "model", env_cache=tmp_path / "cache")
    assert (f"label: scale 0-10 from --label-range (the labels span {labels.min():g}-{labels.max():g})"
            in " ".join(proc.stderr.split()))
    rubric = json.loads((tmp_path / "model" / "manifest.json").read_text())["rubric"]
    assert rubric["rescale"] is True and len(rubric["mapping"]) == 2
