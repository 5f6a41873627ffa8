"""`whisper-encoder`: mean (or mean+std) pooled Whisper encoder states, from the CTranslate2 model.

The log-mel spectrogram of the whole clip is cut into 30 s windows; each is padded to 30 s as
Whisper requires, and only the encoder frames that hold audio (2 mel frames each) are pooled, never
the padding. Frames of all windows are pooled as one sequence. Spec:
`whisper-encoder[:MODEL][?pooling=mean+std]`; `pooling=learned` keeps 16 segment means for a learned head.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..pooling import SEGMENTS, frame_columns, segment_means
from ..transcribe import load_whisper, model_fingerprint, require_faster_whisper, resolve_whisper_model
from .base import Featurizer, register_featurizer


@register_featurizer
class WhisperEncoderFeaturizer(Featurizer):
    """Pooled encoder states of a Whisper model (CTranslate2)."""

    name = "whisper-encoder"
    title = "Whisper's encoder states"
    version = "1"
    extra = "whisper"
    libraries = ("faster-whisper", "ctranslate2")
    default_rank = 2

    def __init__(self, model: str = "base", pooling: str = "mean", device: str = "auto",
                 compute_type: str = "auto", segments: int = SEGMENTS):
        if pooling not in ("mean", "mean+std", "learned"):
            raise ConfigError(f"pooling must be 'mean', 'mean+std' or 'learned' (got {pooling!r})")
        self.model, self.pooling, self.device, self.compute_type = model, pooling, device, compute_type
        self.segments = int(segments)

    @classmethod
    def check_available(cls) -> None:
        require_faster_whisper()

    @classmethod
    def check_default(cls) -> None:
        resolve_whisper_model(cls().model)

    def language_model(self) -> str | None:
        return self.model

    @classmethod
    def from_spec(cls, arg, options):
        unknown = set(options) - {"pooling", "device", "compute_type", "segments"}
        if unknown:
            raise ConfigError(f"unknown whisper-encoder option(s) {sorted(unknown)}")
        options = {**options, **({"segments": int(options["segments"])} if "segments" in options else {})}
        return cls(arg or "base", **options)

    @classmethod
    def from_config(cls, config):
        return cls(**{k: v for k, v in config.items() if k != "model_fingerprint"})

    def config(self) -> dict:
        return {"model": self.model, "model_fingerprint": model_fingerprint(self.model), "pooling": self.pooling,
                "compute_type": self.compute_type, **({"segments": self.segments} if self.pooling == "learned" else {})}

    @property
    def spec(self) -> str:
        extra = f"&segments={self.segments}" if self.pooling == "learned" else ""
        return f"whisper-encoder:{self.model}?pooling={self.pooling}{extra}"

    def _whisper(self):
        return load_whisper(self.model, self.device, self.compute_type)

    def _dim(self) -> int:
        import json
        from pathlib import Path

        w = self._whisper()
        path = Path(w.model.model_path if hasattr(w.model, "model_path") else "") / "config.json"
        if path.is_file():
            cfg = json.loads(path.read_text())
            if "d_model" in cfg:
                return int(cfg["d_model"])
        return int(self.frames(np.zeros(16000, np.float32)).shape[1])

    def columns(self) -> list[str]:
        d = self._dim()
        if self.pooling == "learned":  # the encoder's output layer only (CTranslate2 gives no inner layers)
            return frame_columns([0], self.segments, d)
        return [f"mean{i}" for i in range(d)] + ([f"std{i}" for i in range(d)] if self.pooling == "mean+std" else [])

    def frames(self, audio: np.ndarray) -> np.ndarray:
        """Encoder states (T, D) of the frames that hold audio."""
        from faster_whisper.audio import pad_or_trim

        w = self._whisper()
        mel = w.feature_extractor(audio)  # (n_mels, n_frames) for the whole clip
        window = w.feature_extractor.nb_max_frames
        n_frames = mel.shape[-1] - 1  # the extractor pads 160 samples: one frame beyond the audio
        chunks = [mel[:, i:i + window] for i in range(0, max(n_frames, 1), window)]
        batch = np.stack([pad_or_trim(c[:, :window]) for c in chunks]).astype(np.float32)
        out = np.array(w.encode(batch))
        states = [out[k, : max(1, int(np.ceil(min(window, n_frames - k * window) / 2)))] for k in range(len(chunks))]
        return np.concatenate(states).astype(np.float32)

    def featurize(self, audio: np.ndarray) -> np.ndarray:
        states = self.frames(audio)
        if self.pooling == "learned":
            return segment_means(states, self.segments).astype(np.float32).ravel()
        parts = [states.mean(0)] + ([states.std(0)] if self.pooling == "mean+std" else [])
        return np.concatenate(parts).astype(np.float32)
