"""Whisper on noise or music writes the verbatim prompt back, or loops: such a transcript is an abstain reason,
and its grammar findings are never shown."""

import pytest

import speechgrade as sg
from speechgrade.transcribe import transcript_warnings


@pytest.mark.parametrize("text,kind", [
    ("So, um, let me think like, hmm, let me think like, hmm, let me think like, hmm...", "prompt"),
    ("Umm, let me think like, hmm... Okay, here's what I'm, like, thinking.", "prompt"),
    ("Thank you. Thank you. Thank you. Thank you. Thank you. Thank you. Thank you. Thank you.", "loop"),
    ("I go to the market I go to the market I go to the market I go to the market", "loop"),
])
def test_leaks_and_loops_are_named(text, kind):
    said = transcript_warnings(text)
    assert said and kind in said[0] if kind == "prompt" else any("loop" in s for s in said)


@pytest.mark.parametrize("text", [
    "I think my favourite place is the park because, um, let me think, it has trees and I go there every weekend.",
    "Well, I I went to the the store and, uh, I bought some bread, and then I went home and cooked dinner.",
    "", "Yes.",
])
def test_real_answers_are_not_flagged(text):
    assert transcript_warnings(text) == []


def test_a_hallucinated_transcript_abstains_and_shows_no_findings(monkeypatch, tone_dataset, tmp_path):
    import speechgrade.speech.faster_whisper as fw
    import speechgrade.transcribe as tr

    leak = "So, um, let me think like, hmm, let me think like, hmm, let me think like, hmm, let me think like."
    words = [tr.Word(w, 0.3 * i, 0.3 * i + 0.2, 0.5) for i, w in enumerate(leak.split())]
    monkeypatch.setattr(fw, "transcribe_audio", lambda audio, options, models=None: tr.Transcript(
        leak, len(audio) / 16000, words, [{"start": 0.0, "end": 3.0, "text": leak, "avg_logprob": -0.9,
                                           "no_speech_prob": 0.6, "compression_ratio": 1.4}]))
    pytest.importorskip("faster_whisper")
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    scorer = sg.Scorer("whisper,acoustic", "ridge", trials=0, cache=tmp_path / "c").fit(ds)
    record = scorer.score(ds.paths[:1], details=True).records().__next__()
    assert record["abstain"] and "transcription prompt" in record["abstain"]
    assert record.get("grammar_findings", []) == []
