"""`acoustic`: handcrafted features that need no weights (MFCC, spectrum, energy, F0, pauses, rate).

Frame tracks (25 ms windows, 10 ms hop) are computed per 30 s window of the clip, so memory stays
flat for long recordings; statistics are then taken over the frames of the whole clip. Spectral and
MFCC statistics use speech frames only (energy above the speech threshold) when there are enough.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import signal
from threadpoolctl import threadpool_limits

from dataclasses import dataclass

from ..audio import SAMPLE_RATE, windows
from ..options import FeaturizerOptions, option
from .base import Featurizer, register_featurizer

HOP = 160
WIN = 400
NFFT = 512
N_MELS = 40
N_MFCC = 13
F0_WIN = 640  # 40 ms: room for two periods at 60 Hz
F0_MIN, F0_MAX = 60.0, 400.0
PAUSE_MIN_S = 0.25
LONG_PAUSE_S = 1.0

DESCRIPTIONS: dict[str, str] = {
    **{f"mfcc{i}_mean": f"mean of MFCC {i} over speech frames" for i in range(N_MFCC)},
    **{f"mfcc{i}_std": f"std of MFCC {i} over speech frames" for i in range(N_MFCC)},
    **{f"dmfcc{i}_mean": f"mean of the delta of MFCC {i}" for i in range(N_MFCC)},
    **{f"dmfcc{i}_std": f"std of the delta of MFCC {i}" for i in range(N_MFCC)},
    "centroid_mean": "spectral centroid, Hz, mean", "centroid_std": "spectral centroid, Hz, std",
    "bandwidth_mean": "spectral bandwidth, Hz, mean", "bandwidth_std": "spectral bandwidth, Hz, std",
    "flatness_mean": "spectral flatness (0 tonal .. 1 noise), mean", "flatness_std": "spectral flatness, std",
    "rolloff_mean": "85% spectral roll-off, Hz, mean", "rolloff_std": "85% spectral roll-off, Hz, std",
    "rms_db_mean": "frame RMS energy, dBFS, mean over speech frames",
    "rms_db_std": "frame RMS energy, dB, std over speech frames",
    "rms_db_range": "energy dynamic range: 95th minus 10th percentile of frame dB",
    "voiced_ratio": "share of speech frames with a detected F0",
    "f0_mean_hz": "mean F0 of voiced frames, Hz",
    "f0_std_st": "F0 standard deviation, semitones",
    "f0_range_st": "F0 range (95th minus 5th percentile), semitones",
    "f0_slope_st_per_s": "linear F0 trend over the clip, semitones per second",
    "duration_s": "clip length, seconds",
    "speech_time_s": "time above the speech energy threshold, seconds",
    "speech_ratio": "speech time / clip length",
    "pause_count": "silent pauses >= 0.25 s between the first and last speech",
    "long_pause_count": "silent pauses >= 1 s",
    "pause_mean_s": "mean pause length, seconds (0 if none)",
    "pause_max_s": "longest pause, seconds (0 if none)",
    "pauses_per_min": "pauses per minute of speech",
    "syllable_rate": "syllable-nuclei peaks per second of clip (speaking-rate proxy)",
    "articulation_rate": "syllable-nuclei peaks per second of speech time",
}
COLUMNS = list(DESCRIPTIONS)


def _mel_filterbank(n_mels: int = N_MELS, n_fft: int = NFFT, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular mel filters (HTK mel scale), shape (n_mels, n_fft // 2 + 1)."""
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(20.0), hz_to_mel(sr / 2), n_mels + 2))
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lower) / (center - lower)
    down = (upper - freqs[None]) / (upper - center)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


MEL = _mel_filterbank()
FREQS = np.linspace(0, SAMPLE_RATE / 2, NFFT // 2 + 1).astype(np.float32)
BAND = (FREQS >= 300) & (FREQS <= 2500)
HANN = np.hanning(WIN).astype(np.float32)
F0_HANN = np.hanning(F0_WIN).astype(np.float32)
# autocorrelation of the window itself, to undo its taper (Boersma 1993)
_w = np.fft.rfft(F0_HANN, 2 * F0_WIN)
F0_WIN_AC = np.fft.irfft(np.abs(_w) ** 2)[:F0_WIN]
F0_WIN_AC = (F0_WIN_AC / F0_WIN_AC[0]).astype(np.float32)


def _frames(x: np.ndarray, size: int, hop: int = HOP) -> np.ndarray:
    """Frames centred every `hop` samples (zero-padded at the edges), shape (n, size)."""
    n = 1 + len(x) // hop
    padded = np.pad(x, (size // 2, size // 2 + hop))
    return np.lib.stride_tricks.sliding_window_view(padded, size)[::hop][:n]


FRAME_CHUNK = 3000  # frames computed at once (30 s): memory stays flat however long the clip


def by_chunks(frames: np.ndarray, fn) -> np.ndarray:
    """`fn` applied to consecutive chunks of a (strided, uncopied) frame view, results concatenated."""
    parts = [fn(frames[i:i + FRAME_CHUNK]) for i in range(0, len(frames), FRAME_CHUNK)]
    return np.concatenate(parts) if parts else fn(frames)


def frame_db(x: np.ndarray) -> np.ndarray:
    """RMS level of each 25 ms frame (10 ms hop), dBFS."""
    return by_chunks(_frames(x, WIN), lambda f: 10 * np.log10(np.mean(f.astype(np.float64) ** 2, axis=1) + 1e-12))


def _frame_tracks(x: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame tracks of one window: mfcc, spectral shape, energy, band energy, F0 and its strength."""
    pre = np.append(x[:1], x[1:] - 0.97 * x[:-1]).astype(np.float32)
    spec = np.abs(sfft.rfft(_frames(pre, WIN) * HANN, NFFT, axis=1)) ** 2
    mel = np.log(spec @ MEL.T + 1e-10)
    mfcc = sfft.dct(mel, type=2, norm="ortho", axis=1)[:, :N_MFCC]
    power = spec.sum(axis=1) + 1e-12
    centroid = (spec @ FREQS) / power
    bandwidth = np.sqrt(np.maximum((spec @ FREQS**2) / power - centroid**2, 0.0))
    flatness = np.exp(np.mean(np.log(spec + 1e-12), axis=1)) / (power / spec.shape[1])
    cum = np.cumsum(spec, axis=1)
    rolloff = FREQS[np.minimum((cum < 0.85 * cum[:, -1:]).sum(axis=1), len(FREQS) - 1)]
    rms_db = frame_db(x)
    band_db = 10 * np.log10(spec[:, BAND].sum(axis=1) + 1e-12)
    f0, strength = _f0_track(x)
    return {"mfcc": mfcc, "centroid": centroid, "bandwidth": bandwidth, "flatness": flatness,
            "rolloff": rolloff, "rms_db": rms_db, "band_db": band_db, "f0": f0, "f0_strength": strength}


def _f0_track(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Autocorrelation pitch per 10 ms frame: F0 in Hz and peak strength (0..1)."""
    both = by_chunks(_frames(x, F0_WIN), lambda f: np.column_stack(_f0_frames(f)))
    return both[:, 0].copy(), both[:, 1].copy()


def _f0_frames(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F0 and peak strength of each frame of a chunk."""
    frames = frames.astype(np.float32)
    frames = frames - frames.mean(axis=1, keepdims=True)
    spec = sfft.rfft(frames * F0_HANN, 2 * F0_WIN, axis=1)
    ac = sfft.irfft(np.abs(spec) ** 2, axis=1)[:, :F0_WIN]
    ac = ac / (ac[:, :1] + 1e-12) / F0_WIN_AC
    lo, hi = int(SAMPLE_RATE / F0_MAX), int(SAMPLE_RATE / F0_MIN)
    region = ac[:, lo:hi]
    best = region.max(axis=1, keepdims=True)
    # the shortest lag whose peak is within 85% of the best one: avoids picking a multiple of the period
    peak = np.zeros_like(region, dtype=bool)
    peak[:, 1:-1] = (region[:, 1:-1] >= region[:, :-2]) & (region[:, 1:-1] >= region[:, 2:])
    candidates = peak & (region >= 0.85 * best)
    lag = np.where(candidates.any(axis=1), np.argmax(candidates, axis=1), np.argmax(region, axis=1))
    strength = region[np.arange(len(region)), lag]
    # parabolic interpolation around the peak for sub-sample lag
    idx = np.clip(lag + lo, 1, F0_WIN - 2)
    a, b, c = ac[np.arange(len(ac)), idx - 1], ac[np.arange(len(ac)), idx], ac[np.arange(len(ac)), idx + 1]
    denom = a - 2 * b + c
    shift = np.where(np.abs(denom) > 1e-9, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
    f0 = SAMPLE_RATE / (idx + np.clip(shift, -1, 1))
    return f0.astype(np.float64), np.clip(strength, 0, 1).astype(np.float64)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs of the True runs in a boolean array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2]))


def _speech_mask(rms_db: np.ndarray) -> np.ndarray:
    """Frames above an adaptive energy threshold; gaps under 100 ms are bridged."""
    floor, peak = np.percentile(rms_db, 10), np.percentile(rms_db, 99)
    threshold = max(peak - 25.0, floor + 3.0)
    if peak - floor < 6.0:  # no silence to adapt to (constant level): everything not near-silent is speech
        threshold = max(peak - 25.0, -60.0)
    mask = rms_db > threshold
    for start, end in _runs(~mask):
        if end - start < 10 and start > 0 and end < len(mask):
            mask[start:end] = True
    return mask


def _stats(values: np.ndarray) -> tuple[float, float]:
    return (float(np.mean(values)), float(np.std(values))) if len(values) else (0.0, 0.0)


def acoustic_features(audio: np.ndarray, window_s: float = 30.0) -> np.ndarray:
    """The `acoustic` vector of one clip (see DESCRIPTIONS for the columns)."""
    # one BLAS thread: the order of additions (and so the last bit of the output) must not depend on the
    # machine's core count, or cached vectors from a 2-core laptop and a 64-core worker would differ
    with threadpool_limits(1):
        return _acoustic_features(audio, window_s)


def _acoustic_features(audio: np.ndarray, window_s: float) -> np.ndarray:
    parts = [_frame_tracks(w) for w in windows(audio, window_s)]
    tracks = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    n = len(tracks["rms_db"])
    duration = len(audio) / SAMPLE_RATE
    speech = _speech_mask(tracks["rms_db"])
    sel = speech if speech.sum() >= 10 else np.ones(n, dtype=bool)

    out: list[float] = []
    mfcc = tracks["mfcc"]
    delta = np.gradient(mfcc, axis=0) if n > 1 else np.zeros_like(mfcc)
    out += list(mfcc[sel].mean(0)) + list(mfcc[sel].std(0))
    out += list(delta[sel].mean(0)) + list(delta[sel].std(0))
    for key in ("centroid", "bandwidth", "flatness", "rolloff"):
        out += _stats(tracks[key][sel])
    rms = tracks["rms_db"]
    out += [float(rms[sel].mean()), float(rms[sel].std()),
            float(np.percentile(rms, 95) - np.percentile(rms, 10))]

    voiced = sel & (tracks["f0_strength"] > 0.5) & speech
    f0 = tracks["f0"][voiced]
    st = 12 * np.log2(f0 / 100.0) if len(f0) else np.zeros(0)
    slope = float(np.polyfit(np.flatnonzero(voiced) * HOP / SAMPLE_RATE, st, 1)[0]) if len(st) >= 10 else 0.0
    out += [float(voiced.sum() / max(sel.sum(), 1)), float(f0.mean()) if len(f0) else 0.0,
            float(st.std()) if len(st) else 0.0,
            float(np.percentile(st, 95) - np.percentile(st, 5)) if len(st) else 0.0, slope]

    frame_s = HOP / SAMPLE_RATE
    speech_time = float(speech.sum() * frame_s)
    speech_idx = np.flatnonzero(speech)
    pauses: list[float] = []
    if len(speech_idx):
        inner = ~speech[speech_idx[0]:speech_idx[-1] + 1]
        pauses = [(e - s) * frame_s for s, e in _runs(inner) if (e - s) * frame_s >= PAUSE_MIN_S]
    out += [duration, speech_time, speech_time / max(duration, 1e-9), float(len(pauses)),
            float(sum(p >= LONG_PAUSE_S for p in pauses)), float(np.mean(pauses)) if pauses else 0.0,
            float(max(pauses)) if pauses else 0.0, len(pauses) / max(speech_time / 60.0, 1e-9) if speech_time else 0.0]

    smooth = np.convolve(tracks["band_db"], np.ones(5) / 5, mode="same")
    peaks, _ = signal.find_peaks(smooth, prominence=2.0, distance=10)
    peaks = peaks[speech[peaks] & (tracks["f0_strength"][peaks] > 0.35)]
    out += [len(peaks) / max(duration, 1e-9), len(peaks) / speech_time if speech_time else 0.0]
    return np.nan_to_num(np.asarray(out, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)


@register_featurizer
class AcousticFeaturizer(Featurizer):
    """MFCC/delta statistics, spectral shape, energy, F0, pauses and a speaking-rate proxy."""

    name = "acoustic"
    title = "acoustic measures (pitch, pauses, voice quality)"
    version = "1"
    descriptions = DESCRIPTIONS
    default_rank = 4

    def summary_columns(self) -> list[str]:
        return ["duration_s", "speech_ratio", "pause_count", "long_pause_count", "pause_mean_s", "syllable_rate",
                "articulation_rate", "f0_mean_hz", "f0_range_st"]

    @dataclass(frozen=True)
    class Options(FeaturizerOptions):
        """Options of the acoustic featurizer."""

        window_s: float = option(30.0, "analysis window in seconds (memory stays bounded by it)", kind=float,
                                 min=1.0, max=600.0)

    def columns(self) -> list[str]:
        return list(COLUMNS)

    def featurize(self, audio: np.ndarray) -> np.ndarray:
        return acoustic_features(audio, self.options.window_s)
