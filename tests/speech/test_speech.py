"""The speech-model seam: the NumPy encoder equals CTranslate2's, layer choices, one encoder pass, lanes."""

import struct

import numpy as np
import pytest
from audiogen import speechlike, write

pytest.importorskip("faster_whisper")

import speechgrade as sg  # noqa: E402
from speechgrade.errors import ConfigError, ModelNotFoundError  # noqa: E402
from speechgrade.features import get_featurizer  # noqa: E402
from speechgrade.speech import SPEECH_MODELS, get_speech_model_class, speech_model  # noqa: E402
from speechgrade.speech.ct2file import read_ct2  # noqa: E402
from speechgrade.speech.numpy_whisper import NumpyWhisper  # noqa: E402
from speechgrade.speech.whisper_layers import _layer_norm  # noqa: E402
from speechgrade.transcribe import WhisperOptions, load_whisper, packaged_parts, transcribe_audio  # noqa: E402

needs_base = pytest.mark.skipif(packaged_parts() is None, reason="speechgrade[whisper] weights not installed")


def _ct2_and_numpy(model: str, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray, NumpyWhisper]:
    ct2 = speech_model("faster-whisper", WhisperOptions(model, compute_type="float32"))
    numpy = speech_model("whisper-numpy", NumpyWhisper.Options(model))
    return ct2.encoder_states(audio, [-1])[0], numpy.encoder_states(audio, [-1])[0], numpy


def test_numpy_encoder_equals_ctranslate2_on_a_tiny_model(tiny_ct2):
    ref, ours, numpy = _ct2_and_numpy(tiny_ct2, speechlike(35.0))
    assert ref.shape == ours.shape == (1750, 32)  # two windows, only frames that hold audio
    assert np.abs(ref - ours).max() < 2e-3 * max(1.0, np.abs(ref).max())
    states = numpy.encoder_states(speechlike(2.0), [0, 1, 2, 3])  # embeddings, blocks 1-2, final output
    assert states.shape == (4, 100, 32) and numpy.n_states == 4
    w = numpy.encoder.w  # the final output is the last block through the final layer norm
    np.testing.assert_allclose(_layer_norm(states[2], w["encoder/layer_norm/gamma"], w["encoder/layer_norm/beta"]),
                               states[3], atol=1e-4)


@needs_base
def test_numpy_encoder_equals_ctranslate2_on_whisper_base():
    audio = sg.decode_audio(sg.datasets.sample_dir() / "wav" / "000010035.wav")
    ref, ours, numpy = _ct2_and_numpy("base", audio)
    assert ref.shape == ours.shape and ref.shape[1] == 512 and numpy.n_states == 8
    assert np.abs(ref - ours).max() < 5e-3 and np.corrcoef(ref.ravel(), ours.ravel())[0, 1] > 0.99999


def test_layer_choices_columns_and_errors(tiny_ct2):
    audio = speechlike(3.0)
    last = get_featurizer(f"whisper-encoder:{tiny_ct2}?backend=whisper-numpy&pooling=mean")
    top = get_featurizer(f"whisper-encoder:{tiny_ct2}?layers=top&pooling=mean+std")
    assert last.layer_indices() == [3] and top.layer_indices() == [2]
    assert get_featurizer(f"whisper-encoder:{tiny_ct2}?layers=all").layer_indices() == [1, 2]
    assert top.columns()[:1] == ["mean0"] and top.columns()[32:33] == ["std0"] and len(top.featurize(audio)) == 64
    assert not np.allclose(top.featurize(audio)[:32], last.featurize(audio))
    concat = get_featurizer(f"whisper-encoder:{tiny_ct2}?layers=1-2&layer_pool=concat&pooling=mean+std")
    v = concat.featurize(audio)
    assert concat.columns()[0] == "L1.mean0" and concat.columns()[-1] == "L2.std31" and v.shape == (128,)
    avg = get_featurizer(f"whisper-encoder:{tiny_ct2}?layers=1-2&pooling=mean").featurize(audio)
    np.testing.assert_allclose(avg, (v[:32] + v[64:96]) / 2, atol=1e-5)  # averaged frame by frame = mean of means
    with pytest.raises(ConfigError, match="out of range"):
        get_featurizer(f"whisper-encoder:{tiny_ct2}?layers=9").columns()
    with pytest.raises(ConfigError, match="final output"):
        get_featurizer(f"whisper-encoder:{tiny_ct2}?layers=top&backend=faster-whisper").featurize(audio)
    with pytest.raises(ConfigError, match="layers must be"):
        get_featurizer("whisper-encoder?layers=middle")
    # a bundle written before layer options had none: it meant the final output, averaged
    old = type(last).from_config({"model": tiny_ct2, "pooling": "mean", "segments": 16, "compute_type": "auto"})
    assert old.options.layers == "last" and old.options.backend == "auto" and old.options.pooling == "mean"
    assert get_featurizer("whisper-encoder").options.pooling == "mean+std"  # today's default


def test_registry_names_its_backends():
    get_speech_model_class("whisper-numpy")  # imports the built-in backends
    assert {"faster-whisper", "whisper-numpy"} <= set(SPEECH_MODELS)
    with pytest.raises(ConfigError, match="known: faster-whisper"):
        get_speech_model_class("nope")
    with pytest.raises(ConfigError, match="does not transcribe"):
        speech_model("whisper-numpy", NumpyWhisper.Options("base")).transcribe(np.zeros(16000, np.float32))


def test_transcription_and_embedding_share_one_encoder_call(tiny_ct2):
    """A clip under 30 s: the window transcription encodes first is the one whisper-encoder pools."""
    audio = speechlike(8.0, seed=3)
    model = load_whisper(tiny_ct2, "auto", "auto")
    before = model.encoder_calls
    transcribe_audio(audio, WhisperOptions(tiny_ct2, beam_size=1))
    after_asr = model.encoder_calls
    get_featurizer(f"whisper-encoder:{tiny_ct2}").featurize(audio)
    assert after_asr > before and model.encoder_calls == after_asr  # no second pass over the same window


def test_two_lanes_give_the_same_table_as_one(tiny_ct2, tmp_path):
    clips = [write(tmp_path / f"c{i}.wav", speechlike(3.0, seed=i)) for i in range(2)]
    spec = f"whisper:{tiny_ct2}?beam_size=1,whisper-encoder:{tiny_ct2},acoustic"
    tables = []
    for workers in (1, 2):
        ex = sg.extraction.Extractor(spec, cache=tmp_path / f"cache{workers}", progress=False, workers=workers)
        tables.append(ex.run(clips)[0])
    # a random model's transcripts fall back to sampling (Whisper's temperature fallback), so they are compared
    # for shape only; the encoder and acoustic columns must not depend on the lanes
    steady = [c for c in tables[0].columns if not c.startswith("whisper.")]
    assert list(tables[0].columns) == list(tables[1].columns) and np.isfinite(tables[1].to_numpy()).all()
    np.testing.assert_allclose(tables[0][steady].to_numpy(), tables[1][steady].to_numpy(), rtol=1e-5, atol=1e-6)


def test_damaged_model_files_are_clear_errors(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(struct.pack("<I", 6) + struct.pack("<H", 4) + b"abc")
    with pytest.raises(ModelNotFoundError, match="truncated"):
        read_ct2(path)
    huge = struct.pack("<I", 6) + struct.pack("<H", 12) + b"WhisperSpec\0" + struct.pack("<II", 1, 1)
    huge += struct.pack("<H", 2) + b"x\0" + struct.pack("<B", 2) + struct.pack("<II", 2**31, 2**31)
    huge += struct.pack("<BI", 0, 16)
    path.write_bytes(huge + b"\0" * 16)
    with pytest.raises(ModelNotFoundError, match="does not fit"):
        read_ct2(path)
    path.write_bytes(struct.pack("<I", 99))
    with pytest.raises(ModelNotFoundError, match="version 99"):
        read_ct2(path)


def test_each_transcript_is_read_from_the_cache_once_per_clip(monkeypatch, tmp_path):
    """One run of whisper, grammar, text-embedding and acoustic, then scoring with details: every reader of a clip's
    transcript (the featurizers, `warnings()`, `details()`) gets it from one read of the cache, and each clip's
    decoded audio is hashed once in the run (the transcript readers take the extraction's hash)."""
    pytest.importorskip("spacy")
    pytest.importorskip("sentence_transformers")
    from collections import Counter

    import speechgrade.speech.faster_whisper as fw
    from speechgrade.cache import FeatureCache
    from speechgrade.speech import Transcript, Word

    def fake_transcribe(audio, options, models=None):
        words = [Word(w, 0.4 * i, 0.4 * i + 0.3, 0.9) for i, w in enumerate("I goes to the school".split())]
        return Transcript(" ".join(w.word for w in words), len(audio) / 16000, words,
                          [{"start": 0.0, "end": 2.0, "text": "I goes to the school", "avg_logprob": -0.3,
                            "no_speech_prob": 0.1, "compression_ratio": 1.2}])

    reads: Counter = Counter()
    real_get = FeatureCache.get_json

    def counted(self, namespace, key):
        if namespace.startswith("transcript-"):
            reads[key] += 1
        return real_get(self, namespace, key)

    import speechgrade.extraction.local as local
    import speechgrade.speech.transcriber as transcriber

    hashes: Counter = Counter()

    def digest(audio):  # every hash of decoded audio, by its value, wherever it is computed
        out = real_digest(audio)
        hashes[out] += 1
        return out

    real_digest = local.audio_digest
    monkeypatch.setattr(local, "audio_digest", digest)
    monkeypatch.setattr(transcriber, "audio_digest", digest)
    monkeypatch.setattr(fw, "transcribe_audio", fake_transcribe)
    monkeypatch.setattr(fw.FasterWhisper, "detect_language", lambda self, audio, language=None: ("en", 0.99))
    monkeypatch.setattr(FeatureCache, "get_json", counted)
    clips = [write(tmp_path / "wav" / f"c{i}.wav", speechlike(2.0 + i, seed=i)) for i in range(4)]
    (tmp_path / "d.csv").write_text("filename,label\n" + "".join(f"c{i},{i + 1}\n" for i in range(4)))
    ds = sg.load_dataset(tmp_path / "d.csv", tmp_path / "wav")
    spec = "whisper:my-whisper,grammar?asr=my-whisper,text-embedding?asr=my-whisper,acoustic"
    table = sg.extract(ds, spec, cache=tmp_path / "cache")
    assert table.shape[0] == 4 and len(reads) == 4 and set(reads.values()) == {1}  # the cold run: one miss each
    assert len(hashes) == 4 and set(hashes.values()) == {1}  # each clip's audio hashed once in the run

    scorer = sg.Scorer(spec, "ridge", trials=0, cache=tmp_path / "cache").fit(ds)
    reads.clear()
    records = list(scorer.score(clips, details=True).records())
    assert all(r["transcript"] == "I goes to the school" for r in records)
    assert len(reads) == 4 and set(reads.values()) == {1}  # warm: warnings() and details() share one read
