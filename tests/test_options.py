"""Featurizer options are declared once: spec -> config -> spec round-trips, ranges are checked, --asr reaches all."""

import time

import pytest

from speechgrade.errors import ConfigError
from speechgrade.features import FEATURIZERS, get_featurizer

# a non-default value for every option of every registered featurizer
NON_DEFAULT = {
    "acoustic": {"window_s": "12.5"},
    "screen": {"language": "en"},
    "whisper": {":": "small", "beam_size": "2", "language": "auto", "verbatim": "false", "compute_type": "int8",
                "device": "cpu"},
    "grammar": {"asr": "small", "beam_size": "1", "language": "de", "verbatim": "false"},
    "text-embedding": {":": "some/sentence-model", "asr": "tiny", "beam_size": "3", "language": "auto",
                       "verbatim": "false"},
    "whisper-encoder": {":": "tiny", "layers": "3-5", "layer_pool": "concat", "pooling": "learned", "segments": "8",
                        "backend": "whisper-numpy", "compute_type": "float32", "device": "cpu"},
    "ssl": {":": "some/encoder", "layers": "6-12", "pooling": "mean+std", "window_s": "5", "segments": "4",
            "batch_size": "2", "device": "cpu"},
}


def spec_of(name: str, values: dict[str, str]) -> str:
    arg = values.get(":")
    query = "&".join(f"{k}={v}" for k, v in values.items() if k != ":")
    return name + (f":{arg}" if arg else "") + (f"?{query}" if query else "")


def test_every_featurizer_option_is_covered():
    for name, cls in FEATURIZERS.items():
        if name.startswith("toy-"):
            continue
        declared = {f.name for f in cls.Options.fields()}
        arg = cls.Options.arg_field()
        given = {arg if k == ":" else k for k in NON_DEFAULT[name]}
        assert given == declared, f"{name}: test values for {sorted(declared - given)} missing"


@pytest.mark.parametrize("name", sorted(NON_DEFAULT))
def test_spec_config_spec_round_trip(name):
    cls = FEATURIZERS[name]
    built = get_featurizer(spec_of(name, NON_DEFAULT[name]))
    for f in cls.Options.fields():  # every option took its non-default value
        assert getattr(built.options, f.name) != f.default, f.name
    again = get_featurizer(built.spec)
    assert again.spec == built.spec and again.options == built.options
    # through the config (what a bundle stores): output-changing options survive, runtime ones return to default
    loaded = cls.from_config(built.config())
    assert loaded.config() == built.config()
    runtime = {f.name for f in cls.Options.fields() if not f.metadata["key"]}
    for f in cls.Options.fields():
        want = f.default if f.name in runtime else getattr(built.options, f.name)
        assert getattr(loaded.options, f.name) == want, f.name
    assert get_featurizer(loaded.spec).config() == built.config()


def test_defaults_round_trip_and_old_grammar_configs_load():
    for name in NON_DEFAULT:
        f = get_featurizer(name)
        assert get_featurizer(f.spec).config() == f.config()
    # a bundle written before option dataclasses nested the transcript options under "asr"
    old = {"asr": {"model": "base", "model_fingerprint": "x", "beam_size": 1, "language": "en", "verbatim": True,
                   "compute_type": "auto"}, "tagger": True}
    g = FEATURIZERS["grammar"].from_config(old)
    assert g.options.beam_size == 1 and g.spec == "grammar?beam_size=1"


@pytest.mark.parametrize("spec,message", [
    ("acoustic?window_s=0", "'window_s' must be at least"),
    ("acoustic?window_s=-3", "'window_s' must be at least"),
    ("acoustic?window_s=nan", "finite"),
    ("acoustic?window_s=inf", "finite"),
    ("acoustic?window_s=abc", "must be float"),
    ("acoustic:x", "takes no ':' argument"),
    ("acoustic?colour=red", "unknown option.*colour.*known: window_s"),
    ("whisper?beam_size=0", "'beam_size' must be at least 1"),
    ("whisper?beam_size=2.5", "must be int"),
    ("whisper?verbatim=maybe", "must be bool"),
    ("whisper-encoder?pooling=max", "must be one of mean, mean\\+std, learned"),
    ("ssl:x?layers=0-99999999999", "layers must be"),
    ("ssl:x?window_s=0", "must be above 0"),
    ("ssl:x?batch_size=0", "at least 1"),
    ("grammar:x", "takes no ':' argument"),
])
def test_bad_options_are_refused_at_once(spec, message):
    start = time.monotonic()
    with pytest.raises(ConfigError, match=message) as err:
        get_featurizer(spec)
    assert spec in str(err.value)  # the message names the spec it refuses
    assert time.monotonic() - start < 1.0


def test_hostile_config_values_are_config_errors():
    for config in ({"window_s": "abc"}, {"window_s": [1]}, {"window_s": None}, {"window_s": 1e309}):
        with pytest.raises(ConfigError):
            FEATURIZERS["acoustic"].from_config(config)
    with pytest.raises(ConfigError):
        FEATURIZERS["acoustic"].from_config(["window_s"])
    with pytest.raises(ConfigError):
        FEATURIZERS["ssl"].from_config({"model": "x", "layers": ["a"]})


def test_asr_reaches_every_featurizer_that_uses_whisper():
    feats = [get_featurizer(s) for s in ("whisper", "grammar", "text-embedding", "whisper-encoder", "acoustic")]
    moved = [f.with_asr("small") for f in feats]
    assert moved[0].options.model == "small" and moved[1].options.asr == "small"
    assert moved[2].options.asr == "small" and moved[2].options.model == feats[2].options.model
    assert moved[3].options.model == "small"
    assert moved[4] is feats[4]  # no Whisper: unchanged
    assert {f.language_model() for f in moved[:4]} == {"small"}


def test_one_asr_model_one_pass_per_clip(monkeypatch, tone_dataset, cache_dir):
    """`asr=` moves whisper and grammar to one model, and each clip is transcribed once for both."""
    import speechgrade as sg
    import speechgrade.speech.faster_whisper as fw
    import speechgrade.transcribe as tr
    from speechgrade.extraction import make_extractor
    from speechgrade.features import as_featurizers

    calls = []

    def fake_transcribe(audio, options, models=None):
        calls.append(options.model)
        words = [tr.Word(w, 0.4 * i, 0.4 * i + 0.3, 0.9) for i, w in enumerate("I goes to the school".split())]
        return tr.Transcript(" ".join(w.word for w in words), len(audio) / 16000, words,
                             [{"start": 0.0, "end": 2.0, "text": "I goes to the school", "avg_logprob": -0.3,
                               "no_speech_prob": 0.1, "compression_ratio": 1.2}])

    monkeypatch.setattr(fw, "transcribe_audio", fake_transcribe)
    pytest.importorskip("spacy")
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    feats = as_featurizers("whisper,grammar", asr="my-whisper")
    assert [f.spec for f in feats] == ["whisper:my-whisper", "grammar?asr=my-whisper"]
    table, report = make_extractor(feats, cache_dir, batch_size=4).run(ds)
    assert len(table) == len(ds)
    assert calls == ["my-whisper"] * len(ds)  # one transcription per clip, by the one model
    assert sg.Scorer("whisper,grammar", asr="tiny").model_featurizers()[1].options.asr == "tiny"
