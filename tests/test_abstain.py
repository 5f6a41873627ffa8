"""The abstain rules: which clips not to trust, and why."""

import numpy as np
import pandas as pd

import speechgrade as sg
from audiogen import speechlike, write
from speechgrade.abstain import AbstainRules


def test_unscoreable_clips_are_flagged_with_a_reason(tone_dataset, cache_dir, tmp_path):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    scorer = sg.Scorer("acoustic", "ridge", trials=0, cache=cache_dir).fit(ds)
    assert scorer.abstain_.min_voiced_s > 0.25 and scorer.abstain_.language is None
    rng = np.random.default_rng(0)
    noise = write(tmp_path / "noise.wav", (0.1 * rng.normal(size=16000 * 3)).astype(np.float32))
    little = np.concatenate([speechlike(0.3, seed=1), np.zeros(16000 * 3, np.float32)]) \
        + (1e-3 * rng.normal(size=16000 * 3 + 4800)).astype(np.float32)
    short = write(tmp_path / "little.wav", little.astype(np.float32))
    silent = write(tmp_path / "silent.wav", np.zeros(16000 * 2, np.float32))
    frame = scorer.predict_frame([ds.paths[0], noise, short, silent, tmp_path / "missing.wav"])
    reasons = frame["abstain_reason"].to_dict()
    assert reasons[ds.paths[0].name] == "" and not frame["abstain"].iloc[0]
    assert reasons["noise.wav"].startswith("mostly noise")
    assert reasons["little.wav"].startswith("too little speech")
    assert reasons["silent.wav"].startswith("silent") and "not found" in reasons[str(tmp_path / "missing.wav")]
    assert frame["abstain"].iloc[1:].all() and np.isfinite(frame["label"].iloc[:3]).all()


def test_english_check_only_fires_on_a_near_zero_probability():
    screen = pd.DataFrame({"snr_db": [30.0, 30.0, 30.0], "voiced_share": [0.6] * 3, "voiced_s": [5.0] * 3,
                           "english_prob": [0.03, 0.001, np.nan]}, index=["accented", "other", "unchecked"])
    reasons = AbstainRules().reasons(screen)
    assert reasons["accented"] is None and reasons["other"].startswith("not English") and reasons["unchecked"] is None


def test_rules_fit_the_voiced_time_of_the_training_clips():
    screen = pd.DataFrame({"voiced_s": np.linspace(4, 40, 50)})
    assert AbstainRules().fit(screen).min_voiced_s == round(0.5 * np.percentile(screen["voiced_s"], 1), 3)
    assert AbstainRules().fit(pd.DataFrame({"voiced_s": [0.1, 0.2]})).min_voiced_s == 0.25
