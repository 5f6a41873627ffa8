import pandas as pd
import pytest
from audiogen import tone, write

from speechgrade import load_dataset
from speechgrade.dataset import Dataset
from speechgrade.errors import DatasetError


def _csv(path, rows):
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_resolves_files_and_reports_every_problem(tmp_path):
    write(tmp_path / "a.wav", tone())
    write(tmp_path / "b.m4a", tone(), "aac")
    write(tmp_path / "c.wav", tone())
    write(tmp_path / "d.flac", tone(), "flac")
    csv = _csv(tmp_path / "s.csv", [
        {"filename": "a", "label": 3.5, "grammar": 2, "speaker": "x"},
        {"filename": "b", "label": 4, "grammar": 3, "speaker": "x"},       # stem matches b.m4a
        {"filename": "c.wav", "label": 2.5, "grammar": 1, "speaker": "y"},  # extension given
        {"filename": "d", "label": 1, "grammar": 5, "speaker": "y"},
        {"filename": "missing", "label": 3, "grammar": 3, "speaker": "z"},
        {"filename": "a", "label": 1, "grammar": 3, "speaker": "z"},       # duplicate name
        {"filename": "c", "label": "abc", "grammar": 3, "speaker": "z"},   # non-numeric (and dup stem)
        {"filename": "d.flac", "label": None, "grammar": 3, "speaker": "z"},
    ])
    ds = load_dataset(csv, tmp_path)
    assert ds.filenames == ["a", "b", "c.wav", "d"]
    assert [p.name for p in ds.paths] == ["a.wav", "b.m4a", "c.wav", "d.flac"]
    assert list(ds.y) == [3.5, 4.0, 2.5, 1.0]
    assert "grammar" in ds.table.columns and "speaker" in ds.table.columns  # extra columns kept
    reasons = {p.filename: p.reason for p in ds.problems}
    assert "not found" in reasons["missing"]
    assert "duplicate" in reasons["a"]
    assert "non-numeric" in reasons["c"]
    assert "empty" in reasons["d.flac"]
    other = load_dataset(csv, tmp_path, label_column="grammar")
    assert other.label == "grammar" and other.y[0] == 2


def test_wav_is_preferred_over_other_extensions(tmp_path):
    write(tmp_path / "x.mp3", tone(), "mp3")
    write(tmp_path / "x.wav", tone())
    ds = load_dataset(_csv(tmp_path / "s.csv", [{"filename": "x", "label": 1}]), tmp_path)
    assert ds.paths[0].name == "x.wav"


def test_clear_errors_for_unusable_datasets(tmp_path):
    with pytest.raises(DatasetError, match="CSV file not found"):
        load_dataset(tmp_path / "nope.csv", tmp_path)
    csv = _csv(tmp_path / "s.csv", [{"name": "a", "label": 1}])
    with pytest.raises(DatasetError, match="no 'filename' column"):
        load_dataset(csv, tmp_path)
    csv = _csv(tmp_path / "t.csv", [{"filename": "a", "score": 1}])
    with pytest.raises(DatasetError, match="no label column 'label'"):
        load_dataset(csv, tmp_path)
    csv = _csv(tmp_path / "u.csv", [{"filename": "a", "label": 1}, {"filename": "b", "label": 2}])
    with pytest.raises(DatasetError, match="no usable rows"):
        load_dataset(csv, tmp_path)


def test_label_is_optional_for_prediction_and_paths_work(tmp_path):
    write(tmp_path / "a.wav", tone())
    ds = load_dataset(_csv(tmp_path / "s.csv", [{"filename": "a"}]), tmp_path, None, require_label=False)
    assert ds.label is None and len(ds) == 1
    ds = Dataset.from_paths([tmp_path / "a.wav", tmp_path / "zzz.wav"])
    assert ds.filenames == ["a.wav"] and "not found" in ds.problems[0].reason
    ds.to_jsonl(tmp_path / "m.jsonl")
    assert '"filename": "a.wav"' in (tmp_path / "m.jsonl").read_text()
