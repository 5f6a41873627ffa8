"""Grammar measures and word-level findings from what was said."""

import numpy as np
import pytest

pytest.importorskip("spacy")
pytest.importorskip("harper")

import speechgrade as sg  # noqa: E402
from speechgrade.features import grammar_tools as g  # noqa: E402
from speechgrade.cache import FeatureCache  # noqa: E402
from speechgrade.features.grammar import COLUMNS, DESCRIPTIONS, GrammarFeaturizer, grammar_vector  # noqa: E402
from speechgrade.transcribe import Transcriber, Transcript, WhisperOptions, Word  # noqa: E402

BAD = "He go to school yesterday and he have many friend. I has a apple and the the dog run fast."
GOOD = "She went to school yesterday and she has many friends. I have an apple and the dog runs fast."


def transcript(text: str, pause_after: tuple[int, ...] = ()) -> Transcript:
    """Words 0.3 s long, 0.05 s apart, with a 1 s pause after the given word indices."""
    words, t = [], 0.0
    for i, w in enumerate(text.split()):
        words.append(Word(w, round(t, 2), round(t + 0.3, 2), 0.9))
        t += 0.35 + (1.0 if i in pause_after else 0.0)
    return Transcript(text, t, words)


def test_known_errors_are_found_with_their_words_times_and_fixes():
    found = g.findings(transcript(BAD))
    agreement = [(f.text, f.suggestion) for f in found if f.kind == "Agreement"]
    assert ("go", "goes") in agreement and ("have", "has") in agreement and ("has", "have") in agreement
    assert any(f.text == "a" and f.suggestion == "an" for f in found)
    assert any(f.kind == "Repetition" and f.text == "the the" for f in found)
    go = next(f for f in found if f.text == "go")
    assert (go.start, go.end, go.start_s, go.end_s) == (3, 5, 0.35, 0.65)  # the second word, 0.35-0.65 s
    assert len({(f.start, f.end) for f in found}) == len(found)  # one finding per place


def test_clean_text_has_no_grammar_findings():
    assert [f for f in g.findings(transcript(GOOD)) if f.kind in ("Agreement", "Grammar", "agreement")] == []


def test_error_measures_separate_bad_from_clean_speech():
    bad, good = (dict(zip(COLUMNS, grammar_vector(transcript(t)))) for t in (BAD, GOOD))
    assert bad["harper_agreement_per100"] == 15.0 and good["harper_agreement_per100"] == 0.0
    assert bad["errors_per_unit"] > good["errors_per_unit"]
    assert bad["error_free_unit_share"] < good["error_free_unit_share"]
    if g.load_tagger() is not None:
        assert bad["edit_agreement_mean"] > 10 * good["edit_agreement_mean"]


def test_units_split_on_pauses_as_well_as_punctuation():
    t = transcript("I like it it is good and then we go home", pause_after=(2,))
    assert g.units(t) == [(0, 3), (3, 11)]
    # two units, "I like it" (1 finite verb) and "it is good and then we go home" (2): 1.5 per unit
    assert dict(zip(COLUMNS, grammar_vector(t)))["finite_verbs_per_unit"] == 1.5


def test_speech_without_function_words_or_tenses_is_defined():
    for text in ("Hello.", "Apples, pears, bananas.", "the of to"):
        values = grammar_vector(transcript(text))
        assert not np.isnan(values).any(), (text, dict(zip(COLUMNS, values)))


def test_every_column_is_described_and_empty_speech_is_defined():
    assert list(DESCRIPTIONS) == COLUMNS and all(DESCRIPTIONS.values())
    empty = grammar_vector(Transcript("", 3.0, []))
    assert empty.shape == (len(COLUMNS),) and not np.isnan(empty).any() and empty.sum() == 0
    one = grammar_vector(transcript("Hello."))
    assert np.isfinite(one[COLUMNS.index("errors_per_unit")]) and one[COLUMNS.index("error_free_unit_share")] == 1


def test_findings_come_from_the_cached_transcript(tmp_path):
    cache = FeatureCache(tmp_path)
    transcriber = Transcriber(WhisperOptions(), cache)
    cache.put_json(transcriber.namespace, "abc", transcript(BAD).to_dict())
    featurizer = GrammarFeaturizer()
    featurizer.bind(cache)
    details = featurizer.details("abc")
    assert any(f["text"] == "go" and f["suggestion"] == "goes" and f["start_s"] == 0.35 for f in details["grammar_findings"])
    assert featurizer.details("not-cached") == {}


@pytest.mark.slow
def test_grammar_featurizer_on_real_speech_through_the_public_api(tmp_path):
    try:
        sg.features.FEATURIZERS["grammar"].check_default()
    except sg.SpeechgradeError as exc:
        pytest.skip(str(exc))
    sample = sg.datasets.sample("total")
    table = sg.extract(sample.subset(sample.filenames[:3]), "grammar?beam_size=1", cache=tmp_path)
    assert table.shape == (3, len(COLUMNS)) and table.notna().all().all()
    assert (table["grammar.finite_verbs_per_unit"] >= 0).all() and (table["grammar.function_word_prob"] > 0).all()
    assert table["grammar.error_free_unit_share"].between(0, 1).all()


def test_fillers_and_repetitions_are_fluency_not_grammar(tmp_path):
    """A page's Grammar list is grammar: `um`, `uh` and `the the` go to the fluency list, `we was` stays grammar."""
    pytest.importorskip("harper")
    cache = FeatureCache(tmp_path)
    transcriber = Transcriber(WhisperOptions(), cache)
    cache.put_json(transcriber.namespace, "k", transcript("So um we was going to the the office uh yesterday.").to_dict())
    featurizer = GrammarFeaturizer()
    featurizer.bind(cache)
    details = featurizer.details("k")
    fluency = {f["text"].strip() for f in details["fluency_findings"]}
    grammar = {f["text"].strip() for f in details["grammar_findings"]}
    assert {"um", "uh", "the the"} <= fluency and not fluency & grammar
    assert "was" in grammar and all(f["category"] == "grammar" for f in details["grammar_findings"])
