"""The cost of the default feature set against bare transcription, as ratios from one run.

Run: python bench/extract_vs_asr.py CSV AUDIO_DIR [--clips 20] [--features SPEC]
Times, on the same clips (the first N files of the CSV that decode):
  1. bare faster-whisper: a plain `WhisperModel` (defaults, int8 on CPU), beam 5, word timestamps, one clip
     after another, as a user would transcribe them;
  2. `speechgrade extract`'s path (`sg.extract`, default features + the abstain screen, empty cache).
Prints wall time, CPU use (process CPU time / wall time) and the ratio 2 / 1.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine  # noqa: E402


def timed(fn) -> tuple[float, float]:
    """(wall s, CPU %) of fn()."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    wall = time.perf_counter() - wall
    return wall, 100 * (time.process_time() - cpu) / wall


def main() -> None:
    import speechgrade as sg
    from faster_whisper import WhisperModel
    from speechgrade.transcribe import VERBATIM_PROMPT, resolve_whisper_model

    ap = argparse.ArgumentParser()
    ap.add_argument("csv"), ap.add_argument("audio")
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--features", default=None)
    args = ap.parse_args()
    names = [r["filename"] for r in csv.DictReader(open(args.csv))][: args.clips]
    paths = [next(Path(args.audio).glob(n + "*")) if not (Path(args.audio) / n).exists() else Path(args.audio) / n
             for n in names]
    audios = [sg.decode_audio(p) for p in paths]
    seconds = sum(len(a) for a in audios) / 16000
    model = WhisperModel(resolve_whisper_model("base"), device="cpu", compute_type="int8")

    def bare():
        for a in audios:
            segments, _ = model.transcribe(a, language="en", beam_size=5, word_timestamps=True,
                                           initial_prompt=VERBATIM_PROMPT, condition_on_previous_text=False)
            list(segments)

    model.transcribe(audios[0][:16000 * 3])
    asr = timed(bare)
    model = None  # its memory back before the default set loads its own
    features = args.features or sg.default_features()
    with tempfile.TemporaryDirectory() as cache:
        sg.extract([paths[0]], "acoustic", cache=cache)  # imports, not models
        full = timed(lambda: sg.Scorer(features, cache=cache).extractor().run(paths))
    print(json.dumps({"machine": machine(), "clips": len(audios), "audio_s": round(seconds, 1), "features": features,
                      "bare_transcription_s": round(asr[0], 1), "bare_cpu_pct": round(asr[1]),
                      "extract_s": round(full[0], 1), "extract_cpu_pct": round(full[1]),
                      "ratio": round(full[0] / asr[0], 2)}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
