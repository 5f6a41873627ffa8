"""Audio for the tests, generated here: tones, noise, speech-like bursts, in many containers."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np

FORMATS = {  # name -> (container, codec, sample format)
    "wav": ("wav", "pcm_s16le", "s16"),
    "aac": ("mp4", "aac", "fltp"),
    "mp3": ("mp3", "libmp3lame", "fltp"),
    "flac": ("flac", "flac", "s16"),
    "ogg": ("ogg", "libopus", "flt"),
    "webm": ("webm", "libopus", "flt"),
}


def tone(freq: float = 220.0, seconds: float = 1.0, sr: int = 16000, amp: float = 0.3,
         harmonics: int = 4) -> np.ndarray:
    """A harmonic tone (voice-like spectrum) at `freq` Hz."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, harmonics + 1))
    return (amp * x / np.max(np.abs(x))).astype(np.float32)


def speechlike(seconds: float = 3.0, sr: int = 16000, syllables_per_s: float = 4.0, pauses: list | None = None,
               f0: float = 160.0, seed: int = 0) -> np.ndarray:
    """Amplitude-modulated harmonic bursts (syllables) with silent pauses at given (start, length) seconds."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    pitch = f0 * (1 + 0.05 * np.sin(2 * np.pi * 0.5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 8))
    # one peak per syllable, with an irregular rhythm (a seeded, slowly varying rate) as in real speech
    rate = syllables_per_s * (1 + 0.3 * np.interp(t, np.linspace(0, seconds, 12), rng.uniform(-1, 1, 12)))
    rate *= syllables_per_s * seconds / max(rate.sum() / sr, 1e-9)
    envelope = np.abs(np.sin(np.pi * np.cumsum(rate) / sr)) ** 1.5
    x = x * envelope + rng.normal(0, 0.002, len(t))
    for start, length in pauses or []:
        x[int(start * sr):int((start + length) * sr)] = rng.normal(0, 0.0005, int(length * sr))[: len(x)]
    return (0.3 * x / np.max(np.abs(x))).astype(np.float32)


def encode(audio: np.ndarray, fmt: str = "wav", sr: int = 16000, channels: int = 1) -> bytes:
    """Encode mono float audio into a container/codec (duplicated to `channels`)."""
    container, codec, sample_fmt = FORMATS[fmt]
    if codec == "libopus" and sr not in (8000, 12000, 16000, 24000, 48000):
        sr_enc = 48000
        import soxr

        audio, sr = soxr.resample(audio, sr, sr_enc).astype(np.float32), sr_enc
    layout = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 6: "5.1", 8: "7.1"}[channels]
    data = np.repeat(audio[None], channels, 0)
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=sr, layout=layout)
        if codec == "aac":
            stream.bit_rate = 64000
        if sample_fmt == "s16":
            arr = (np.clip(data, -1, 1) * 32767).astype(np.int16).T.reshape(1, -1)
        elif sample_fmt == "flt":
            arr = data.T.reshape(1, -1).astype(np.float32)
        else:
            arr = data.astype(np.float32)
        frame = av.AudioFrame.from_ndarray(arr, format=sample_fmt, layout=layout)
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def write(path: Path, audio: np.ndarray, fmt: str = "wav", sr: int = 16000, channels: int = 1) -> Path:
    """Write encoded audio to `path` (whatever its extension says)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(audio, fmt, sr, channels))
    return path
