"""Transcripts of a dataset as records: Whisper through the extractor (so every transcript is cached), each read
back from the cache by its decoded audio's hash."""

from __future__ import annotations

from typing import Any, Iterator

from .dataset import Dataset
from .extraction import ExtractReport, Extractor
from .features.whisper import WhisperFeaturizer
from .speech.faster_whisper import WhisperOptions


def transcribe_dataset(dataset: Dataset, options: WhisperOptions, cache: Any = None, progress: bool = False
                       ) -> tuple[Iterator[dict[str, Any]], ExtractReport, int]:
    """Transcribe every clip of `dataset` (cached): the records `{"filename", **transcript}` in table order, to be
    read while writing, the extraction report, and how many there are."""
    featurizer = WhisperFeaturizer(options)
    table, report = Extractor([featurizer], cache, batch_size=1, progress=progress).run(dataset)
    transcriber = featurizer.transcriber()

    def records() -> Iterator[dict[str, Any]]:
        from .audio import decode_audio

        for name in table.index:
            # extraction stored each transcript under the hash of the decoded audio: no second decode
            t = transcriber.cached(report.audio[name]["decoded_sha256"]) or \
                transcriber.transcribe(decode_audio(dataset.table.loc[name, "path"]))
            yield {"filename": name, **t.to_dict()}

    return records(), report, len(table)
