import numpy as np
from audiogen import speechlike, tone

from speechgrade.features import get_featurizer
from speechgrade.features.acoustic import COLUMNS, DESCRIPTIONS, acoustic_features


def _f(audio):
    return dict(zip(COLUMNS, acoustic_features(audio)))


def test_every_column_is_documented_and_output_is_deterministic():
    f = get_featurizer("acoustic")
    assert f.columns() == list(DESCRIPTIONS) and all(DESCRIPTIONS.values())
    audio = speechlike(3.0)
    a, b = f.featurize(audio), f.featurize(audio.copy())
    assert a.dtype == np.float32 and a.shape == (len(COLUMNS),)
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(a).all()


def test_pitch_follows_the_tone():
    for f0 in (120.0, 200.0, 300.0):
        feats = _f(tone(f0, 2.0))
        assert abs(feats["f0_mean_hz"] - f0) < 0.03 * f0
        assert feats["voiced_ratio"] > 0.9


def test_pauses_are_counted_with_their_lengths():
    audio = speechlike(8.0, pauses=[(2.0, 0.5), (4.0, 1.5), (6.0, 0.1)])
    feats = _f(audio)
    assert feats["pause_count"] == 2  # the 0.1 s gap is below the 0.25 s minimum
    assert feats["long_pause_count"] == 1
    assert abs(feats["pause_max_s"] - 1.5) < 0.2
    assert abs(feats["duration_s"] - 8.0) < 1e-6
    assert feats["speech_ratio"] < 0.85


def test_speaking_rate_tracks_syllable_rate():
    slow = _f(speechlike(6.0, syllables_per_s=2.0))["syllable_rate"]
    fast = _f(speechlike(6.0, syllables_per_s=5.0))["syllable_rate"]
    assert 1.0 < slow < 3.0 and 3.5 < fast < 6.5


def test_long_recordings_are_windowed():
    audio = speechlike(70.0, seed=1)
    whole = _f(audio)
    assert abs(whole["duration_s"] - 70.0) < 1e-6 and whole["syllable_rate"] > 0
