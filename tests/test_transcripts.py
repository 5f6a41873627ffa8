"""`transcribe_dataset`: the API behind `speechgrade transcribe`, transcripts cached and read back."""

import pytest

import speechgrade as sg
from audiogen import speechlike, write

pytest.importorskip("faster_whisper")

from speechgrade.transcribe import WhisperOptions  # noqa: E402
from speechgrade.transcripts import transcribe_dataset  # noqa: E402


@pytest.mark.slow
def test_transcripts_are_cached_and_read_back_in_table_order(tiny_ct2, tmp_path):
    clips = [write(tmp_path / f"c{i}.wav", speechlike(2.0, seed=i)) for i in range(2)]
    dataset = sg.Dataset.from_paths(clips)
    records, report, n = transcribe_dataset(dataset, WhisperOptions(tiny_ct2, beam_size=1), tmp_path / "cache")
    first = list(records)
    assert n == 2 and [r["filename"] for r in first] == ["c0.wav", "c1.wav"] and "words" in first[0]
    records, report, _ = transcribe_dataset(dataset, WhisperOptions(tiny_ct2, beam_size=1), tmp_path / "cache")
    assert list(records) == first and report.cached == 2
