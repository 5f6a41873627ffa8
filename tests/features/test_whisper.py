"""The real faster-whisper code path, offline: a tiny converted CTranslate2 Whisper, and Whisper base."""

import json
import subprocess
import sys

import numpy as np
import pytest
from audiogen import speechlike, write

pytest.importorskip("faster_whisper")

import speechgrade as sg  # noqa: E402
from speechgrade.cache import FeatureCache  # noqa: E402
from speechgrade.errors import ModelNotFoundError  # noqa: E402
from speechgrade.features import get_featurizer  # noqa: E402
from speechgrade.features.language import COLUMNS  # noqa: E402
from speechgrade.transcribe import (Transcriber, WhisperOptions, assemble_packaged_base, packaged_parts,  # noqa: E402
                                    resolve_whisper_model)

needs_base = pytest.mark.skipif(packaged_parts() is None, reason="speechgrade[whisper] weights not installed")


@pytest.mark.slow
def test_tiny_converted_model_runs_through_the_public_api(tiny_ct2, tmp_path):
    assert resolve_whisper_model(tiny_ct2) == tiny_ct2
    clips = [write(tmp_path / f"c{i}.wav", speechlike(2.0, seed=i)) for i in range(2)]
    spec = f"whisper:{tiny_ct2}?beam_size=1,whisper-encoder:{tiny_ct2}?pooling=mean+std"
    table = sg.extract(clips, spec, cache=tmp_path / "cache")
    assert table.shape == (2, len(COLUMNS) + 64)
    assert np.isfinite(table.to_numpy()).all()
    again = sg.extract(clips, spec, cache=tmp_path / "cache")
    assert again.attrs["report"]["cached"] == 2


def test_encoder_pools_only_frames_that_hold_audio(tiny_ct2):
    f = get_featurizer(f"whisper-encoder:{tiny_ct2}?pooling=mean")
    assert f.frames(speechlike(3.0)).shape == (150, 32)        # 50 frames per second, not 1500
    assert f.frames(speechlike(45.0)).shape == (2250, 32)      # two 30 s windows, the second partly padded
    assert f.frames(speechlike(60.5)).shape == (3000, 32)      # a last 0.5 s is not worth a whole window
    learned = get_featurizer(f"whisper-encoder:{tiny_ct2}?pooling=learned&segments=5")
    audio = speechlike(3.0)
    assert learned.columns()[:2] == ["l0.t0.d0", "l0.t0.d1"] and len(learned.columns()) == 5 * 32
    block = learned.featurize(audio).reshape(5, 32)  # 150 frames -> 5 segments of 30
    np.testing.assert_allclose(block.mean(0), f.featurize(audio), rtol=1e-4, atol=1e-5)


def test_missing_whisper_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="no model.bin"):
        resolve_whisper_model(str(tmp_path))
    with pytest.raises(ModelNotFoundError, match=r"speechgrade\[whisper\]"):
        resolve_whisper_model("large-v3")


@needs_base
def test_packaged_base_is_assembled_once_with_the_right_size(tmp_path):
    parts, _ = packaged_parts()
    target = assemble_packaged_base(tmp_path)
    assert (target / "model.bin").stat().st_size == sum(p.stat().st_size for p in parts)
    mtime = (target / "model.bin").stat().st_mtime_ns
    assert assemble_packaged_base(tmp_path) == target and (target / "model.bin").stat().st_mtime_ns == mtime


@needs_base
def test_base_model_hears_real_speech_with_word_times(tmp_path):
    data = sg.datasets.sample("total")
    row = data.table.loc["000010035"]  # "ZERO THREE FIVE ONE"
    t = Transcriber(WhisperOptions(beam_size=1), FeatureCache(tmp_path)).transcribe(
        sg.decode_audio(row["path"]))
    heard = t.text.lower()
    assert sum(w in heard for w in ("zero", "three", "five", "one", "0", "3", "5", "1")) >= 2, heard
    assert t.words and all(0 <= w.start <= w.end <= t.duration + 0.5 for w in t.words)
    assert all(0 <= w.probability <= 1 for w in t.words) and t.avg_logprob < 0
    vec = get_featurizer("whisper?beam_size=1").featurize(sg.decode_audio(row["path"]))
    assert vec.shape == (len(COLUMNS),) and vec[0] >= 2


@needs_base
@pytest.mark.slow
def test_transcribe_command_writes_jsonl(tmp_path):
    data = sg.datasets.sample_dir()
    clip = data / "wav" / "000010011.wav"
    env_cache = tmp_path / "cache"
    proc = subprocess.run([sys.executable, "-m", "speechgrade", "transcribe", str(clip), "--beam-size", "1",
                           "--out", str(tmp_path / "t.jsonl"), "--cache", str(env_cache)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[0])
    assert record["filename"] == "000010011.wav" and record["text"]
    assert {"word", "start", "end", "probability"} <= set(record["words"][0])
