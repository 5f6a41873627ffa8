import os

import numpy as np
import pandas as pd
import pytest
from audiogen import speechlike, tone, write

import speechgrade as sg
from speechgrade.cache import FeatureCache
from speechgrade.extraction import ExtractReport, Extractor
from speechgrade.features import get_featurizer


@pytest.fixture
def mixed_dir(tmp_path):
    """Good clips in several formats plus empty, garbage, short, silent and missing entries."""
    d = tmp_path / "wav"
    for i, fmt in enumerate(["wav", "aac", "mp3", "flac", "ogg"]):
        write(d / f"good{i}.wav", speechlike(2.0, seed=i), fmt)  # all named .wav, whatever is inside
    (d / "empty.wav").write_bytes(b"")
    (d / "garbage.wav").write_bytes(os.urandom(3000))
    write(d / "short.wav", tone(200, 0.03))
    write(d / "silent.wav", np.zeros(16000, np.float32))
    names = [f"good{i}" for i in range(5)] + ["empty", "garbage", "short", "silent", "missing"]
    pd.DataFrame({"filename": names, "label": range(len(names))}).to_csv(tmp_path / "d.csv", index=False)
    return tmp_path


def test_batch_goes_on_past_bad_files_and_reports_them(mixed_dir, cache_dir):
    ds = sg.load_dataset(mixed_dir / "d.csv", mixed_dir / "wav")
    table = sg.extract(ds, "acoustic", cache=cache_dir)
    assert list(table.index) == [f"good{i}" for i in range(5)]
    assert table.shape[1] == len(get_featurizer("acoustic").columns())
    assert table.columns[0] == "acoustic.mfcc0_mean" and table.dtypes.iloc[0] == np.float32
    report = table.attrs["report"]
    failed, skipped = dict(report["failed"]), dict(report["skipped"])
    assert set(failed) == {"empty", "garbage", "missing"}
    assert set(skipped) == {"short", "silent"}
    assert "too short" in skipped["short"] and "silent" in skipped["silent"]
    assert report["processed"] == 5 and report["cached"] == 0


def test_rerun_computes_nothing_and_config_change_recomputes_only_that(mixed_dir, cache_dir, monkeypatch):
    ds = sg.load_dataset(mixed_dir / "d.csv", mixed_dir / "wav")
    first = sg.extract(ds, "acoustic", cache=cache_dir)
    calls = []
    import importlib

    ex = importlib.import_module("speechgrade.extraction.local")

    real = ex.decode_with_info
    monkeypatch.setattr(ex, "decode_with_info", lambda *a, **k: calls.append(a) or real(*a, **k))
    again = sg.extract(ds, "acoustic", cache=cache_dir)
    assert again.attrs["report"]["cached"] == 5 and again.attrs["report"]["processed"] == 0
    assert calls == []  # nothing decoded: features, skips and failures all came from the cache
    np.testing.assert_array_equal(first.to_numpy(), again.to_numpy())
    both = sg.extract(ds, "acoustic,acoustic?window_s=10", cache=cache_dir)
    assert both.attrs["report"]["processed"] == 5  # only the new config computed
    assert both.columns[len(first.columns)].startswith("acoustic-2.")
    np.testing.assert_allclose(both.iloc[:, :len(first.columns)].to_numpy(), first.to_numpy())
    assert not [p for p in cache_dir.rglob(".tmp-*")]  # atomic writes leave no temp files


def test_interrupted_run_resumes_where_it_stopped(mixed_dir, cache_dir):
    ds = sg.load_dataset(mixed_dir / "d.csv", mixed_dir / "wav")
    part = ds.subset(["good0", "good1"])
    sg.extract(part, "acoustic", cache=cache_dir)
    full = sg.extract(ds, "acoustic", cache=cache_dir)
    assert full.attrs["report"]["cached"] == 2 and full.attrs["report"]["processed"] == 3


def test_corrupt_cache_entry_is_recomputed(tmp_path):
    cache = FeatureCache(tmp_path)
    cache.put_array("ns", "abcd", np.arange(3))
    path = next(tmp_path.rglob("abcd.npy"))
    path.write_bytes(b"garbage")
    assert cache.get_array("ns", "abcd") is None and not path.exists()


def test_cache_location_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SPEECHGRADE_CACHE", str(tmp_path / "here"))
    assert FeatureCache().root == tmp_path / "here"


def test_extract_from_plain_paths_in_memory(tmp_path):
    a = write(tmp_path / "a.ogg", speechlike(1.0), "ogg")
    table, report = Extractor("acoustic", cache=False, progress=False).run([a, tmp_path / "nope.wav"])
    assert list(table.index) == ["a.ogg"] and report.failed[0].filename.endswith("nope.wav")


def test_same_audio_in_other_container_gives_near_identical_features(tmp_path):
    audio = speechlike(2.0, seed=3)
    a, b = write(tmp_path / "a.wav", audio), write(tmp_path / "b.flac", audio, "flac")
    table = sg.extract([a, b], "acoustic", cache=False)
    np.testing.assert_allclose(table.iloc[0], table.iloc[1], rtol=1e-4, atol=1e-4)  # FLAC is lossless


def test_the_report_counts_what_each_featurizer_computed(tone_dataset, cache_dir):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    sg.extract(ds, "acoustic", cache=cache_dir)
    again = sg.extract(ds, "acoustic,screen", cache=cache_dir).attrs["report"]
    assert again["by_featurizer"] == {"acoustic": {"computed": 0, "cached": len(ds)},
                                      "screen": {"computed": len(ds), "cached": 0}}


@pytest.mark.parametrize("batch_size", [3, 8])
def test_pipelined_batches_give_what_one_lane_gives(mixed_dir, tmp_path, monkeypatch, batch_size):
    """Two workers pipeline batches (transcript readers and acoustic on a side thread, the next batch decoded
    meanwhile): the table, its order, the report and the per-clip failures equal the one-worker run's, and each
    clip is transcribed once."""
    pytest.importorskip("spacy")
    import speechgrade.speech.faster_whisper as fw
    import speechgrade.transcribe as tr

    calls = []
    bad = sg.decode_audio(mixed_dir / "wav" / "good3.wav").tobytes()

    def fake_transcribe(audio, options, models=None):
        calls.append(audio.tobytes() == bad)
        if calls[-1]:
            raise RuntimeError("decoder crashed")
        n = 3 + len(audio) % 5
        words = [tr.Word(w, 0.4 * i, 0.4 * i + 0.3, 0.9) for i, w in enumerate(("I goes to school " * n).split())]
        return tr.Transcript(" ".join(w.word for w in words), len(audio) / 16000, words,
                             [{"start": 0.0, "end": 2.0, "text": "I goes", "avg_logprob": -0.3,
                               "no_speech_prob": 0.1, "compression_ratio": 1.2}])

    monkeypatch.setattr(fw, "transcribe_audio", fake_transcribe)
    ds = sg.load_dataset(mixed_dir / "d.csv", mixed_dir / "wav")
    runs = []
    for workers in (1, 2):
        calls.clear()
        ex = Extractor("whisper:my-whisper,grammar?asr=my-whisper,acoustic", cache=tmp_path / f"c{workers}",
                       batch_size=batch_size, progress=False, workers=workers)
        table, report = ex.run(ds)
        runs.append((table, report, sorted(calls)))
    (t1, r1, c1), (t2, r2, c2) = runs
    assert list(t1.index) == list(t2.index) == [f"good{i}" for i in (0, 1, 2, 4)]
    pd.testing.assert_frame_equal(t1, t2)
    assert [(p.filename, p.reason) for p in r1.failed] == [(p.filename, p.reason) for p in r2.failed]
    assert "good3" in [p.filename for p in r2.failed] and "decoder crashed" in str(r2.to_dict()["failed"])
    assert [p.filename for p in r1.skipped] == [p.filename for p in r2.skipped]
    assert r1.by_featurizer == r2.by_featurizer
    assert c1 == [False] * 4 + [True] * 2  # each good clip once; the bad one in the batch, then alone
    assert c2 == [False] * 4 + [True]  # the pipeline reports the bad one from its first try


def test_progress_speed_is_the_average_since_the_start():
    """Batches finish in bursts (two at once when the pipeline drains): the bar's files/s and ETA use the
    average since the start, not the rate between its last two updates."""
    from types import SimpleNamespace

    from speechgrade.extraction.progress import EtaColumn, SpeedColumn

    done = SimpleNamespace(elapsed=58.0, completed=14, total=14, finished=True)
    assert str(SpeedColumn().render(done)) == "0.2 files/s" and str(EtaColumn().render(done)) == "0:00:00"
    half = SimpleNamespace(elapsed=30.0, completed=8, total=14, finished=False)
    assert str(SpeedColumn().render(half)) == "0.3 files/s" and str(EtaColumn().render(half)) == "0:00:22"
    start = SimpleNamespace(elapsed=None, completed=0, total=14, finished=False)
    assert str(SpeedColumn().render(start)) == "- files/s" and str(EtaColumn().render(start)) == "-:--:--"


@pytest.fixture
def spies(monkeypatch):
    """Counts, during a test, the hashes of decoded audio (by hash), the cache namespaces asked (by featurizer)
    and the duplicate fingerprints computed in the local engine."""
    import collections
    import importlib

    from speechgrade.features import Featurizer

    local = importlib.import_module("speechgrade.extraction.local")
    counts = {"hash": collections.Counter(), "namespace": collections.Counter(), "fingerprint": 0}
    real_digest, real_fp, real_ns = local.audio_digest, local.fingerprint, Featurizer.cache_namespace.fget

    def digest(audio):
        out = real_digest(audio)
        counts["hash"][out] += 1
        return out

    def fp(audio):
        counts["fingerprint"] += 1
        return real_fp(audio)

    def namespace(self):
        counts["namespace"][self.name] += 1
        return real_ns(self)

    monkeypatch.setattr(local, "audio_digest", digest)
    monkeypatch.setattr(local, "fingerprint", fp)
    monkeypatch.setattr(Featurizer, "cache_namespace", property(namespace))
    return counts


@pytest.mark.parametrize("source", ["files", "clips"])
def test_each_clip_is_hashed_once_and_each_namespace_computed_once_per_run(tmp_path, spies, source):
    """One `extract` of 6 clips with two featurizers: 1 hash of decoded audio per clip (a decoded clip's input
    hash is that hash: it is not hashed again), 1 namespace per featurizer (not one per clip and featurizer), and
    one fingerprint per clip; a re-run from the cache hashes and fingerprints nothing."""
    import toyplugins  # noqa: F401  (registers toy-loudness)

    audios = [speechlike(1.0 + 0.2 * i, seed=i) for i in range(6)]
    if source == "files":
        data = [write(tmp_path / f"c{i}.wav", a) for i, a in enumerate(audios)]
    else:
        data = [sg.Clip(f"c{i}", a) for i, a in enumerate(audios)]
    table, report = Extractor("acoustic,toy-loudness", cache=tmp_path / "cache", batch_size=4,
                              progress=False).run(data)
    assert len(table) == 6 and report.processed == 6
    decoded = [info["decoded_sha256"] for info in report.audio.values()]
    assert sorted(spies["hash"]) == sorted(decoded) and set(spies["hash"].values()) == {1}
    assert spies["namespace"] == {"acoustic": 1, "toy-loudness": 1}
    assert spies["fingerprint"] == 6
    spies["hash"].clear(), spies["namespace"].clear()
    again, report = Extractor("acoustic,toy-loudness", cache=tmp_path / "cache", progress=False).run(data)
    assert report.cached == 6 and spies["fingerprint"] == 6
    assert sum(spies["hash"].values()) == (6 if source == "clips" else 0)  # a clip's key is its samples' hash
    assert spies["namespace"] == {"acoustic": 1, "toy-loudness": 1}
    pd.testing.assert_frame_equal(again, table)


def test_featurizers_get_the_decoded_hash_of_each_clip(tmp_path):
    """`featurize_keyed` hears each clip's `decoded_sha256` (the key of transcripts), so it need not hash again."""
    from speechgrade.features import Featurizer

    heard = {}

    class Keyed(Featurizer):
        name = "keyed"

        def columns(self):
            return ["n"]

        def featurize_keyed(self, audios, keys):
            heard.update(zip(keys, (len(a) for a in audios)))
            return [np.array([len(a)], np.float32) for a in audios]

    paths = [write(tmp_path / f"c{i}.wav", speechlike(1.0, seed=i)) for i in range(3)]
    table, report = Extractor(Keyed(), cache=False, progress=False).run(paths)
    assert {info["decoded_sha256"] for info in report.audio.values()} == set(heard) and len(heard) == 3
    assert sorted(heard.values()) == sorted(table["keyed.n"].astype(int))


def test_prediction_computes_no_duplicate_fingerprints_and_training_does(tone_dataset, spies):
    """Duplicates are looked for when training (and evaluating), not when scoring: the fingerprints follow."""
    full = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    train = full.subset(full.filenames[:12])
    scorer = sg.Scorer("acoustic", "ridge", trials=0, cache=False, abstain=False, calibrate=False).fit(train)
    assert spies["fingerprint"] == 12
    spies["fingerprint"] = 0
    scores = scorer.score(full.subset(full.filenames[12:16]))
    assert len(scores.frame) == 4 and spies["fingerprint"] == 0
    sg.Scorer("acoustic", "ridge", trials=0, cache=False, group_duplicates=False).prepare(train)
    assert spies["fingerprint"] == 0  # no duplicate grouping asked for: none computed
    with pytest.raises(sg.SpeechgradeError, match="fingerprints"):
        scorer.extractor(fingerprints=False).duplicates(train.filenames, ExtractReport())
