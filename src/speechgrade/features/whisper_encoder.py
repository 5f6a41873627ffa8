"""`whisper-encoder`: mean (or mean+std) pooled Whisper encoder states, from the CTranslate2 model.

The log-mel spectrogram of the whole clip is cut into 30 s windows; each is padded to 30 s as
Whisper requires, and only the encoder frames that hold audio (2 mel frames each) are pooled, never
the padding. Frames of all windows are pooled as one sequence. Spec:
`whisper-encoder[:MODEL][?pooling=mean+std]`; `pooling=learned` keeps 16 segment means for a learned head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..options import ASR_DEFAULT, FeaturizerOptions, option
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

    @dataclass(frozen=True)
    class Options(FeaturizerOptions):
        """Options of the whisper-encoder featurizer."""

        model: str = option(ASR_DEFAULT, "Whisper model (name, hub id or CTranslate2 folder)", arg=True, asr=True)
        pooling: str = option("mean", "pooling over frames", choices=("mean", "mean+std", "learned"))
        segments: int = option(SEGMENTS, "segments per clip kept for pooling=learned", kind=int, min=1, max=256)
        compute_type: str = option("auto", "CTranslate2 compute type (auto, int8, float16, float32...)")
        device: str = option("auto", "cpu, cuda or auto", key=False)

    @classmethod
    def check_available(cls) -> None:
        require_faster_whisper()

    @classmethod
    def check_default(cls) -> None:
        resolve_whisper_model(cls.Options().model)

    def language_model(self) -> str | None:
        return self.options.model

    def fingerprints(self) -> dict:
        return {"model_fingerprint": model_fingerprint(self.options.model)}

    def _whisper(self):
        o = self.options
        return load_whisper(o.model, o.device, o.compute_type)

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
        if self.options.pooling == "learned":  # the encoder's output layer only (CTranslate2 gives no inner layers)
            return frame_columns([0], self.options.segments, d)
        return [f"mean{i}" for i in range(d)] + ([f"std{i}" for i in range(d)] if self.options.pooling == "mean+std"
                                                 else [])

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
        if self.options.pooling == "learned":
            return segment_means(states, self.options.segments).astype(np.float32).ravel()
        parts = [states.mean(0)] + ([states.std(0)] if self.options.pooling == "mean+std" else [])
        return np.concatenate(parts).astype(np.float32)
