"""Transcript features on hand-written word/timestamp sequences with known answers."""

import pytest

from speechgrade.features.language import (COLUMNS, DESCRIPTIONS, agreement_errors, mattr, mean_length_of_run, mtld,
                                  normalise, pauses, repetitions, transcript_features)
from speechgrade.transcribe import Transcript, Word


def words(spec):
    """'word start end [prob]' per item."""
    out = []
    for item in spec:
        parts = item.split()
        out.append(Word(parts[0], float(parts[1]), float(parts[2]), float(parts[3]) if len(parts) > 3 else 0.9))
    return out


SAMPLE = words([
    "I 0.0 0.2", "went 0.2 0.5", "to 0.5 0.6", "the 0.6 0.7", "the 0.75 0.9",     # repetition "the the"
    "store. 0.9 1.4",
    "Um, 2.0 2.3",                                                                # pause 0.6 s before
    "he 2.3 2.4", "are 2.4 2.6", "very 2.6 2.9", "hap- 2.9 3.1", "happy. 3.1 3.6 0.3",  # agreement slip, cut-off
    "You 5.0 5.2", "know, 5.2 5.4", "it 5.4 5.5", "was 5.5 5.7", "good. 5.7 6.0",  # pause 1.4 s before
])


def test_pauses_and_runs_are_counted_exactly():
    gaps = pauses(SAMPLE)
    assert [round(g, 2) for g in gaps] == [0.6, 1.4]
    assert mean_length_of_run(SAMPLE) == pytest.approx((6 + 6 + 5) / 3)
    assert pauses(SAMPLE, 1.0) == [pytest.approx(1.4)]


def test_disfluencies():
    toks = [normalise(w.word) for w in SAMPLE]
    assert toks[6] == "um" and toks[10] == "hap-" and toks[5] == "store"
    assert repetitions(toks) == 1
    assert repetitions("i went i went to the the shop".split()) == 2
    assert repetitions("um um".split()) == 0  # fillers are counted as fillers, not repetitions
    assert agreement_errors("he are here and they is there but i was fine".split()) == 2


def test_lexical_diversity():
    assert mattr(["a", "b", "c"]) == 1.0
    assert mattr(["a"] * 30) == pytest.approx(1 / 25)
    varied = "the quick brown fox jumps over the lazy dog while a small cat sleeps near warm fire".split()
    assert mtld(varied) > mtld(["go", "stop"] * 8)


def test_transcript_features_known_values():
    t = Transcript(text="I went to the the store. Um, he are very hap- happy. You know, it was good.",
                   duration=6.0, words=SAMPLE, avg_logprob=-0.4, no_speech_prob=0.01)
    f = transcript_features(t)
    assert list(f) == COLUMNS and all(DESCRIPTIONS[c] for c in COLUMNS)
    assert f["word_count"] == 17
    assert f["speech_rate"] == pytest.approx(17 / 6)
    spoken = sum(w.end - w.start for w in SAMPLE)
    assert f["articulation_rate"] == pytest.approx(17 / spoken)
    assert f["pause_count"] == 2 and f["long_pause_count"] == 1
    assert f["mean_pause_s"] == pytest.approx(1.0)
    assert f["filler_count"] == 1 and f["filler_rate"] == pytest.approx(100 / 17)
    assert f["discourse_marker_rate"] == pytest.approx(100 / 17)  # "you know"
    assert f["repetition_count"] == 1
    assert f["unfinished_word_count"] == 1 and f["restart_count"] == 1
    assert f["mean_sentence_length"] == pytest.approx(17 / 3)
    assert f["agreement_error_rate"] == pytest.approx(100 / 17)
    assert f["low_confidence_share"] == pytest.approx(1 / 17)
    assert f["avg_logprob"] == -0.4


def test_empty_transcript_gives_zeros_not_errors():
    f = transcript_features(Transcript(text="", duration=3.0))
    assert f["word_count"] == 0 and f["speech_rate"] == 0 and f["mtld"] == 0
