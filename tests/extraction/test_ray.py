"""The Ray engine on a local Ray instance started in the test: same vectors as local, re-runs are no-ops."""

import numpy as np
import pandas as pd
import pytest
from audiogen import speechlike, write

ray = pytest.importorskip("ray")

import speechgrade as sg  # noqa: E402

pytestmark = pytest.mark.slow  # a local Ray cluster starts per module: tens of seconds


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def data(tmp_path):
    wav = tmp_path / "wav"
    names = []
    for i in range(10):
        write(wav / f"c{i}.wav", speechlike(1.5, seed=i), "aac" if i % 3 == 0 else "wav")
        names.append(f"c{i}")
    (wav / "bad.wav").write_bytes(b"not audio" * 50)
    pd.DataFrame({"filename": names + ["bad", "missing"], "label": range(12)}).to_csv(tmp_path / "d.csv", index=False)
    return sg.load_dataset(tmp_path / "d.csv", wav)


def test_ray_engine_matches_local_and_reruns_compute_nothing(ray_local, data, tmp_path):
    local = sg.extract(data, "acoustic", cache=tmp_path / "local-cache")
    distributed = sg.extract(data, "acoustic", cache=tmp_path / "ray-cache", engine="ray", batch_size=3)
    assert list(distributed.index) == list(local.index) == [f"c{i}" for i in range(10)]
    np.testing.assert_array_equal(distributed.to_numpy(), local.to_numpy())
    report = distributed.attrs["report"]
    assert report["processed"] == 10 and dict(report["failed"]).keys() == {"bad", "missing"}
    again = sg.extract(data, "acoustic", cache=tmp_path / "ray-cache", engine="ray", batch_size=3)
    assert again.attrs["report"]["processed"] == 0 and again.attrs["report"]["cached"] == 10
    # train/evaluate read what the ray engine wrote, whichever engine they use
    reread = sg.extract(data, "acoustic", cache=tmp_path / "ray-cache")
    assert reread.attrs["report"]["cached"] == 10


def test_ray_engine_resumes_after_an_interrupted_run(ray_local, data, tmp_path):
    cache = tmp_path / "cache"
    sg.extract(data.subset(["c0", "c1", "c2", "c3"]), "acoustic", cache=cache, engine="ray")
    full = sg.extract(data, "acoustic", cache=cache, engine="ray", batch_size=4)
    assert full.attrs["report"]["processed"] == 6 and full.attrs["report"]["cached"] == 4


def test_ray_engine_needs_a_shared_cache_folder(ray_local, data):
    with pytest.raises(sg.SpeechgradeError, match="cache folder"):
        sg.extract(data, "acoustic", cache=False, engine="ray")


def test_extract_command_with_the_ray_engine(data, tmp_path):
    import subprocess
    import sys

    csv = tmp_path / "d.csv"
    proc = subprocess.run([sys.executable, "-m", "speechgrade", "extract", str(csv), "--audio-dir", str(tmp_path / "wav"),
                           "--features", "acoustic", "--engine", "ray", "--batch-size", "4", "--cache",
                           str(tmp_path / "cache"), "--out", str(tmp_path / "f.parquet")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert pd.read_parquet(tmp_path / "f.parquet").shape == (10, 78)
    assert "10 computed" in proc.stderr and "bad" in proc.stderr


def test_ray_engine_gives_the_same_encoder_and_screen_vectors(ray_local, data, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tinymodels import save_tiny_wavlm

    specs = f"ssl:{save_tiny_wavlm(tmp_path / 'wavlm')}?layers=1+2&pooling=mean+std,screen"
    local = sg.extract(data, specs, cache=tmp_path / "local-cache")
    distributed = sg.extract(data, specs, cache=tmp_path / "ray-cache", engine="ray", batch_size=3)
    assert list(distributed.index) == list(local.index) and distributed.shape == (10, 64 + 6)
    np.testing.assert_array_equal(distributed.filter(like="screen.").to_numpy(),
                                  local.filter(like="screen.").to_numpy())
    # torch sums in another order with the workers' one thread: float32 rounding (5e-7 measured), not bits
    ssl_local, ssl_ray = local.filter(like="ssl.").to_numpy(), distributed.filter(like="ssl.").to_numpy()
    np.testing.assert_allclose(ssl_ray, ssl_local, rtol=1e-5, atol=1e-6)


def test_ray_workers_take_the_driver_options_and_its_plug_in_featurizers(ray_local, tmp_path, monkeypatch):
    """A featurizer registered only in the driver (the workers cannot import its module) runs in the workers, and
    `max_audio_s` refuses a long clip there as the local engine does: the driver then decodes nothing."""
    import importlib.util

    import toyplugins  # registered here only: the workers' sys.path lacks tests/, the class travels with the job

    @ray.remote
    def importable(module):
        return importlib.util.find_spec(module) is not None

    assert not ray.get(importable.remote("toyplugins")) and ray.get(importable.remote("speechgrade"))
    wav = tmp_path / "wav"
    names = [f"c{i}" for i in range(4)] + ["long"]
    for i in range(4):
        write(wav / f"c{i}.wav", speechlike(1.5, seed=i))
    write(wav / "long.wav", speechlike(3.0, seed=9))
    pd.DataFrame({"filename": names, "label": range(5)}).to_csv(tmp_path / "d.csv", index=False)
    data = sg.load_dataset(tmp_path / "d.csv", wav)
    local = sg.extract(data, "toy-loudness,acoustic", cache=tmp_path / "local-cache", max_audio_s=2)
    decoded = []
    import speechgrade.extraction.local as ex

    real = ex.decode_with_info
    monkeypatch.setattr(ex, "decode_with_info", lambda *a, **k: decoded.append(a) or real(*a, **k))
    distributed = sg.extract(data, "toy-loudness,acoustic", cache=tmp_path / "ray-cache", engine="ray",
                             batch_size=2, max_audio_s=2)
    assert decoded == []  # every clip was decoded, refused or featurized by the workers
    assert list(distributed.index) == list(local.index) == names[:4]
    np.testing.assert_array_equal(distributed.to_numpy(), local.to_numpy())
    assert distributed.columns[0] == "toy-loudness.rms_db" and toyplugins.ToyLoudness.name == "toy-loudness"
    failed = dict(distributed.attrs["report"]["failed"])
    assert list(failed) == ["long"] and "the limit is 2 s" in failed["long"]
    assert failed == dict(local.attrs["report"]["failed"])
    assert distributed.attrs["report"]["processed"] == 4
