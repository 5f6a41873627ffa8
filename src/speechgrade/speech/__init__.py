"""Speech models behind one seam (see `base`): faster-whisper (transcripts, final encoder output), whisper-numpy
(every encoder layer of the same CTranslate2 weights) and transformers (Hugging Face encoders: WavLM, HuBERT,
wav2vec2, data2vec, Whisper); plug-ins register more with `register_speech_model`."""

from . import faster_whisper, numpy_whisper, transformers  # noqa: F401  (register the built-in backends)
from .base import (SPEECH_MODELS, SpeechModel, get_speech_model_class, layers_value, register_speech_model,
                   show_layers, speech_model)

__all__ = ["SPEECH_MODELS", "SpeechModel", "get_speech_model_class", "layers_value", "register_speech_model",
           "show_layers", "speech_model"]
