"""The `faster-whisper` backend (CTranslate2): transcripts, language detection, the encoder's final output.

`load_whisper` loads a model once per `ModelCache` (int8 on CPU, float16 on GPU). Its `encode` remembers its
outputs by their input window: transcription's first window and whisper-encoder's first window are the same
input, so one encoder call serves both. Encoder states come from the 30 s log-mel windows of
`whisper_layers.log_mel_windows`.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from ..machine import cpu_count
from ..options import ASR_DEFAULT, FeaturizerOptions, option
from .base import SpeechModel, register_speech_model
from .model_cache import MODELS, ModelCache
from .transcript import VERBATIM_PROMPT, Transcript, Word
from .whisper_layers import encoder_layers, encoder_shape, log_mel_windows
from .whisper_weights import model_fingerprint, resolve_device, resolve_whisper_model

ENCODER_MEMO_BYTES = 128 << 20  # encoder outputs remembered by their input window (see SharedEncoderWhisper)


@functools.cache  # a class made once (faster_whisper is imported only when a model loads), not a model memo
def _shared_encoder_class():
    """faster_whisper.WhisperModel whose `encode` remembers its last outputs by their input window."""
    from faster_whisper import WhisperModel

    class SharedEncoderWhisper(WhisperModel):
        """A WhisperModel that encodes a given log-mel window once: transcription's first window and
        whisper-encoder's first window are the same input, so one encoder call serves both. Outputs are kept
        by a digest of their input, newest first, within ENCODER_MEMO_BYTES; `forget()` drops them."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._memo: OrderedDict[bytes, tuple[Any, int]] = OrderedDict()  # input digest -> (output, bytes)
            self._memo_bytes = 0
            self._memo_lock = threading.Lock()
            self.encoder_calls = 0  # windows actually encoded (tests count them)

        def forget(self) -> None:
            """Drop the remembered encoder outputs."""
            with self._memo_lock:
                self._memo.clear()
                self._memo_bytes = 0

        def encode(self, features: np.ndarray):
            key = hashlib.blake2b(np.ascontiguousarray(features, np.float32).tobytes(), digest_size=16).digest()
            with self._memo_lock:
                if key in self._memo:
                    self._memo.move_to_end(key)
                    return self._memo[key][0]
            out = super().encode(features)
            size = int(np.prod(out.shape)) * 4
            with self._memo_lock:
                self.encoder_calls += 1
                if key not in self._memo:  # another thread may have encoded the same window meanwhile
                    self._memo[key] = (out, size)
                    self._memo_bytes += size
                while self._memo_bytes > ENCODER_MEMO_BYTES and len(self._memo) > 1:
                    _, (_, dropped) = self._memo.popitem(last=False)
                    self._memo_bytes -= dropped
            return out

    return SharedEncoderWhisper


def load_whisper(model: str, device: str = "auto", compute_type: str = "auto", models: ModelCache | None = None):
    """A faster_whisper.WhisperModel held by `models` (None: the process-wide cache), loaded once there (int8 on
    CPU, float16 on GPU by default). Two calls can run at once (two CTranslate2 workers, each with half the cores),
    so extraction transcribes two clips together. Measured on 2 cores, 6 real answers: six, two at a time, 18.7 s
    against 37.6 s one by one; one clip alone 5.9 s (6.0 s with one worker and both cores: beam search barely uses
    the second). Encoder outputs are shared between calls on the same window."""
    device = resolve_device(device)
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"

    def load():
        workers = 2 if device == "cuda" or cpu_count() >= 2 else 1
        return _shared_encoder_class()(resolve_whisper_model(model), device=device, compute_type=compute_type,
                                       cpu_threads=max(1, cpu_count() // workers), num_workers=workers)

    return (models if models is not None else MODELS).get(("faster-whisper", model, device, compute_type), load)


# the transcription options WhisperOptions and TranscriptOptions share, declared once
def _beam_size():
    return option(5, "beam size of the transcription", kind=int, min=1, max=20)


def _language():
    return option("en", "language of the answers (auto: detect)", nullable=True, null="auto")


def _verbatim():
    return option(True, "prompt Whisper to keep fillers and false starts", kind=bool)


@dataclass(frozen=True)
class WhisperOptions(FeaturizerOptions):
    """How to transcribe: model, beam size, language, verbatim prompting, device and compute type."""

    model: str = option(ASR_DEFAULT, "Whisper model (name, hub id or CTranslate2 folder)", arg=True, asr=True)
    beam_size: int = _beam_size()
    language: str | None = _language()
    verbatim: bool = _verbatim()
    device: str = option("auto", "cpu, cuda or auto", key=False)
    compute_type: str = option("auto", "CTranslate2 compute type (auto, int8, float16, float32...)")

    def identity(self) -> dict[str, Any]:
        """What changes the transcript (device left out): the transcript cache's key."""
        return {"model": self.model, "model_fingerprint": model_fingerprint(self.model), "beam_size": self.beam_size,
                "language": self.language, "verbatim": self.verbatim, "compute_type": self.compute_type}


def transcribe_audio(audio: np.ndarray, options: WhisperOptions = WhisperOptions(),
                     models: ModelCache | None = None) -> Transcript:
    """Transcribe a 16 kHz mono clip (no cache); the `faster-whisper` speech-model backend's `transcribe`."""
    model = load_whisper(options.model, options.device, options.compute_type, models)
    segments, info = model.transcribe(
        audio, language=options.language, beam_size=options.beam_size, word_timestamps=True,
        initial_prompt=VERBATIM_PROMPT if options.verbatim else None,
        condition_on_previous_text=not options.verbatim, vad_filter=False)
    words, segs = [], []
    for s in segments:
        segs.append({"start": s.start, "end": s.end, "text": s.text.strip(), "avg_logprob": s.avg_logprob,
                     "no_speech_prob": s.no_speech_prob, "compression_ratio": s.compression_ratio})
        words += [Word(w.word.strip(), float(w.start), float(w.end), float(w.probability)) for w in (s.words or [])]
    span = np.array([s["end"] - s["start"] for s in segs]) if segs else np.zeros(0)
    weight = span if span.sum() > 0 else np.ones(len(segs))
    return Transcript(
        text=" ".join(s["text"] for s in segs).strip(), duration=len(audio) / 16000, words=words, segments=segs,
        language=info.language,
        avg_logprob=float(np.average([s["avg_logprob"] for s in segs], weights=weight)) if segs else 0.0,
        no_speech_prob=float(np.average([s["no_speech_prob"] for s in segs], weights=weight)) if segs else 1.0)


@register_speech_model
class FasterWhisper(SpeechModel):
    """Whisper on CTranslate2 (int8 on CPU): transcribes; its encoder states are the final output only."""

    name = "faster-whisper"
    extra = "whisper"
    Options = WhisperOptions

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, **self.options.identity()}

    def transcript_identity(self) -> dict[str, Any]:
        return self.options.identity()  # the key transcripts had before the backend registry: old caches hit

    def fingerprint(self) -> str:
        return model_fingerprint(self.options.model)

    @property
    def model(self):
        """The loaded faster_whisper.WhisperModel."""
        o = self.options
        return load_whisper(o.model, o.device, o.compute_type, self.models)

    @functools.cached_property
    def folder(self) -> str:
        """The resolved CTranslate2 folder (once per backend instance)."""
        return resolve_whisper_model(self.options.model)

    @property
    def n_states(self) -> int:
        return encoder_layers(self.folder) + 2

    @property
    def dim(self) -> int:
        return encoder_shape(self.folder)[1]

    def encoder_states(self, audio: np.ndarray, layers: Sequence[int]) -> np.ndarray:
        last = self.n_states - 1
        if any(i not in (-1, last) for i in layers):
            raise ConfigError("the faster-whisper backend gives only the encoder's final output (layers=last); "
                              "use backend=whisper-numpy for inner layers")
        w = self.model
        batch, valid = log_mel_windows(w.feature_extractor, audio)
        out = np.concatenate([np.array(w.encode(b[None]))[0][:n] for b, n in zip(batch, valid)])
        return np.repeat(out[None].astype(np.float32), len(layers), axis=0)

    def transcribe(self, audio: np.ndarray) -> Transcript:
        return transcribe_audio(audio, self.options, self.models)

    def detect_language(self, audio: np.ndarray, language: str | None = None) -> tuple[str, float]:
        """Whisper's language identification on the first 30 s; NaN probability for a model that cannot tell
        languages (an English-only model, or one whose config lists no language tokens)."""
        whisper = self.model
        if not whisper.model.is_multilingual:
            return language or "en", float("nan")
        try:
            best, probability, probs = whisper.detect_language(audio[: 30 * 16000])
        except IndexError:  # no language tokens in the model's config: faster-whisper finds no candidates
            return language or "", float("nan")
        if language is None:
            return best, float(probability)
        return language, float(dict(probs).get(language, 0.0))
