"""How many disfluencies survive transcription with and without verbatim mode.

On the bundled sample (real non-native read speech): (1) fillers, repetitions and cut-off words
counted in the transcripts of the original clips; (2) a repetition made real by splicing: the first
word's audio is played twice (`we we call it ...`), and we count how often the transcript keeps it.

Usage: python bench/verbatim.py [--clips 30]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine  # noqa: E402

import speechgrade as sg  # noqa: E402
from speechgrade.features.language import FILLERS, normalise, repetitions  # noqa: E402
from speechgrade.transcribe import WhisperOptions, transcribe_audio  # noqa: E402


def counts(t) -> tuple[int, int, int, int]:
    """(words, fillers, repetitions, cut-off words) in a transcript."""
    toks = [normalise(w.word) for w in t.words if normalise(w.word)]
    return len(toks), sum(x in FILLERS for x in toks), repetitions(toks), sum(x.endswith("-") for x in toks)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=30)
    args = ap.parse_args()
    data = sg.datasets.sample("total")
    audios = [sg.decode_audio(p) for p in data.paths[: args.clips]]
    modes = {"verbatim": WhisperOptions(verbatim=True), "plain": WhisperOptions(verbatim=False)}
    print(f"machine: {machine()}; {len(audios)} clips of the bundled sample; Whisper base int8, beam 5")
    totals = {m: np.zeros(4, int) for m in modes}
    spliced_kept = {m: 0 for m in modes}
    n_spliced = 0
    for audio in audios:
        ref = transcribe_audio(audio, modes["verbatim"])
        for m, opts in modes.items():
            t = ref if m == "verbatim" else transcribe_audio(audio, opts)
            totals[m] += counts(t)
        if not ref.words or ref.words[0].end - ref.words[0].start < 0.1:
            continue
        w = ref.words[0]
        a, b = int(w.start * 16000), int(w.end * 16000)
        spliced = np.concatenate([audio[:b], audio[a:b], audio[b:]])  # the first word, twice
        n_spliced += 1
        for m, opts in modes.items():
            toks = [normalise(x.word) for x in transcribe_audio(spliced, opts).words if normalise(x.word)]
            spliced_kept[m] += int(repetitions(toks) > 0)
    print(f"{'mode':9s} {'words':>6s} {'fillers':>8s} {'repetitions':>12s} {'cut-offs':>9s} "
          f"{'spliced repetition kept':>24s}")
    for m in modes:
        words, fillers, reps, cuts = totals[m]
        print(f"{m:9s} {words:6d} {fillers:8d} {reps:12d} {cuts:9d} {spliced_kept[m]:>17d} of {n_spliced}")


if __name__ == "__main__":
    main()
