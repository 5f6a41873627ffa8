"""Decode any audio container to mono 16 kHz float32 (PyAV + soxr), and cut it into windows."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Union

import av
import numpy as np
import soxr

from .errors import AudioError

SAMPLE_RATE = 16000
MIN_SAMPLES = 1024  # the original design's minimum clip length at 16 kHz
MAX_AUDIO_S = 3600.0  # longer files are refused per file: memory grows with the decoded clip (~4 MB/min)
SILENCE_DBFS = -60.0  # clips whose RMS level is below this are treated as silent
AUDIO_EXTENSIONS = (".wav", ".mp4", ".m4a", ".aac", ".mp3", ".flac", ".ogg", ".opus", ".webm", ".mka", ".wma")

Source = Union[str, os.PathLike, bytes, BinaryIO]


class UnusableAudio(AudioError):
    """Audio that decodes but cannot be scored (too short, silent): skipped, not failed."""


class AudioTooLong(AudioError):
    """Audio longer than the limit given to the decoder (found from the header, or while decoding)."""


@dataclass(frozen=True)
class AudioInfo:
    """What decoding learned about a file, besides the samples."""

    codec: str
    container: str
    source_rate: int
    channels: int
    duration_s: float


def _name(source: Source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return getattr(source, "name", "<upload>")


def _open(source: Source) -> av.container.InputContainer:
    if isinstance(source, (str, os.PathLike)):
        size = Path(source).stat().st_size
        if size == 0:
            raise AudioError(source, "empty file (0 bytes)")
        return av.open(str(source), mode="r")
    if isinstance(source, bytes):
        if not source:
            raise AudioError("<upload>", "empty file (0 bytes)")
        source = io.BytesIO(source)
    return av.open(source, mode="r")


def _wav_shortfall(head: bytes, size: int) -> tuple[float, float] | None:
    """(declared, present) seconds when a RIFF/WAVE header promises more data than the file holds."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, 0
    while pos + 8 <= len(head):
        chunk, length = head[pos:pos + 4], int.from_bytes(head[pos + 4:pos + 8], "little")
        if chunk == b"fmt " and pos + 16 <= len(head):
            byte_rate = int.from_bytes(head[pos + 16:pos + 20], "little")
        if chunk == b"data":
            present = size - (pos + 8)
            if byte_rate and length not in (0, 0xFFFFFFFF) and length > present + byte_rate // 100:
                return length / byte_rate, max(present, 0) / byte_rate
            return None
        pos += 8 + length + (length & 1)
    return None


def _check_wav_complete(source: Source, name: str) -> None:
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            head, size = fh.read(4096), os.fstat(fh.fileno()).st_size
    elif isinstance(source, bytes):
        head, size = source[:4096], len(source)
    else:
        return
    short = _wav_shortfall(head, size)
    if short:
        raise AudioError(name, f"truncated: the WAV header declares {short[0]:.2f} s, the file holds {short[1]:.2f} s")


def _declared_duration(container, stream) -> float | None:
    """Seconds the container or stream header declares, if any."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / 1e6 if container.duration and container.duration > 0 else None


def _mono(frame) -> np.ndarray:
    """The mean of the channels of an interleaved float frame, as float32 samples."""
    layout = frame.layout
    channels = max(1, int(getattr(layout, "nb_channels", 0) or len(getattr(layout, "channels", ())) or 1))
    pcm = np.asarray(frame.to_ndarray(), dtype=np.float32).reshape(-1)
    if channels == 1:
        return pcm
    return pcm[: len(pcm) // channels * channels].reshape(-1, channels).mean(axis=1, dtype=np.float32)


def decode_with_info(source: Source, sample_rate: int = SAMPLE_RATE,
                     max_duration_s: float | None = None) -> tuple[np.ndarray, AudioInfo]:
    """Decode a file (whatever its extension says) to mono float32 at `sample_rate`, with its info.

    Memory stays bounded by the output: frames are downmixed and resampled (soxr, streaming) as they are
    decoded. With `max_duration_s`, a longer file is refused from its header when it declares its length,
    else as soon as decoding passes the limit (AudioTooLong). NaN or infinite samples are refused."""
    name = _name(source)
    try:
        container = _open(source)
    except AudioError:
        raise
    except FileNotFoundError:
        raise AudioError(name, "file not found") from None
    except IsADirectoryError:
        raise AudioError(name, "is a directory, not an audio file") from None
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise AudioError(name, f"not a readable audio file ({type(exc).__name__}: {exc})") from None
    with container:
        _check_wav_complete(source, name)
        if not container.streams.audio:
            raise AudioError(name, "no audio stream in the file")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or stream.rate
        if not rate:
            raise AudioError(name, "no sample rate in the audio stream")
        declared = _declared_duration(container, stream)
        stream_declared = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
        if max_duration_s is not None and declared and declared > max_duration_s:
            raise AudioTooLong(name, f"{declared:.0f} s of audio, the limit is {max_duration_s:g} s")
        # swresample only converts the sample format here (interleaved float, every channel kept; planar frames of
        # 8 channels crash PyAV's to_ndarray); channels are averaged below (swresample's own downmix matrix sums
        # some layouts: 8 channels peaked at 4x); rate conversion is soxr's
        resampler = av.AudioResampler(format="flt", rate=rate)
        stream_rs = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="HQ") \
            if rate != sample_rate else None
        chunks: list[np.ndarray] = []
        seen = 0  # input samples decoded so far

        def take(pcm: np.ndarray, last: bool = False) -> None:
            nonlocal seen
            if not np.isfinite(pcm).all():
                raise AudioError(name, f"non-finite samples (NaN or infinity) after {seen / rate:.2f} s")
            seen += len(pcm)
            if max_duration_s is not None and seen > max_duration_s * rate:
                raise AudioTooLong(name, f"longer than the limit of {max_duration_s:g} s")
            chunks.append(stream_rs.resample_chunk(pcm, last=last) if stream_rs is not None else pcm)

        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    take(_mono(out))
            for out in resampler.resample(None):
                take(_mono(out))
            take(np.zeros(0, np.float32), last=True)
        except (av.error.FFmpegError, ValueError) as exc:
            raise AudioError(name, f"corrupt audio data after {seen / rate:.2f} s ({exc})") from None
        channels = stream.codec_context.channels if hasattr(stream.codec_context, "channels") else 1
        info_codec = stream.codec_context.name
        container_name = container.format.name
    audio = np.ascontiguousarray(np.concatenate(chunks) if chunks else np.zeros(0), dtype=np.float32)
    duration = len(audio) / sample_rate
    if stream_declared and stream_declared > 1.0 and duration < 0.9 * stream_declared:
        raise AudioError(name, f"truncated: decoded {duration:.2f} s of {stream_declared:.2f} s declared")
    info = AudioInfo(info_codec, container_name, int(rate), int(channels or 1), duration)
    return audio, info


def decode_audio(source: Source, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode any audio file or bytes to a mono float32 array at `sample_rate` (16 kHz)."""
    return decode_with_info(source, sample_rate)[0]


def audio_digest(audio: np.ndarray) -> str:
    """SHA-256 of a clip's float32 samples: identifies decoded audio (exact duplicates, transcripts)."""
    return hashlib.sha256(memoryview(np.ascontiguousarray(audio, np.float32)).cast("B")).hexdigest()  # no copy


def rms_dbfs(audio: np.ndarray) -> float:
    """RMS level of a signal in dB relative to full scale (-inf for digital silence)."""
    if not len(audio):
        return float("-inf")
    step = 1 << 20  # in float64 a chunk at a time: memory stays flat however long the clip
    power = sum(float(np.dot(c, c)) for c in (audio[i:i + step].astype(np.float64) for i in range(0, len(audio), step)))
    rms = float(np.sqrt(power / len(audio)))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def check_usable(audio: np.ndarray, name: str, min_samples: int = MIN_SAMPLES,
                 silence_dbfs: float = SILENCE_DBFS) -> None:
    """Raise UnusableAudio when a clip is shorter than `min_samples` or silent."""
    if len(audio) < min_samples:
        raise UnusableAudio(name, f"too short ({len(audio)} samples < {min_samples})")
    level = rms_dbfs(audio)
    if level < silence_dbfs:
        raise UnusableAudio(name, f"silent (RMS {level:.1f} dBFS < {silence_dbfs:.0f} dBFS)")


def windows(audio: np.ndarray, window_s: float, sample_rate: int = SAMPLE_RATE,
            min_samples: int = 400) -> Iterator[np.ndarray]:
    """Consecutive non-overlapping windows of `window_s` seconds; a tiny tail joins the previous one."""
    size = max(int(window_s * sample_rate), 1)
    n = len(audio)
    starts = list(range(0, n, size)) or [0]
    if len(starts) > 1 and n - starts[-1] < min_samples:
        starts.pop()
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else n
        yield audio[start:end]
