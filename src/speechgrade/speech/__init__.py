"""Speech models behind one seam (see `base`): faster-whisper (transcripts, language, final encoder output),
whisper-numpy (every encoder layer of the same CTranslate2 weights) and transformers (Hugging Face encoders:
WavLM, HuBERT, wav2vec2, data2vec, Whisper); plug-ins register more with `register_speech_model`. Loaded models
are held by a `ModelCache` (`MODELS` unless one is passed; `clear_models()` drops them); transcripts and their
checks are in `transcript`, cached transcription in `transcriber`."""

from . import faster_whisper, numpy_whisper, transformers  # noqa: F401  (register the built-in backends)
from .base import (SPEECH_MODELS, SpeechModel, get_speech_model_class, layers_value, register_speech_model,
                   show_layers, speech_model)
from .model_cache import MODELS, ModelCache, clear_models
from .transcriber import Transcriber, TranscriptOptions, TranscriptStore, asr_backend, asr_model
from .transcript import Transcript, Word, transcript_warnings

__all__ = ["MODELS", "SPEECH_MODELS", "ModelCache", "SpeechModel", "Transcriber", "Transcript", "TranscriptOptions",
           "TranscriptStore", "Word", "asr_backend", "asr_model", "clear_models", "get_speech_model_class",
           "layers_value", "register_speech_model", "show_layers", "speech_model", "transcript_warnings"]
