"""Compatibility names: transcription lives in `speechgrade.speech` (this module re-exports it, no logic).

`speech.transcript` (Transcript, Word, the hallucination checks), `speech.whisper_weights` (where Whisper's
weights come from), `speech.faster_whisper` (loading, WhisperOptions, the backend), `speech.transcriber`
(Transcriber, TranscriptOptions, the transcript store).
"""

from .speech.faster_whisper import (ENCODER_MEMO_BYTES, WhisperOptions, load_whisper,  # noqa: F401
                                    transcribe_audio)
from .speech.transcriber import Transcriber, TranscriptOptions, TranscriptStore, asr_model  # noqa: F401
from .speech.transcript import (LEAK_SHARE, LOOP_RATIO, PROMPT_TRIPLES, VERBATIM_PROMPT, Transcript,  # noqa: F401
                                Word, transcript_warnings)
from .speech.whisper_weights import (PACKAGED, PACKAGED_FILES, assemble_packaged_base, model_fingerprint,  # noqa: F401
                                     packaged_parts, require_faster_whisper, resolve_device, resolve_whisper_model)

__all__ = ["ENCODER_MEMO_BYTES", "LEAK_SHARE", "LOOP_RATIO", "PACKAGED", "PACKAGED_FILES", "PROMPT_TRIPLES",
           "VERBATIM_PROMPT", "Transcriber", "Transcript", "TranscriptOptions", "TranscriptStore", "WhisperOptions",
           "Word", "asr_model", "assemble_packaged_base", "load_whisper", "model_fingerprint", "packaged_parts",
           "require_faster_whisper", "resolve_device", "resolve_whisper_model", "transcribe_audio",
           "transcript_warnings"]
