"""The `ssl` featurizer on tiny randomly initialised encoders saved with save_pretrained (offline)."""

import numpy as np
import pandas as pd
import pytest
from audiogen import speechlike, write

pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import speechgrade as sg  # noqa: E402
from speechgrade.errors import ConfigError, ModelNotFoundError  # noqa: E402
from speechgrade.features import get_featurizer  # noqa: E402
from tinymodels import CONV, SMALL, save_tiny, save_tiny_wavlm, w2v_extractor  # noqa: E402


def _save(tmp_path_factory, name, config, model_cls, extractor):
    return save_tiny(tmp_path_factory.mktemp(name), config, model_cls, extractor)


@pytest.fixture(scope="module")
def wavlm(tmp_path_factory):
    return save_tiny_wavlm(tmp_path_factory.mktemp("wavlm"))


@pytest.fixture(scope="module")
def hubert(tmp_path_factory):
    return _save(tmp_path_factory, "hubert", transformers.HubertConfig(**SMALL, **CONV),
                 transformers.HubertModel, w2v_extractor())


@pytest.fixture(scope="module")
def whisper(tmp_path_factory):
    cfg = transformers.WhisperConfig(d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2,
                                     decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                                     num_mel_bins=80, vocab_size=100, max_target_positions=32,
                                     decoder_start_token_id=1, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    return _save(tmp_path_factory, "whisper", cfg, transformers.WhisperModel,
                 transformers.WhisperFeatureExtractor(feature_size=80))


def test_shapes_pooling_and_layer_selection(wavlm):
    audio = speechlike(2.0)
    mean = get_featurizer(f"ssl:{wavlm}")
    assert mean.columns() == [f"mean{i}" for i in range(32)]
    v = mean.featurize(audio)
    assert v.shape == (32,) and v.dtype == np.float32 and np.isfinite(v).all()
    both = get_featurizer(f"ssl:{wavlm}?pooling=mean+std").featurize(audio)
    assert both.shape == (64,) and np.allclose(both[:32], v, atol=1e-5) and (both[32:] >= 0).all()
    first = get_featurizer(f"ssl:{wavlm}?layers=0").featurize(audio)
    assert not np.allclose(first, v)
    avg = get_featurizer(f"ssl:{wavlm}?layers=all").featurize(audio)
    l1 = get_featurizer(f"ssl:{wavlm}?layers=1").featurize(audio)
    np.testing.assert_allclose(avg, (l1 + v) / 2, atol=1e-5)  # `all` = mean of layers 1..L
    np.testing.assert_allclose(get_featurizer(f"ssl:{wavlm}?layers=1-2").featurize(audio), avg, atol=1e-5)
    with pytest.raises(ConfigError, match="out of range"):
        get_featurizer(f"ssl:{wavlm}?layers=7").featurize(audio)


def test_batching_and_windows_do_not_change_results(wavlm):
    f = get_featurizer(f"ssl:{wavlm}?batch_size=3")
    clips = [speechlike(2.0, seed=i) for i in range(4)] + [speechlike(1.3, seed=9)]
    batched = f.featurize_batch(clips)
    for clip, vec in zip(clips, batched):
        np.testing.assert_allclose(vec, f.featurize(clip), atol=1e-4)
    windowed = get_featurizer(f"ssl:{wavlm}?window_s=1").featurize(speechlike(3.0))
    assert windowed.shape == (32,) and np.isfinite(windowed).all()


def test_hubert_and_whisper_encoders_and_cache_hits(hubert, whisper, tmp_path):
    wav = [write(tmp_path / f"c{i}.wav", speechlike(1.5, seed=i)) for i in range(3)]
    specs = f"ssl:{hubert},ssl:{whisper}?pooling=mean+std"
    table = sg.extract(wav, specs, cache=tmp_path / "cache")
    assert table.shape == (3, 32 + 64)
    assert table.columns[32] == "ssl-2.mean0"
    again = sg.extract(wav, specs, cache=tmp_path / "cache")
    assert again.attrs["report"]["cached"] == 3
    np.testing.assert_array_equal(table.to_numpy(), again.to_numpy())


def test_missing_model_says_how_to_provide_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="huggingface-cli download") as err:
        get_featurizer(f"ssl:{tmp_path / 'no-such-model'}").columns()
    assert "--features ssl:DIR" in str(err.value)
    with pytest.raises(ModelNotFoundError, match="not in the Hugging Face cache"):
        get_featurizer("ssl:someone/not-downloaded-model").columns()


def test_unknown_options_are_rejected():
    with pytest.raises(ConfigError, match="'pooling' must be one of"):
        get_featurizer("ssl:x?pooling=max")
    with pytest.raises(ConfigError, match="unknown option.*colour.*'ssl'"):
        get_featurizer("ssl:x?colour=red")


@pytest.mark.parametrize("kind", ["wav2vec2", "data2vec-audio"])
def test_wav2vec2_and_data2vec_work_too(tmp_path_factory, kind):
    config_cls, model_cls = {"wav2vec2": (transformers.Wav2Vec2Config, transformers.Wav2Vec2Model),
                             "data2vec-audio": (transformers.Data2VecAudioConfig, transformers.Data2VecAudioModel)}[kind]
    extra = {"num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2} if kind == "wav2vec2" else \
        {"num_conv_pos_embeddings": 5, "num_conv_pos_embedding_groups": 2}
    path = _save(tmp_path_factory, kind, config_cls(**SMALL, conv_dim=(16,) * 7, **extra), model_cls,
                 w2v_extractor())
    vec = get_featurizer(f"ssl:{path}?pooling=mean+std&layers=all").featurize(speechlike(1.5))
    assert vec.shape == (64,) and np.isfinite(vec).all()


def test_learned_pooling_keeps_layer_segment_blocks_and_a_model_learns_on_them(wavlm, tmp_path):
    f = get_featurizer(f"ssl:{wavlm}?layers=1+2&pooling=learned&segments=4")
    cols = f.columns()
    assert len(cols) == 2 * 4 * 32 and cols[0] == "l1.t0.d0" and cols[-1] == "l2.t3.d31"
    audio = speechlike(2.0)
    block = f.featurize(audio).reshape(2, 4, 32)
    mean_l1 = get_featurizer(f"ssl:{wavlm}?layers=1").featurize(audio)
    np.testing.assert_allclose(block[0].mean(0), mean_l1, atol=0.05)  # segments of ~equal length
    clips = [write(tmp_path / f"c{i}.wav", speechlike(1.5, f0=100 + 20 * i, seed=i)) for i in range(12)]
    pd.DataFrame({"filename": [c.name for c in clips], "label": np.arange(12) / 3.0}).to_csv(tmp_path / "d.csv",
                                                                                             index=False)
    ds = sg.load_dataset(tmp_path / "d.csv", tmp_path)
    scorer = sg.Scorer(f"ssl:{wavlm}?layers=1+2&pooling=learned&segments=4,acoustic", "ridge", trials=0,
                       cache=tmp_path / "cache").fit(ds)
    assert set(scorer.model_.pooling_) == {"ssl"}
    loaded = sg.Scorer.load(scorer.save(tmp_path / "m"), cache=tmp_path / "cache")
    np.testing.assert_allclose(loaded.predict(clips[:4]), scorer.predict(clips[:4]))
    assert list(loaded.explain(clips[:2]).columns) == ["acoustic", "ssl", "base"]


def test_transformers_backend_gives_the_states_ssl_pools(wavlm):
    from speechgrade.speech import get_speech_model_class, speech_model

    model = speech_model("transformers", get_speech_model_class("transformers").Options(wavlm))
    audio = speechlike(25.0)  # two windows of 20 s and 5 s
    states = model.encoder_states(audio, [1, -1])
    assert model.n_states == 3 and model.dim == 32 and states.shape[0] == 2 and states.shape[2] == 32
    np.testing.assert_allclose(states[1].mean(0), get_featurizer(f"ssl:{wavlm}").featurize(audio), atol=1e-4)
    assert "model_digest" in model.identity()
