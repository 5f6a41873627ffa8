"""The one writer (output.py): no output over an input, files and folders whole or not at all, ordinary modes."""

from __future__ import annotations

import json
import os
import shutil
import stat

import pandas as pd
import pytest
from typer.testing import CliRunner

import speechgrade as sg
from speechgrade import output
from speechgrade.cli import app


@pytest.fixture(scope="module")
def work(tone_dataset, tmp_path_factory):
    """A copy of the tone dataset (CSV named predictions.csv), an extra file in its audio folder, and a model."""
    root = tmp_path_factory.mktemp("writer")
    shutil.copytree(tone_dataset.parent / "wav", root / "w")
    frame = pd.read_csv(tone_dataset).head(12)
    csv = root / "predictions.csv"
    frame.to_csv(csv, index=False)
    (root / "w" / "x.wav").write_bytes((root / "w" / "clip030.wav").read_bytes())  # in the folder, not listed
    ds = sg.load_dataset(csv, root / "w")
    model = sg.Scorer("acoustic", "ridge", trials=0, cache=root / "cache").fit(ds).save(root / "M")
    return root, csv, model


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def snapshot(root):
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and "cache" not in p.parts}


def refused(result) -> bool:
    """The command stopped with the writer's refusal (`main` prints it as one line, exit code 1)."""
    return isinstance(result.exception, output.OutputError) and "nothing was written" in str(result.exception)


def test_every_output_option_refuses_every_input(work):
    """Walk every command's output options with every kind of input as the output: all refused, nothing touched."""
    root, csv, model = work
    audio, unlisted, folder = root / "w" / "clip000.wav", root / "w" / "x.wav", root / "w"
    common = ["-a", folder, "-f", "acoustic", "-r", "ridge", "--trials", "0", "--cache", root / "cache"]
    commands = {
        "extract": lambda o: ["extract", csv, "-a", folder, "-f", "acoustic", "--cache", root / "cache", "--out", o],
        "evaluate --json": lambda o: ["evaluate", csv, *common, "--folds", "2", "--repeats", "1", "--json", o],
        "evaluate --predictions": lambda o: ["evaluate", csv, *common, "--folds", "2", "--repeats", "1",
                                             "--predictions", o],
        "evaluate --report": lambda o: ["evaluate", csv, *common, "--folds", "2", "--repeats", "1", "--report", o],
        "train --out": lambda o: ["train", csv, *common, "--out", o],
        "predict -o": lambda o: ["predict", model, csv, "-a", folder, "--cache", root / "cache", "-o", o],
        "predict folder -o": lambda o: ["predict", model, folder, "--cache", root / "cache", "-o", o],
        "predict --report": lambda o: ["predict", model, csv, "-a", folder, "--cache", root / "cache", "--report", o],
        "transcribe": lambda o: ["transcribe", csv, "-a", folder, "--cache", root / "cache", "--force", "--out", o],
    }
    targets = {"the CSV": csv, "a listed recording": audio, "a file of the audio folder": unlisted,
               "the audio folder": folder, "the CSV's folder": root, "the model folder": model,
               "a file of the model": model / "manifest.json"}
    before = snapshot(root)
    for command, args in commands.items():
        for what, target in targets.items():
            if what in ("the model folder", "a file of the model") and not command.startswith("predict"):
                continue  # only predict reads a model
            if what == "the CSV" and command == "predict folder -o":
                continue  # that command does not read the CSV
            result = invoke(*args(target))
            assert refused(result), f"{command} accepted {what} as its output: {result.output}"
    assert snapshot(root) == before


def test_evaluate_never_writes_over_its_csv(work):
    """Row 1: --predictions/--json on the CSV, or --report . beside a CSV called predictions.csv."""
    root, csv, _ = work
    before = csv.read_bytes()
    base = ["evaluate", csv, "-a", root / "w", "-l", "label", "-f", "acoustic", "-r", "ridge", "--folds", "3",
            "--repeats", "1", "--trials", "0", "--cache", root / "cache"]
    for extra in (["--predictions", csv], ["--json", csv], ["--report", root]):
        assert refused(invoke(*base, *extra))
    assert csv.read_bytes() == before


def test_no_output_lands_on_a_recording(work):
    """Row 2: extract --out, predict -o and evaluate --predictions onto a WAV of the audio folder are refused."""
    root, csv, model = work
    wav = root / "w" / "clip001.wav"
    before = wav.read_bytes()
    assert refused(invoke("extract", csv, "-a", root / "w", "-f", "acoustic", "--cache", root / "cache", "--out", wav))
    assert refused(invoke("predict", model, root / "w", "--cache", root / "cache", "-o", root / "w" / "x.wav"))
    assert refused(invoke("evaluate", csv, "-a", root / "w", "-f", "acoustic", "-r", "ridge", "--trials", "0",
                          "--folds", "2", "--repeats", "1", "--cache", root / "cache", "--predictions", wav))
    assert wav.read_bytes() == before


def test_a_new_file_beside_the_recordings_is_allowed(work, tmp_path):
    root, csv, model = work
    out = root / "w" / "scores.csv"
    try:
        result = invoke("predict", model, csv, "-a", root / "w", "--cache", root / "cache", "-o", out)
        assert result.exit_code == 0, result.output
        assert len(pd.read_csv(out)) == 12
    finally:
        out.unlink(missing_ok=True)


@pytest.mark.parametrize("name", ["p.csv", "p.jsonl", "p.parquet", "p.json"])
def test_outputs_get_the_mode_open_would_give(tmp_path, name):
    """Row 14: files written by the one writer are 0644 under umask 022, 0600 under 077 (never 0600 always)."""
    for mask, expected in ((0o022, 0o644), (0o077, 0o600)):
        old = os.umask(mask)
        try:
            path = tmp_path / f"{mask}-{name}"
            if name.endswith((".csv", ".parquet")):
                output.write_table(pd.DataFrame({"a": [1]}), path)
            else:
                output.write_text(path, "{}\n")
            assert stat.S_IMODE(path.stat().st_mode) == expected
        finally:
            os.umask(old)


def test_predict_writes_csv_readable_by_others(work, tmp_path):
    root, csv, model = work
    old = os.umask(0o022)
    try:
        assert invoke("predict", model, csv, "-a", root / "w", "--cache", root / "cache", "-o", tmp_path / "p.csv"
                      ).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "p.csv").stat().st_mode) == 0o644


def test_a_failed_report_leaves_the_old_one_whole(work, tmp_path, monkeypatch):
    """Rows 4 and 11: a report that fails half-way (full disk) leaves the old index and pages, and says so truly."""
    root, csv, model = work
    pages = tmp_path / "pages"
    args = ["predict", model, csv, "-a", root / "w", "--cache", root / "cache", "--report", pages]
    assert invoke(*args).exit_code == 0
    before = snapshot(pages)
    assert len(before) == 13

    from speechgrade import report

    real, calls = report.answer_page, []

    def failing(record, words):  # the disk fills after five pages
        calls.append(1)
        if len(calls) > 5:
            raise OSError(28, "No space left on device")
        return real(record, words)

    monkeypatch.setattr(report, "answer_page", failing)
    result = invoke(*args)
    assert result.exit_code != 0 or isinstance(result.exception, OSError)
    assert snapshot(pages) == before  # the old report, index and pages together
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pages")]  # no working copy left


def test_a_report_folder_that_holds_other_files_is_refused(work, tmp_path):
    root, csv, model = work
    (tmp_path / "notes.docx").write_bytes(b"mine")
    result = invoke("predict", model, csv, "-a", root / "w", "--cache", root / "cache", "--report", tmp_path)
    assert isinstance(result.exception, output.OutputError) and "not a speechgrade report" in str(result.exception)
    assert (tmp_path / "notes.docx").read_bytes() == b"mine"


@pytest.mark.parametrize("left", ["old", "new", "both"])
def test_a_bundle_swap_cut_between_its_renames_is_restored(work, tmp_path, left):
    """Row 10: a crash between the two renames leaves `.M.old-*` / `.M.new-*` and no M: the next load or train
    restores a complete model, says so, and leaves no working copy."""
    root, _, model = work
    target = tmp_path / "M"
    if left in ("old", "both"):
        shutil.copytree(model, tmp_path / ".M.old-1a2b3c4d")
    if left in ("new", "both"):
        shutil.copytree(model, tmp_path / ".M.new-abcd1234")
        (tmp_path / ".M.new-half").mkdir()  # an incomplete working copy: never chosen
    scorer = sg.Scorer.load(target)
    assert scorer.models_ and (target / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["M"]


def test_a_link_fifo_or_device_is_not_a_regular_file(tmp_path):
    """Note: a FIFO, /dev/zero or a link to it gets 'not a regular file', not 'file not found'."""
    fifo = tmp_path / "a.wav"
    os.mkfifo(fifo)
    (tmp_path / "z.wav").symlink_to("/dev/zero")
    ds = sg.Dataset.from_paths([fifo, tmp_path / "z.wav", "/dev/zero"])
    reasons = {p.filename: p.reason for p in ds.problems}
    assert len(reasons) == 3 and all(r == "not a regular file" for r in reasons.values()), reasons


def test_check_outputs_is_linear_in_the_inputs(tmp_path):
    files = [tmp_path / f"f{i}.wav" for i in range(50_000)]
    output.check_outputs({"--out": tmp_path / "out.csv"}, files, [tmp_path / "sub"])  # returns at once
    with pytest.raises(output.OutputError, match="is an input file"):
        output.check_outputs({"--out": files[-1]}, files)


def test_json_written_whole(tmp_path):
    path = output.write_text(tmp_path / "m.json", json.dumps({"a": 1}))
    assert json.loads(path.read_text()) == {"a": 1} and not list(tmp_path.glob(".*"))
