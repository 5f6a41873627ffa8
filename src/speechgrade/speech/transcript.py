"""What a speech model heard: `Transcript` and `Word`, and the checks that a transcript is not what was said.

The checks are Whisper's known failures: the verbatim prompt leaking into the output (on noise or music it writes
"let me think like, hmm" back) and repetition loops.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

# Whisper keeps disfluencies it has been shown in its prompt; without one it tidies speech up.
VERBATIM_PROMPT = "Umm, let me think like, hmm... Okay, here's what I'm, like, thinking. So, uh, I I went, um, to the- the store."

LOOP_RATIO = 2.4  # Whisper's own threshold: text this compressible is a repetition loop
LEAK_SHARE = 0.5  # a transcript whose word triples come mostly from the prompt is the prompt, not the speaker


@dataclass
class Word:
    """One recognised word with its time span (s) and probability."""

    word: str
    start: float
    end: float
    probability: float


@dataclass
class Transcript:
    """What the speech model heard: text, segments, words with times and probabilities, confidence figures."""

    text: str
    duration: float
    words: list[Word] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    language: str = "en"
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Transcript":
        """Inverse of `to_dict`."""
        return cls(**{**data, "words": [Word(**w) for w in data.get("words", [])]})


def _triples(text: str) -> list[tuple[str, ...]]:
    words = re.findall(r"[a-z']+", text.lower())
    return [tuple(words[i:i + 3]) for i in range(len(words) - 2)]


PROMPT_TRIPLES = frozenset(_triples(VERBATIM_PROMPT))


def transcript_warnings(text: str) -> list[str]:
    """Why a transcript is likely not what was said: the verbatim prompt leaking into it (Whisper on noise or
    music writes "let me think like, hmm" back), or a repetition loop (zlib compression ratio over 2.4, or one
    word triple making up half of it)."""
    out = []
    triples = _triples(text)
    if len(triples) >= 3 and sum(t in PROMPT_TRIPLES for t in triples) >= LEAK_SHARE * len(triples):
        out.append("the transcript repeats the transcription prompt (nothing the speaker said was recognised)")
    data = text.encode("utf-8")
    if len(data) >= 40 and len(data) / max(1, len(zlib.compress(data))) > LOOP_RATIO:
        out.append("the transcript is a repetition loop (Whisper hallucinating)")
    elif len(triples) >= 8:
        top = max(Counter(triples).values())
        if top >= 4 and 3 * top >= 0.5 * (len(triples) + 2):
            out.append("the transcript is a repetition loop (Whisper hallucinating)")
    return out
