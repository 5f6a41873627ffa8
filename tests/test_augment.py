import numpy as np
import pytest

import speechgrade as sg
from audiogen import speechlike, write
from speechgrade.augment import Augmenter, Recipe, apply, check_ops, mu_law
from speechgrade.errors import ConfigError
from speechgrade.evaluate import cross_validate


def _pitch(audio):
    spec = np.abs(np.fft.rfft(audio[:16000] * np.hanning(16000)))
    return float(np.argmax(spec))  # 1 Hz bins


def test_each_operation_does_what_it_says():
    rng = np.random.default_rng(0)
    tone = (0.3 * np.sin(2 * np.pi * 200 * np.arange(48000) / 16000)).astype(np.float32)
    stretched = apply(tone, Recipe(stretch=1.2), rng)
    assert len(stretched) == pytest.approx(48000 / 1.2, rel=0.02) and _pitch(stretched) == pytest.approx(200, abs=3)
    shifted = apply(tone, Recipe(semitones=2), rng)
    assert len(shifted) == pytest.approx(48000, rel=0.02) and _pitch(shifted) == pytest.approx(200 * 2 ** (2 / 12), abs=3)
    noisy = apply(tone, Recipe(snr_db=10), rng)
    snr = 10 * np.log10(np.mean(tone**2) / np.mean((noisy - tone) ** 2))
    assert snr == pytest.approx(10, abs=0.5)
    assert np.max(np.abs(apply(tone, Recipe(gain_db=-6), rng))) == pytest.approx(0.3 * 10 ** (-6 / 20), rel=0.01)
    high = (0.3 * np.sin(2 * np.pi * 6000 * np.arange(48000) / 16000)).astype(np.float32)
    assert np.std(apply(high, Recipe(telephone=True), rng)) < 0.05 * np.std(high)  # above the phone band
    assert len(np.unique(mu_law(np.linspace(-1, 1, 5000).astype(np.float32)))) <= 256


def test_copies_are_reproducible_files_made_once(tmp_path):
    src = write(tmp_path / "a.wav", speechlike(2.0, seed=3))
    aug = Augmenter(3, seed=1)
    first = aug.copies_of(src, "digest-a", tmp_path / "aug")
    assert len(first) == 3 and len({r for _, r in first}) == 3
    mtimes = [p.stat().st_mtime_ns for p, _ in first]
    again = Augmenter(3, seed=1).copies_of(src, "digest-a", tmp_path / "aug")
    assert [p for p, _ in again] == [p for p, _ in first] and [p.stat().st_mtime_ns for p, _ in again] == mtimes
    assert sg.decode_audio(first[0][0]).size > 16000
    with pytest.raises(ConfigError, match="unknown augmentation"):
        check_ops(["reverb"])


def test_copies_only_train_and_stay_with_their_source():
    X = np.arange(10, dtype=float)[:, None]
    y = np.arange(10, dtype=float)
    groups = np.repeat(["a", "b", "c", "d", "e"], 2)
    X_aug, source = X[[0, 0, 5, 9]] + 100, np.array([0, 0, 5, 9])
    seen = []

    def fit_predict(Xt, yt, gt, seed):
        seen.append((Xt[:, 0].copy(), gt.copy()))
        return lambda Xe: (assert_no_copies(Xe), np.zeros(len(Xe)))[1]

    def assert_no_copies(Xe):
        assert (Xe < 100).all()

    ev = cross_validate(X, y, groups, fit_predict, folds=5, repeats=1, baselines={}, augmented=(X_aug, source))
    assert len(ev.predictions) == 10
    for xs, gs in seen:
        originals = set(xs[xs < 100].astype(int))
        copies = xs[xs >= 100].astype(int) - 100
        assert set(copies) <= originals  # a copy trains only beside its own source
        for x, g in zip(xs, gs):
            assert g == groups[int(x) % 100]


def test_scorer_trains_on_copies_and_predicts_originals(tone_dataset, cache_dir, tmp_path):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    scorer = sg.Scorer("acoustic", "ridge", trials=0, augment=1, augment_ops=["gain", "noise"], cache=cache_dir)
    data = scorer.prepare(ds)
    assert len(data.augmented) == 40 and sorted(data.source) == list(range(40))
    assert (cache_dir / "augmented-v1").is_dir() and len(list((cache_dir / "augmented-v1").iterdir())) == 40
    ev = scorer.evaluate(ds, folds=4, repeats=1, prepared=data)
    assert len(ev.predictions) == 40 and ev.summary["pearson"] > 0.7 and ev.config["augment"] == 1
    scorer.fit(ds, prepared=data)
    assert scorer.training_["augmented_copies"] == 40 and scorer.training_["n"] == 40
    assert scorer.predict(ds.paths[:3]).notna().all()


def test_a_clip_that_will_not_augment_is_listed_and_training_goes_on(tone_dataset, cache_dir, monkeypatch):
    original = Augmenter.copies_of

    def flaky(self, path, digest, directory):
        if path.name == "clip000.wav":
            raise ValueError("boom")
        return original(self, path, digest, directory)

    monkeypatch.setattr(Augmenter, "copies_of", flaky)
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    data = sg.Scorer("acoustic", "ridge", trials=0, augment=1, augment_ops=["gain"], cache=cache_dir).prepare(ds)
    assert len(data.augmented) == 39
    assert any(p.filename == "clip000#aug" and "boom" in p.reason for p in data.report.failed)


def test_copies_made_without_a_cache_folder_leave_nothing_behind(tone_dataset, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    data = sg.Scorer("acoustic", "ridge", trials=0, augment=1, augment_ops=["gain"], cache=False).prepare(ds)
    assert len(data.augmented) == 40 and list(tmp_path.iterdir()) == []
