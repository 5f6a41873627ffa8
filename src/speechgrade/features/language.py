"""Fluency, disfluency and language features of a timed transcript (pure functions, no model)."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Sequence

import numpy as np

from ..speech.transcript import Transcript, Word

SHORT_PAUSE_S = 0.25
LONG_PAUSE_S = 1.0
FILLERS = {"uh", "um", "er", "erm", "ah", "eh", "hmm", "hm", "mm", "mhm", "uhm", "umm", "uhh", "ahh", "huh"}
DISCOURSE_MARKERS = ("you know", "i mean", "kind of", "sort of", "like")
REPAIR_MARKERS = ("i mean", "sorry", "no wait", "i mean,", "rather", "actually")
FUNCTION_WORDS = set("""
a an the this that these those my your his her its our their some any no every each either neither all both
i you he she it we they me him us them myself yourself himself herself itself ourselves themselves mine yours
hers ours theirs who whom whose which what where when why how there here
in on at by for with about against between into through during before after above below to from up down of off
over under again further than as until while since upon within without along across behind beyond toward towards
and but or nor so yet because although though if unless whether then also just not
am is are was were be been being have has had having do does did doing will would shall should can could may
might must ought
""".split())
THIRD_SINGULAR = {"he", "she", "it"}
PLURAL_SUBJECTS = {"you", "we", "they"}

DESCRIPTIONS: dict[str, str] = {
    "word_count": "number of recognised words",
    "speech_rate": "words per second over the whole clip",
    "articulation_rate": "words per second of speaking time (pauses excluded)",
    "phonation_time_ratio": "share of the clip covered by words",
    "pause_count": "silent pauses between words longer than 0.25 s",
    "long_pause_count": "silent pauses longer than 1 s",
    "pauses_per_min": "pauses (> 0.25 s) per minute of clip",
    "mean_pause_s": "mean length of pauses > 0.25 s",
    "mean_length_of_run": "mean number of words between pauses > 0.25 s",
    "filler_count": "fillers (uh, um, er, ah, hmm...)",
    "filler_rate": "fillers per 100 words",
    "discourse_marker_rate": "'like', 'you know', 'I mean', 'kind of', 'sort of' per 100 words",
    "repetition_count": "immediate repetitions of a word or two-word phrase",
    "repetition_rate": "repetitions per 100 words",
    "restart_count": "self-corrections: cut-off words (ending in -) and repair markers",
    "unfinished_word_count": "words cut off mid-way (written with a trailing hyphen)",
    "mean_sentence_length": "words per sentence (split at . ? !)",
    "mtld": "lexical diversity: measure of textual lexical diversity (MTLD, factor 0.72)",
    "mattr": "moving-average type/token ratio over 25-word windows",
    "rare_word_share": "share of words outside the 3000 most common",
    "function_word_share": "share of closed-class words (articles, pronouns, prepositions, auxiliaries)",
    "agreement_error_rate": "subject-verb agreement slips (he are, they is, ...) per 100 words",
    "mean_word_probability": "mean ASR word probability (how expected the word sequence is)",
    "low_confidence_share": "share of words with probability < 0.5",
    "avg_logprob": "ASR average token log-probability (duration-weighted over segments)",
    "no_speech_prob": "ASR no-speech probability (duration-weighted)",
}
COLUMNS = list(DESCRIPTIONS)


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """The common-word list shipped in speechgrade/data/common_words.txt."""
    text = (resources.files("speechgrade") / "data" / "common_words.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line and not line.startswith("#"))


def normalise(word: str) -> str:
    """Lower-case, strip surrounding punctuation (keeps inner apostrophes and a trailing hyphen)."""
    w = word.strip().lower()
    cut = w.rstrip(".,!?;:\"')").endswith("-")
    w = re.sub(r"^[^\w']+|[^\w']+$", "", w)
    return w + "-" if cut and w else w


def pauses(words: Sequence[Word], minimum: float = SHORT_PAUSE_S) -> list[float]:
    """Silent gaps between consecutive words that last at least `minimum` seconds."""
    return [b.start - a.end for a, b in zip(words, words[1:]) if b.start - a.end >= minimum]


def mean_length_of_run(words: Sequence[Word], minimum: float = SHORT_PAUSE_S) -> float:
    """Mean number of words between pauses of at least `minimum` seconds."""
    if not words:
        return 0.0
    runs, current = [], 1
    for a, b in zip(words, words[1:]):
        if b.start - a.end >= minimum:
            runs.append(current)
            current = 1
        else:
            current += 1
    runs.append(current)
    return float(np.mean(runs))


def repetitions(tokens: Sequence[str]) -> int:
    """Immediate repetitions: `the the`, `I went I went` (fillers ignored)."""
    toks = [t for t in tokens if t not in FILLERS]
    count, i = 0, 1
    while i < len(toks):
        if i >= 3 and toks[i - 3:i - 1] == toks[i - 1:i + 1]:
            count += 1
            i += 2
        elif toks[i] == toks[i - 1]:
            count += 1
            i += 1
        else:
            i += 1
    return count


def count_phrases(tokens: Sequence[str], phrases: Sequence[str]) -> int:
    """Occurrences of one- or two-word phrases in a token sequence."""
    text = " " + " ".join(tokens) + " "
    return sum(text.count(f" {p} ") for p in phrases)


def _mtld_pass(tokens: Sequence[str], threshold: float = 0.72) -> float:
    factors, types, count = 0.0, set(), 0
    for t in tokens:
        types.add(t)
        count += 1
        if len(types) / count <= threshold:
            factors += 1
            types, count = set(), 0
    if count:
        ttr = len(types) / count
        factors += (1 - ttr) / (1 - threshold) if ttr < 1 else 0.0
    return len(tokens) / factors if factors else float(len(tokens))


def mtld(tokens: Sequence[str]) -> float:
    """Measure of textual lexical diversity (McCarthy & Jarvis 2010), mean of both directions."""
    if not tokens:
        return 0.0
    return (_mtld_pass(tokens) + _mtld_pass(list(reversed(tokens)))) / 2


def mattr(tokens: Sequence[str], window: int = 25) -> float:
    """Moving-average type/token ratio."""
    if not tokens:
        return 0.0
    if len(tokens) <= window:
        return len(set(tokens)) / len(tokens)
    return float(np.mean([len(set(tokens[i:i + window])) / window for i in range(len(tokens) - window + 1)]))


def agreement_errors(tokens: Sequence[str]) -> int:
    """Cheap subject-verb agreement slips: `he are`, `she have`, `they is`, `we was`, `I is`."""
    bad = 0
    for a, b in zip(tokens, tokens[1:]):
        if a in THIRD_SINGULAR and b in {"are", "were", "have", "do", "don't"}:
            bad += 1
        elif a in PLURAL_SUBJECTS and b in {"is", "was", "has", "does", "doesn't"}:
            bad += 1
        elif a == "i" and b in {"is", "are", "has", "does", "doesn't"}:
            bad += 1
    return bad


def transcript_features(t: Transcript) -> dict[str, float]:
    """All transcript features of one clip (see DESCRIPTIONS)."""
    words = [w for w in t.words if normalise(w.word)]
    tokens = [normalise(w.word) for w in words]
    n = len(tokens)
    duration = max(t.duration, 1e-9)
    spoken = float(sum(max(w.end - w.start, 0.0) for w in words))
    gaps = pauses(words)
    per100 = 100.0 / n if n else 0.0
    fillers = sum(tok in FILLERS for tok in tokens)
    unfinished = sum(tok.endswith("-") for tok in tokens)
    content = [tok.rstrip("-") for tok in tokens if tok not in FILLERS]
    sentences = [s for s in re.split(r"[.?!]+", t.text) if s.strip()]
    probs = np.array([w.probability for w in words]) if words else np.zeros(0)
    return {
        "word_count": float(n),
        "speech_rate": n / duration,
        "articulation_rate": n / spoken if spoken > 0 else 0.0,
        "phonation_time_ratio": min(spoken / duration, 1.0),
        "pause_count": float(len(gaps)),
        "long_pause_count": float(sum(g >= LONG_PAUSE_S for g in gaps)),
        "pauses_per_min": len(gaps) / (duration / 60.0),
        "mean_pause_s": float(np.mean(gaps)) if gaps else 0.0,
        "mean_length_of_run": mean_length_of_run(words),
        "filler_count": float(fillers),
        "filler_rate": fillers * per100,
        "discourse_marker_rate": count_phrases(tokens, DISCOURSE_MARKERS) * per100,
        "repetition_count": float(repetitions(tokens)),
        "repetition_rate": repetitions(tokens) * per100,
        "restart_count": float(unfinished + count_phrases(tokens, REPAIR_MARKERS)),
        "unfinished_word_count": float(unfinished),
        "mean_sentence_length": n / max(len(sentences), 1),
        "mtld": mtld(content),
        "mattr": mattr(content),
        "rare_word_share": float(np.mean([c not in common_words() for c in content])) if content else 0.0,
        "function_word_share": float(np.mean([c in FUNCTION_WORDS for c in content])) if content else 0.0,
        "agreement_error_rate": agreement_errors(content) * per100,
        "mean_word_probability": float(probs.mean()) if n else 0.0,
        "low_confidence_share": float(np.mean(probs < 0.5)) if n else 0.0,
        "avg_logprob": float(t.avg_logprob),
        "no_speech_prob": float(t.no_speech_prob),
    }
