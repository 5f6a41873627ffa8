"""Hostile input, kept fixed: a corpus of bad and odd files, misbehaving clients, tampered bundles, damaged
caches, paths that lead out of the audio folder. Each case checks the reason, the exit code or HTTP status,
and that no row is lost."""

import json
import os
import socket
import struct
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from audiogen import encode, speechlike
from servers import start_server

import speechgrade as sg

CLI = [sys.executable, "-m", "speechgrade"]


def _wav_float(x: np.ndarray, sr: int = 16000) -> bytes:
    data = x.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, sr, sr * 4, 4, 32)
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE" + b"fmt " + \
        struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data


def _wav_24bit(x: np.ndarray, path: Path) -> bytes:
    ints = (np.clip(x, -1, 1) * (2**23 - 1)).astype("<i4")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(3)
        w.setframerate(16000)
        w.writeframes(b"".join(int(v).to_bytes(4, "little", signed=True)[:3] for v in ints))
    return path.read_bytes()


def corpus(tmp: Path) -> dict[str, tuple[bytes, str | None]]:
    """name -> (bytes, expected reason fragment, or None when the file must be scored)."""
    speech = speechlike(2.0, seed=3)
    wav = encode(speech)
    nan, inf = speech.copy(), speech.copy()
    nan[100:200], inf[5000] = np.nan, np.inf
    over = bytearray(wav)
    at = over.index(b"data") + 4
    over[at:at + 4] = struct.pack("<I", 10 * len(wav))  # the data chunk declares ten times what the file holds
    return {
        "empty.wav": (b"", "empty file"),
        "random.wav": (os.urandom(4000), "not a readable audio file"),
        "text.wav": (b"filename,label\nthis is not audio\n" * 50, "not a readable audio file"),
        "image.wav": (b"\x89PNG\r\n\x1a\n" + os.urandom(3000), "no audio stream"),
        "truncated.wav": (wav[: len(wav) // 2], "truncated"),
        "overdeclared.wav": (bytes(over), "truncated"),
        "tiny.wav": (encode(speech[:160]), "too short"),
        "silence.wav": (encode(np.zeros(32000, np.float32)), "silent"),
        "nan.wav": (_wav_float(nan), "non-finite samples"),
        "inf.wav": (_wav_float(inf), "non-finite samples"),
        "noise.wav": (encode((0.1 * np.random.default_rng(0).normal(size=32000)).astype(np.float32)), None),
        "pcm24.wav": (_wav_24bit(speech, tmp / "pcm24-tmp.wav"), None),
        "float.wav": (_wav_float(speech), None),
        "stereo48k.wav": (encode(np.repeat(speech, 3), "wav", 48000, 2), None),
        "phone8k.wav": (encode(speech[::2], "wav", 8000), None),
        "clip.mp3": (encode(speech, "mp3"), None),
        "clip.m4a": (encode(speech, "aac"), None),
        "clip.opus": (encode(speech, "ogg"), None),
        "clip.flac": (encode(speech, "flac"), None),
        "clip.webm": (encode(speech, "webm"), None),
    }


@pytest.fixture(scope="module")
def model(tone_dataset, tmp_path_factory):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    return sg.Scorer("acoustic", "ridge", trials=0, cache=False).fit(ds).save(tmp_path_factory.mktemp("m") / "model")


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    cases = corpus(root)
    for name, (data, _) in cases.items():
        (root / name).write_bytes(data)
    (root / "pcm24-tmp.wav").unlink()
    rows = [{"filename": n} for n in cases] + [{"filename": "missing.wav"}, {"filename": "../secret.wav"},
                                               {"filename": "/etc/hostname"}, {"filename": ""}]
    pd.DataFrame(rows).to_csv(root / "list.csv", index=False)
    (root.parent / "secret.wav").write_bytes(encode(speechlike(2.0)))
    return root, cases


def test_predict_lists_every_row_with_a_score_or_a_reason(model, bad_dir, tmp_path):
    root, cases = bad_dir
    proc = subprocess.run([*CLI, "predict", str(model), str(root / "list.csv"), "--abstain", "--out",
                           str(tmp_path / "new" / "folder" / "p.csv"), "--cache", str(tmp_path / "c")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = pd.read_csv(tmp_path / "new" / "folder" / "p.csv", keep_default_na=False).set_index("filename")
    for name, (_, reason) in cases.items():
        if reason is None:
            assert out.loc[name, "label"] != "", name  # scored
        else:
            assert out.loc[name, "label"] == "" and reason in out.loc[name, "abstain_reason"], name
    assert "mostly noise" in out.loc["noise.wav", "abstain_reason"]
    assert "outside the audio folder" in proc.stderr and "../secret.wav" in proc.stderr
    assert "/etc/hostname" in proc.stderr and "<line 25>: empty filename" in proc.stderr
    assert proc.stderr.count("missing.wav") == 1  # listed once
    assert all(len(line) < 400 for line in proc.stderr.splitlines())  # one line each, no traceback


def test_extract_exits_nonzero_when_nothing_could_be_processed(bad_dir, tmp_path):
    root, _ = bad_dir
    pd.DataFrame({"filename": ["empty.wav", "random.wav", "nan.wav"]}).to_csv(tmp_path / "bad.csv", index=False)
    proc = subprocess.run([*CLI, "extract", str(tmp_path / "bad.csv"), "-a", str(root), "-f", "acoustic",
                           "--out", str(tmp_path / "f.parquet"), "--cache", str(tmp_path / "c")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "no file could be processed" in proc.stderr
    assert not (tmp_path / "f.parquet").exists()


def test_a_damaged_cache_entry_is_recomputed(model, bad_dir, tmp_path):
    root, _ = bad_dir
    files = [root / "float.wav", root / "clip.flac"]
    first = sg.extract(files, "acoustic", cache=tmp_path / "c")
    for entry in (tmp_path / "c").rglob("*.json"):
        entry.write_text(json.dumps({"status": "ok", "unexpected": [1, 2]}))  # valid JSON, wrong shape
    for entry in list((tmp_path / "c").rglob("acoustic-*/**/*.npy"))[:1]:
        np.save(entry, np.zeros(3, np.float32))  # wrong length
    again = sg.extract(files, "acoustic", cache=tmp_path / "c")
    assert again.attrs["report"]["damaged_cache_entries"] >= 2
    np.testing.assert_array_equal(first.to_numpy(), again.to_numpy())


# -- bundles --------------------------------------------------------------------------------------------
def _rewrite(model_dir: Path, edit) -> None:
    """Edit a manifest and recompute its (unkeyed) checksum, as an attacker can."""
    from speechgrade.bundle import _checksum

    path = model_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    manifest["checksum"] = _checksum(manifest)
    path.write_text(json.dumps(manifest))


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _predict(model_dir: Path, clip: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "predict", str(model_dir), str(clip)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


@pytest.mark.slow
@pytest.mark.parametrize("regressor", ["lightgbm", "xgboost"])
def test_malformed_model_files_are_refused_not_crashed_on(regressor, tone_dataset, tmp_path):
    pytest.importorskip(regressor)
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    good = sg.Scorer("acoustic", regressor, trials=0, cache=False).fit(ds).save(tmp_path / "good")
    name = next(p.name for p in good.iterdir() if p.name.startswith("model."))
    bad = _copy(good, tmp_path / "bad")
    if regressor == "lightgbm":
        text = (bad / name).read_text()
        (bad / name).write_text(text[: len(text) // 2])  # a truncated model: LightGBM segfaults on it
    else:
        model = json.loads((bad / name).read_text())
        tree = model["learner"]["gradient_booster"]["model"]["trees"][0]
        tree["left_children"] = [99999] * len(tree["left_children"])  # XGBoost segfaults on it
        (bad / name).write_text(json.dumps(model))
    from speechgrade.bundle import _sha256

    _rewrite(bad, lambda m: m["files"].__setitem__(name, _sha256(bad / name)))
    proc = _predict(bad, ds.paths[0])
    assert proc.returncode == 1 and "cannot be loaded" in proc.stderr, (proc.returncode, proc.stderr)


def test_signed_bundles_refuse_tampering_even_with_a_recomputed_checksum(tone_dataset, tmp_path, monkeypatch):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    monkeypatch.setenv("SPEECHGRADE_BUNDLE_KEY", "s3cret")
    signed = sg.Scorer("acoustic", "ridge", trials=0, cache=False).fit(ds).save(tmp_path / "signed")
    assert _predict(signed, ds.paths[0]).returncode == 0
    edited = _copy(signed, tmp_path / "edited")
    _rewrite(edited, lambda m: m["label"].__setitem__("max", 99.0))
    proc = _predict(edited, ds.paths[0])
    assert proc.returncode == 1 and "not signed with this key" in proc.stderr
    wrong = _predict(signed, ds.paths[0], SPEECHGRADE_BUNDLE_KEY="other")
    assert wrong.returncode == 1 and "not signed with this key" in wrong.stderr
    monkeypatch.delenv("SPEECHGRADE_BUNDLE_KEY")
    with pytest.raises(sg.SpeechgradeError, match="malformed manifest|label"):  # unkeyed: shape still checked
        _rewrite(edited, lambda m: m.__setitem__("label", "nonsense"))
        sg.Scorer.load(edited)


def test_extra_files_and_links_in_a_bundle_are_refused(model, tmp_path):
    extra = _copy(model, tmp_path / "extra")
    (extra / "notes.txt").write_text("hello")
    with pytest.raises(sg.SpeechgradeError, match="notes.txt is not part of the bundle"):
        sg.Scorer.load(extra)
    linked = _copy(model, tmp_path / "linked")
    target = next(p for p in linked.iterdir() if p.suffix == ".json" and p.name != "manifest.json")
    (tmp_path / "elsewhere.json").write_bytes(target.read_bytes())
    target.unlink()
    target.symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(sg.SpeechgradeError, match="symbolic link"):
        sg.Scorer.load(linked)


# -- the server -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tone_dataset, tmp_path_factory):
    """A real server on a loopback port: 1 MB uploads, 20 s of audio, 2 s per request, 2 s to send a body."""
    import importlib

    toy = importlib.import_module("toyplugins")
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    ds = ds.subset(ds.filenames[:8])  # toy-slow sleeps 0.75 s on each 1.5 s clip
    model = sg.Scorer("toy-slow,acoustic", "ridge", trials=0, cache=False).fit(ds)
    model = model.save(tmp_path_factory.mktemp("slow") / "model")
    env = {**os.environ, "PYTHONPATH": str(Path(toy.__file__).parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc, port, url = start_server(model, "--max-upload-mb", "1", "--max-audio-s", "20", "--timeout", "2",
                                   "--body-timeout", "2", "--plugin", "toyplugins", "--concurrency", "1", env=env)
    yield port, url
    proc.terminate()
    proc.wait(10)
    from speechgrade.features import FEATURIZERS
    from speechgrade.models import REGRESSORS

    for name in toy.NAMES["featurizers"]:
        FEATURIZERS.pop(name, None)
    for name in toy.NAMES["regressors"]:
        REGRESSORS.pop(name, None)


def _raw(port: int, head: bytes, body: bytes = b"", wait: float = 10.0) -> tuple[float, bytes]:
    """Send raw bytes, then read the answer; returns (seconds until the answer, answer)."""
    started = time.perf_counter()
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(head + body)
        while chunk := s.recv(65536):  # until the server closes the connection
            answer += chunk
            if b"\r\n\r\n" in answer and answer.endswith(b"}"):
                break
    return time.perf_counter() - started, answer


@pytest.mark.slow
def test_a_huge_declared_upload_is_refused_before_its_body(server):
    port, _ = server
    head = (b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 2000000000\r\n\r\n")
    took, answer = _raw(port, head)
    assert answer.startswith(b"HTTP/1.1 413") and b"upload_too_large" in answer and took < 5


@pytest.mark.slow
def test_a_body_sent_too_slowly_is_cut_off(server):
    port, _ = server
    head = (b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 5000\r\n\r\n")
    took, answer = _raw(port, head, b"--b\r\n")  # then nothing more
    assert answer.startswith(b"HTTP/1.1 408") and b"body_timeout" in answer and took < 8


@pytest.mark.slow
def test_a_request_over_its_time_budget_ends_and_frees_its_worker(server):
    import httpx

    _, url = server
    slow = httpx.post(f"{url}/v1/score", files={"file": ("slow.wav", encode(speechlike(12.0)))}, timeout=60)
    assert slow.status_code == 504 and slow.json()["error"]["code"] == "timeout"
    for _ in range(30):  # the replacement worker loads the model
        fast = httpx.post(f"{url}/v1/score", files={"file": ("fast.wav", encode(speechlike(1.0)))}, timeout=60)
        if fast.status_code != 503:
            break
    assert fast.status_code == 200, fast.text


@pytest.mark.slow
def test_long_compressed_audio_is_refused_without_decoding_it_all(server):
    import httpx

    _, url = server
    long_opus = encode(np.tile(speechlike(10.0), 5), "ogg")  # 50 s over the 20 s limit, under the 1 MB one
    started = time.perf_counter()
    r = httpx.post(f"{url}/v1/score", files={"file": ("long.opus", long_opus)}, timeout=60)
    assert r.status_code == 413 and r.json()["error"]["code"] == "audio_too_long"
    assert "long.opus" in r.json()["error"]["message"] and time.perf_counter() - started < 5


@pytest.mark.slow
def test_every_client_error_has_one_shape(server, bad_dir):
    import httpx

    _, url = server
    root, cases = bad_dir
    answers = [httpx.post(f"{url}/v1/score", timeout=30),  # no field
               httpx.post(f"{url}/v1/score", content=b"hello", headers={"content-type": "text/plain"}, timeout=30),
               httpx.post(f"{url}/v1/score", files=[("file", ("a.wav", cases["float.wav"][0])),
                                                    ("file", ("b.wav", cases["float.wav"][0]))], timeout=30),
               httpx.get(f"{url}/nothing-here", timeout=30)]
    assert [a.status_code for a in answers] == [422, 422, 422, 404]
    assert answers[2].json()["error"]["code"] == "ambiguous_request"
    for a in answers:
        assert set(a.json()) == {"error"} and {"code", "message"} <= set(a.json()["error"])
    for name, (data, reason) in cases.items():
        if name in ("noise.wav",) or reason is None:
            continue
        r = httpx.post(f"{url}/v1/score", files={"file": (name, data)}, timeout=30)
        assert r.status_code in (413, 422) and name in r.json()["error"]["message"], (name, r.text)


@pytest.mark.parametrize("edit,reason", [
    (lambda m: m["label"].update(min="abc"), "label"),
    (lambda m: m["label"].update(max=float("nan")), "label"),
    (lambda m: m.update(feature_columns="x"), "feature_columns"),
    (lambda m: m.update(rubric={**(m.get("rubric") or {}), "snap": -1}), "snap"),
    (lambda m: m.update(interval={**(m.get("interval") or {}), "coverage": 3}), "coverage"),
])
def test_bundle_fields_of_the_wrong_type_are_refused_at_load(model, tmp_path, edit, reason):
    from speechgrade.errors import BundleError

    bad = _copy(model, tmp_path / "bad")
    _rewrite(bad, edit)
    with pytest.raises(BundleError, match=reason):
        sg.Scorer.load(bad)


def test_train_into_an_existing_bundle_of_another_kind_gives_a_loadable_bundle(tone_dataset, tmp_path):
    """LightGBM then ridge into one --out: the new bundle replaces the old one whole and loads."""
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    out = tmp_path / "model"
    sg.Scorer("acoustic", "lightgbm", trials=0, cache=tmp_path / "c").fit(ds).save(out)
    sg.Scorer("acoustic", "ridge", trials=0, cache=tmp_path / "c").fit(ds).save(out)
    loaded = sg.Scorer.load(out, cache=tmp_path / "c")
    assert loaded.model_.regressor == "ridge" and loaded.predict(ds.paths[:2]).notna().all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "model"]  # no temporary folder left behind
    # a folder that holds anything but a model is refused, and left as it was
    from speechgrade.errors import ConfigError

    with pytest.raises(ConfigError, match="no speechgrade model"):
        loaded.save(tone_dataset.parent / "wav")
    assert len(list((tone_dataset.parent / "wav").iterdir())) == len(ds)


def test_a_cache_root_that_is_a_file_still_yields_the_features(tone_dataset, tmp_path):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    (tmp_path / "cachefile").write_text("not a folder")
    table = sg.extract(ds, "acoustic", cache=tmp_path / "cachefile")
    assert len(table) == len(ds) and table.notna().all().all()
    (tmp_path / "c2").mkdir()
    (tmp_path / "c2" / "v1").write_text("a file where a cache folder goes")
    assert len(sg.extract(ds, "acoustic", cache=tmp_path / "c2")) == len(ds)


def test_odd_labels_and_names_are_reasons_per_row(tmp_path):
    wav = tmp_path / "wav"
    for i in range(3):
        (wav / f"c{i}.wav").parent.mkdir(exist_ok=True)
        (wav / f"c{i}.wav").write_bytes(encode(speechlike(1.0, seed=i)))
    long = "n" * 300 + ".wav"
    (tmp_path / "d.csv").write_text(f"filename,label\nc0,1\nc1,inf\nc2,1e308\n{long},2\nNA,N/A\n../wav/c2,3\n")
    ds = sg.load_dataset(tmp_path / "d.csv", wav)
    reasons = {p.filename: p.reason for p in ds.problems}
    assert "finite" in reasons["c1"] and "out of range" in reasons["c2"]
    assert "too long" in reasons[long].lower() and "non-numeric" in reasons["NA"]
    assert sorted(ds.table.index) == ["../wav/c2", "c0"]  # a '..' that stays inside the folder is fine
    with pytest.raises(Exception, match="snap"):
        sg.Scorer("acoustic", snap=float("nan")).fit(ds)


def test_predict_writes_one_row_per_input_row_repeats_included(model, tone_dataset, tmp_path):
    rows = ["clip000", "clip001", "clip000", "clip002", "clip001"]
    (tmp_path / "in.csv").write_text("filename\n" + "\n".join(rows) + "\n")
    out = subprocess.run([*CLI, "predict", str(model), str(tmp_path / "in.csv"), "-a", str(tone_dataset.parent / "wav"),
                          "-o", str(tmp_path / "out.csv")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    written = pd.read_csv(tmp_path / "out.csv")
    assert written["filename"].tolist() == rows and written.iloc[:, 1].notna().all()
    assert written.iloc[0, 1] == written.iloc[2, 1]
    assert "not scored" not in out.stderr


def test_files_over_the_duration_limit_are_refused_per_file(tone_dataset, tmp_path):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    table = sg.extract(ds, "acoustic", cache=tmp_path / "c", max_audio_s=1.0)  # every clip is 1.5 s
    report = table.attrs["report"]
    assert len(table) == 0 and len(report["failed"]) == len(ds)
    assert "the limit is 1 s" in str(report["failed"][0])
    assert len(sg.extract(ds, "acoustic", cache=tmp_path / "c")) == len(ds)  # the default limit is an hour


def test_an_upload_with_a_huge_filename_says_why_it_is_refused(model, tmp_path):
    from fastapi.testclient import TestClient

    from speechgrade.serve.app import ServeConfig, create_app

    client = TestClient(create_app(ServeConfig(str(model), cache=str(tmp_path / "c"))))
    r = client.post("/v1/score", files={"file": ("x" * 8000 + ".wav", encode(speechlike(2.0)), "audio/wav")})
    assert r.status_code == 400 and "filename" in r.json()["error"]["message"]
    ok = client.post("/v1/score", files={"file": ("x" * 200 + ".wav", encode(speechlike(2.0)), "audio/wav")})
    assert ok.status_code == 200, ok.text


def test_small_things_say_what_they_mean(model, tone_dataset, tmp_path, monkeypatch, caplog):
    import logging

    # a link to a model folder (`current -> v3`) loads
    (tmp_path / "current").symlink_to(model, target_is_directory=True)
    assert sg.Scorer.load(tmp_path / "current").predict([tone_dataset.parent / "wav" / "clip000.wav"]).notna().all()
    # an empty signing key is said, not silently ignored
    monkeypatch.setenv("SPEECHGRADE_BUNDLE_KEY", "")
    with caplog.at_level(logging.WARNING, logger="speechgrade.bundle"):
        sg.Scorer.load(model)
    assert "set but empty" in caplog.text
    # out-of-fold predictions carry the user's own groups; a constant label says there is nothing to learn
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    ev = sg.Scorer("acoustic", "ridge", trials=0, cache=tmp_path / "c").evaluate(ds, folds=3, repeats=1)
    assert set(ev.predictions["group"]) <= set(ds.table["group"].astype(str)) and "cv_group" in ev.predictions
    flat = ds.table.copy()
    flat["label"] = 3.0
    same = sg.Dataset(flat, "label", [], None, ["label"])
    from speechgrade.evaluate import plain_findings

    summary = sg.Scorer("acoustic", "ridge", trials=0, cache=tmp_path / "c").evaluate(same, folds=3, repeats=1).summary
    assert plain_findings(summary)[0].startswith("Every clip has the same label")
