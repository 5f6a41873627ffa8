"""Every CLI command with hostile user strings (Rich markup, a path that climbs out, a spreadsheet formula, a
300-byte name, a newline) in every string it takes (filenames, labels, paths): exit 0 or 1 with a one-line
reason, never a traceback or an 'unexpected' error, nothing written outside the named outputs, inputs unchanged."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from audiogen import speechlike, write

from speechgrade.cli import main

HOSTILE = {"markup": "[/x]gone", "climb": "/../../x", "formula": "=1+1", "long": "n" * 300, "newline": "a\nb"}


def run(args: list[str], cwd: Path, monkeypatch, capfd) -> tuple[int, str]:
    """Run the real entry point (its error handler included) in-process; exit code and all output."""
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["speechgrade", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capfd.readouterr()
    return code, out + err


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` with its content hash."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def arena(tmp_path_factory):
    """A work folder deep inside a temporary root (so a climbing path still lands inside the root): 12 clips,
    a labelled CSV, and a trained model."""
    root = tmp_path_factory.mktemp("arena")
    work = root / "a" / "b" / "c"
    rows = []
    for i in range(12):
        write(work / "wav" / f"clip{i}.wav", speechlike(1.0, f0=100 + 15 * i, seed=i))
        rows.append({"filename": f"clip{i}", "score": 1 + (i % 5), "group": f"s{i // 2}"})
    pd.DataFrame(rows).to_csv(work / "data.csv", index=False)
    return root, work, rows


def check(code: int, output: str, before: dict[str, str], root: Path, allowed: list[Path]) -> None:
    assert code in (0, 1), output
    assert "Traceback" not in output and "unexpected" not in output, output
    after = snapshot(root)
    changed = {k for k in before if after.get(k) != before[k]}
    new = set(after) - set(before)
    allowed_abs = [a.resolve() for a in allowed]

    def named(rel: str) -> bool:
        p = (root / rel).resolve()
        return any(p == a or a in p.parents for a in allowed_abs)

    assert not {k for k in changed if not named(k)}, f"inputs changed: {changed}"
    stray = {k for k in new if not named(k) and "/cache/" not in f"/{k}"}
    assert not stray, f"written outside the named outputs: {sorted(stray)[:5]}"


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_filenames_in_the_csv(kind, arena, tmp_path, monkeypatch, capfd):
    root, work, rows = arena
    bad = HOSTILE[kind]
    csv = work / f"rows-{kind}.csv"
    pd.DataFrame(rows + [{"filename": bad, "score": 3, "group": "x"}]).to_csv(csv, index=False)
    cache = ["--cache", str(work / "cache")]
    model = work / f"model-{kind}"
    runs = [
        (["train", csv.name, "-a", "wav", "-l", "score", "-f", "acoustic", "--trials", "0", "--folds", "2",
          "--out", model.name, *cache], [model]),
        (["predict", model.name, csv.name, "-a", "wav", "-o", f"pred-{kind}.csv", *cache], [work / f"pred-{kind}.csv"]),
        (["predict", model.name, csv.name, "-a", "wav", "--json", *cache], []),
        (["extract", csv.name, "-a", "wav", "-f", "acoustic", "-o", f"feat-{kind}.csv", *cache],
         [work / f"feat-{kind}.csv"]),
        (["evaluate", csv.name, "-a", "wav", "-l", "score", "-f", "acoustic", "--trials", "0", "--folds", "2",
          "--repeats", "1", "--report", f"rep-{kind}", "--predictions", f"oof-{kind}.csv", *cache],
         [work / f"rep-{kind}", work / f"oof-{kind}.csv"]),
    ]
    for args, outputs in runs:
        before = snapshot(root)
        code, output = run(args, work, monkeypatch, capfd)
        check(code, output, before, root, outputs + [model])
        assert code == 0, output  # the other rows are processed; the bad one is listed
    written = (work / f"pred-{kind}.csv").read_text()
    assert written.count("clip") == 12
    if kind == "formula":
        assert "=1+1" not in written.replace("'=1+1", "")  # neutralised for spreadsheets


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_label_names(kind, arena, monkeypatch, capfd):
    root, work, rows = arena
    bad = HOSTILE[kind]
    csv = work / f"labels-{kind}.csv"
    pd.DataFrame([{"filename": r["filename"], bad: r["score"], "fluency": 6 - r["score"]} for r in rows]).to_csv(
        csv, index=False)
    cache = ["--cache", str(work / "cache")]
    common = ["-a", "wav", "-f", "acoustic", "--trials", "0", "--folds", "2", *cache]
    for label in ("all", bad):
        out = work / f"lm-{kind}-{label == 'all'}"
        rep = work / f"lr-{kind}-{label == 'all'}"
        for args, outputs in ((["train", csv.name, "-l", label, "--out", out.name, *common], [out]),
                              (["evaluate", csv.name, "-l", label, "--repeats", "1", "--report", rep.name, *common],
                               [rep])):
            before = snapshot(root)
            code, output = run(args, work, monkeypatch, capfd)
            check(code, output, before, root, outputs)
            assert code == 0, output
    # the models load and score: the label is a name, never a path
    code, output = run(["predict", f"lm-{kind}-True", "wav/clip0.wav", *cache], work, monkeypatch, capfd)
    assert code == 0 and "clip0" in output, output


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_paths_as_outputs_models_and_folders(kind, arena, monkeypatch, capfd):
    root, work, rows = arena
    bad = HOSTILE[kind]
    cache = ["--cache", str(work / "cache")]
    model = work / "model-plain"
    if not model.exists():
        code, output = run(["train", "data.csv", "-a", "wav", "-l", "score", "-f", "acoustic", "--trials", "0",
                            "--folds", "2", "--out", model.name, *cache], work, monkeypatch, capfd)
        assert code == 0, output
    (work / "outs").mkdir(exist_ok=True)
    target = work / "outs" / bad.lstrip("/")  # a named output: writing there is what was asked
    runs = [
        ["predict", model.name, "data.csv", "-a", "wav", "-o", str(target), *cache],
        ["extract", "data.csv", "-a", "wav", "-f", "acoustic", "-o", str(target), *cache],
        ["train", "data.csv", "-a", "wav", "-l", "score", "-f", "acoustic", "--trials", "0", "--folds", "2",
         "--out", str(target), *cache],
        ["evaluate", "data.csv", "-a", "wav", "-l", "score", "-f", "acoustic", "--trials", "0", "--folds", "2",
         "--repeats", "1", "--report", str(target), *cache],
        ["predict", bad, "wav/clip0.wav", *cache],  # a model path that is not a model
        ["predict", model.name, bad, *cache],  # an audio file that does not exist
        ["evaluate", "data.csv", "-a", bad, "-l", "score", *cache],  # an audio folder that does not exist
        ["evaluate", "data.csv", "-a", "wav", "-l", bad, "-f", "acoustic", *cache],  # a label that is not a column
        ["train", bad, "-a", "wav", "-l", "score", "--out", "m2", *cache],  # a CSV that does not exist
        ["card", bad],  # a model folder that does not exist
        ["serve", bad, *cache],  # refused before the server starts
        ["transcribe", bad, "--out", str(target), *cache],  # an audio file that does not exist
    ]
    for args in runs:
        before = snapshot(root)
        code, output = run(args, work, monkeypatch, capfd)
        check(code, output, before, root, [target])
        lines = [ln for ln in output.splitlines() if ln.startswith(("error:", "not scored"))]
        assert code == 0 or lines, output  # a failure says why, on one line
    assert np.all([(work / "wav" / f"clip{i}.wav").is_file() for i in range(12)])
