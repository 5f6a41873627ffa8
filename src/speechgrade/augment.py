"""Training-only augmentation: time stretch, pitch shift, noise at an SNR, gain, and telephone (codec) sound.

Each copy's recipe is drawn from a generator seeded by (seed, source content, copy number), so copies are
reproducible and are written once as WAV files into the feature cache, where extraction treats them like any
other file (cached, resumable, on any engine). The scorer keeps every copy in its source clip's group, so a copy
never sits in a test fold, and never augments what it predicts.
"""

from __future__ import annotations

import hashlib
import json
import os
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import av
import numpy as np

from .audio import SAMPLE_RATE, decode_audio
from .config import AUGMENT_OPS
from .errors import ConfigError

OPS = AUGMENT_OPS
NAMESPACE = "augmented-v1"


@dataclass(frozen=True)
class Recipe:
    """One copy's transformations (identity values mean 'not applied')."""

    stretch: float = 1.0  # tempo factor (>1 faster), pitch kept
    semitones: float = 0.0  # pitch shift, tempo kept
    snr_db: float | None = None  # white noise at this signal-to-noise ratio
    gain_db: float = 0.0
    telephone: bool = False  # 300-3400 Hz band, 8 kHz, 8-bit mu-law (G.711)


def check_ops(ops: Sequence[str]) -> tuple[str, ...]:
    """The operations, validated."""
    unknown = [o for o in ops if o not in OPS]
    if unknown or not ops:
        raise ConfigError(f"unknown augmentation {', '.join(unknown) or '(none)'} (choose from {', '.join(OPS)})")
    return tuple(ops)


def draw(rng: np.random.Generator, ops: Sequence[str] = OPS) -> Recipe:
    """A random recipe using the chosen operations: stretch 0.9-1.1, pitch +-2 semitones, SNR 5-25 dB,
    gain +-6 dB, telephone half of the time."""
    return Recipe(stretch=round(float(rng.uniform(0.9, 1.1)), 3) if "stretch" in ops else 1.0,
                  semitones=round(float(rng.uniform(-2, 2)), 2) if "pitch" in ops else 0.0,
                  snr_db=round(float(rng.uniform(5, 25)), 1) if "noise" in ops else None,
                  gain_db=round(float(rng.uniform(-6, 6)), 1) if "gain" in ops else 0.0,
                  telephone=bool(rng.random() < 0.5) if "telephone" in ops else False)


def ffmpeg_filter(audio: np.ndarray, chain: Sequence[tuple[str, str]], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Run mono float32 audio through an FFmpeg filter chain (PyAV) and back to `sample_rate`."""
    graph = av.filter.Graph()
    nodes = [graph.add_abuffer(sample_rate=sample_rate, format="flt", layout="mono"),
             *(graph.add(name, args) for name, args in chain),
             graph.add("aformat", f"sample_fmts=flt:sample_rates={sample_rate}:channel_layouts=mono"),
             graph.add("abuffersink")]
    graph.link_nodes(*nodes).configure()
    out: list[np.ndarray] = []

    def drain() -> None:
        while True:
            try:
                out.append(graph.pull().to_ndarray()[0])
            except (av.BlockingIOError, av.EOFError):
                return

    hop = 16384
    for start in range(0, len(audio), hop):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio[None, start:start + hop], np.float32),
                                           format="flt", layout="mono")
        frame.sample_rate, frame.pts = sample_rate, start
        graph.push(frame)
        drain()
    graph.push(None)
    drain()
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def mu_law(audio: np.ndarray, bits: int = 8) -> np.ndarray:
    """Quantise through mu-law companding with `bits` bits (what a G.711 phone line does)."""
    mu = 2.0**bits - 1
    x = np.clip(audio, -1, 1)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    y = np.round((y + 1) / 2 * mu) / mu * 2 - 1
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


def apply(audio: np.ndarray, recipe: Recipe, rng: np.random.Generator) -> np.ndarray:
    """The transformed clip (16 kHz mono float32)."""
    chain: list[tuple[str, str]] = []
    if recipe.semitones:
        factor = 2 ** (recipe.semitones / 12)
        chain += [("asetrate", str(round(SAMPLE_RATE * factor))), ("aresample", str(SAMPLE_RATE)),
                  ("atempo", f"{1 / factor:.6f}")]
    if recipe.stretch != 1.0:
        chain.append(("atempo", f"{recipe.stretch:.6f}"))
    if recipe.telephone:
        chain += [("highpass", "f=300"), ("lowpass", "f=3400"), ("aresample", "8000")]
    out = ffmpeg_filter(audio, chain) if chain else np.asarray(audio, np.float32).copy()
    if recipe.telephone:
        out = mu_law(out)
    if recipe.snr_db is not None:
        power = float(np.mean(out.astype(np.float64) ** 2)) or 1e-10
        out = out + rng.normal(0, np.sqrt(power / 10 ** (recipe.snr_db / 10)), len(out)).astype(np.float32)
    return np.clip(out * 10 ** (recipe.gain_db / 20), -1, 1).astype(np.float32)


def write_wav(path: Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """16-bit PCM WAV, written atomically."""
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with wave.open(str(tmp), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(sample_rate)
        fh.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    os.replace(tmp, path)


class Augmenter:
    """Makes `copies` augmented versions of each training clip, as files in `directory` (reused if present)."""

    def __init__(self, copies: int = 1, ops: Sequence[str] = OPS, seed: int = 0):
        self.copies = int(copies)
        self.ops = check_ops(ops)
        self.seed = seed

    def _key(self, digest: str, k: int) -> str:
        return hashlib.sha256(json.dumps([NAMESPACE, digest, k, self.seed, self.ops]).encode()).hexdigest()[:32]

    def recipe(self, digest: str, k: int) -> tuple[Recipe, np.random.Generator]:
        """Copy k's recipe for the clip with this content digest, and the generator for its noise."""
        rng = np.random.default_rng(int(self._key(digest, k), 16))
        return draw(rng, self.ops), rng

    def copies_of(self, path: Path, digest: str, directory: Path) -> list[tuple[Path, Recipe]]:
        """Paths of this clip's copies (written if missing) with their recipes."""
        directory.mkdir(parents=True, exist_ok=True)
        out, audio = [], None
        for k in range(1, self.copies + 1):
            recipe, rng = self.recipe(digest, k)
            target = directory / f"{self._key(digest, k)}.wav"
            if not target.is_file():
                audio = decode_audio(path) if audio is None else audio
                write_wav(target, apply(audio, recipe, rng))
            out.append((target, recipe))
        return out

