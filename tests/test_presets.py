"""`--preset large` (the public best recipe) end to end on tiny random models with the real architectures'
layer counts: Whisper-large-v3's 32 encoder blocks and 128 mel bins, WavLM-large's 24 layers."""

import subprocess
import sys

import numpy as np
import pytest
from conftest import make_tone_dataset

pytest.importorskip("transformers")
pytest.importorskip("faster_whisper")
pytest.importorskip("harper")

import speechgrade as sg  # noqa: E402
from speechgrade.errors import ConfigError  # noqa: E402
from speechgrade.presets import preset  # noqa: E402
from tinymodels import CONV, save_tiny, w2v_extractor  # noqa: E402


@pytest.fixture(scope="module")
def large_shaped(tmp_path_factory):
    """(whisper-large-v3-shaped encoder, wavlm-large-shaped encoder): real layer counts, 16-wide."""
    import transformers

    whisper = save_tiny(tmp_path_factory.mktemp("whisper-large"), transformers.WhisperConfig(
        d_model=16, encoder_layers=32, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, num_mel_bins=128, vocab_size=100, max_target_positions=32,
        decoder_start_token_id=1, pad_token_id=0, bos_token_id=1, eos_token_id=2),
        transformers.WhisperModel, transformers.WhisperFeatureExtractor(feature_size=128))
    wavlm = save_tiny(tmp_path_factory.mktemp("wavlm-large"), transformers.WavLMConfig(
        hidden_size=16, num_hidden_layers=24, num_attention_heads=2, intermediate_size=32, num_buckets=32, **CONV),
        transformers.WavLMModel, w2v_extractor())
    return whisper, wavlm


@pytest.mark.slow
def test_large_preset_runs_end_to_end_on_tiny_models(large_shaped, tiny_ct2, tmp_path):
    whisper, wavlm = large_shaped
    recipe = preset("large", asr=tiny_ct2, encoder=whisper, ssl=wavlm)
    assert recipe.ensemble == "stack" and recipe.regressor == "ridgecv"
    assert "layers=29-32&pooling=mean+std" in recipe.features and "layers=18-23&pooling=mean+std" in recipe.features
    csv = make_tone_dataset(tmp_path / "d", n=9)
    data = sg.load_dataset(csv, csv.parent / "wav", "label")
    scorer = sg.Scorer(**recipe.scorer_options(), cache=tmp_path / "cache")
    ev = scorer.evaluate(data, folds=3, repeats=1)
    assert np.isfinite(ev.summary["rmse"])
    weights = ev.summary["ensemble"]["weights"]
    assert set(weights) == {"whisper", "grammar", "ssl", "ssl-2"}  # one ridge per view, stacked
    model = scorer.fit(data).save(tmp_path / "model")
    again = sg.Scorer.load(model, cache=tmp_path / "cache")
    scores = again.score(data.paths[:3])
    assert not scores.problems, scores.problems
    assert np.allclose(scores.frame["label"], scorer.score(data.paths[:3]).frame["label"])
    columns = scorer.columns_
    assert sum(c.startswith("ssl.") for c in columns) == 32 and sum(c.startswith("ssl-2.") for c in columns) == 32


def test_preset_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="known: large"):
        preset("huge")
    with pytest.raises(ConfigError, match="preset 'large'"):
        preset("large", colour="blue")
    csv = make_tone_dataset(tmp_path / "d", n=4)
    out = subprocess.run([sys.executable, "-m", "speechgrade", "evaluate", str(csv), "-a", str(csv.parent / "wav"),
                          "-l", "label", "--preset", "large",
                          "--features", "acoustic"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "give --preset or --features, not both" in out.stdout + out.stderr
