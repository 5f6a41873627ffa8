import numpy as np
import pytest
from audiogen import encode, speechlike, tone, write

from speechgrade.audio import UnusableAudio, check_usable, decode_audio, decode_with_info, windows
from speechgrade.errors import AudioError


@pytest.mark.parametrize("fmt", ["wav", "aac", "mp3", "flac", "ogg", "webm"])
def test_decodes_every_container_to_mono_16k(tmp_path, fmt):
    src = tone(440, 1.0, sr=16000)
    path = write(tmp_path / f"clip.{ 'wav' if fmt == 'aac' else fmt}", src, fmt)  # AAC in MP4 named .wav
    audio = decode_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 16000) < 0.1 * 16000  # codecs add a little priming/padding
    spectrum = np.abs(np.fft.rfft(audio[2000:14000]))
    assert abs(np.argmax(spectrum) * 16000 / 12000 - 440) < 10


def test_mp4_named_wav_is_detected_by_content(tmp_path):
    path = write(tmp_path / "answer.wav", tone(300, 1.0), "aac")
    audio, info = decode_with_info(path)
    assert info.codec == "aac" and "mp4" in info.container
    assert len(audio) > 15000


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000])
def test_resamples_and_downmixes_stereo(tmp_path, sr):
    path = write(tmp_path / "s.wav", tone(200, 1.0, sr=sr), "wav", sr=sr, channels=2)
    audio, info = decode_with_info(path)
    assert info.source_rate == sr and info.channels == 2
    assert len(audio) == 16000
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) - 200) <= 2


def test_empty_truncated_and_garbage_files_give_named_errors(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "garbage.wav").write_bytes(b"this is not audio at all" * 100)
    data = encode(speechlike(4.0), "wav")
    (tmp_path / "truncated.wav").write_bytes(data[: len(data) // 3])
    for name, reason in [("empty.wav", "empty"), ("garbage.wav", "not a readable audio file"),
                         ("truncated.wav", "truncated")]:
        with pytest.raises(AudioError) as err:
            decode_audio(tmp_path / name)
        assert name in str(err.value) and reason in str(err.value)
        assert "\n" not in str(err.value)
    with pytest.raises(AudioError, match="file not found"):
        decode_audio(tmp_path / "missing.wav")


def test_decodes_bytes_too():
    audio = decode_audio(encode(tone(250, 0.5), "flac"))
    assert len(audio) == 8000


def test_short_and_silent_clips_are_unusable():
    with pytest.raises(UnusableAudio, match="too short"):
        check_usable(np.ones(500, np.float32) * 0.1, "x.wav")
    with pytest.raises(UnusableAudio, match="silent"):
        check_usable(np.zeros(16000, np.float32), "x.wav")
    check_usable(tone(200, 0.1), "x.wav", min_samples=1024)


def test_windows_cover_the_clip_without_overlap():
    audio = np.arange(16000 * 65, dtype=np.float32)
    parts = list(windows(audio, 30.0))
    assert [len(p) for p in parts] == [480000, 480000, 80000]
    assert np.array_equal(np.concatenate(parts), audio)
    tail = list(windows(np.zeros(16000 * 30 + 100, np.float32), 30.0))
    assert len(tail) == 1  # a tiny tail joins the previous window


@pytest.mark.parametrize("fmt,channels", [("wav", 3), ("wav", 6), ("wav", 8), ("aac", 6), ("flac", 8)])
def test_multichannel_is_averaged_not_summed(tmp_path, fmt, channels):
    """An N-channel copy of a clip decodes to the clip (swresample's downmix summed 8 channels to 4x the peak)."""
    clip = speechlike(2.0, seed=3) * 0.6
    mono = decode_audio(write(tmp_path / f"m.{fmt}", clip, fmt))
    multi, info = decode_with_info(write(tmp_path / f"c{channels}.{fmt}", clip, fmt, channels=channels))
    assert info.channels == channels
    peak, want = float(np.abs(multi).max()), float(np.abs(mono).max())
    if fmt == "aac":  # lossy, and the 5.1 encoder low-passes the LFE channel: the peak within 15 %, not 4x
        assert abs(peak - want) < 0.15 * want
        return
    assert abs(peak - want) < 0.01
    n = min(len(mono), len(multi))
    assert float(np.abs(multi[:n] - mono[:n]).max()) < 0.02


def test_stereo_channels_are_averaged(tmp_path):
    import av

    left, right = tone(200, 1.0, amp=0.4), tone(300, 1.0, amp=0.2)
    buf = tmp_path / "lr.wav"
    with av.open(str(buf), "w", format="wav") as out:
        stream = out.add_stream("pcm_f32le", rate=16000, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.stack([left, right]).T.reshape(1, -1).astype(np.float32),
                                           format="flt", layout="stereo")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    np.testing.assert_allclose(decode_audio(buf), (left + right) / 2, atol=1e-5)
