"""The `speechgrade` command: a thin layer over the Python API."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.console import Console
from rich.markup import escape as esc
from rich.table import Table

from .config import CONFIG_FIELDS, RUNTIME_FIELDS
from .errors import ConfigError, SpeechgradeError
from .options import ASR_DEFAULT
from .output import atomic_file, check_outputs, check_report_folder, dataset_inputs, report_folder, write_table, write_text

# highlight=False: Rich's highlighter would colour numbers and quotes inside user text, in time that grows with the
# square of a line's length (a 100 KB filename took 87 s)
console = Console(stderr=True, soft_wrap=True, highlight=False)  # errors stay on one line
# a log or a pipe is not 80 columns wide: tables there get the width they need (up to 240) instead of "Pear…"
out = Console(highlight=False) if sys.stdout.isatty() or os.environ.get("COLUMNS") else \
    Console(width=240, highlight=False)
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode="markdown",
                  help="Score spoken English from audio: extract features, evaluate honestly, train, predict, serve.\n\n"
                       "Start with `speechgrade demo`, then `speechgrade evaluate scores.csv --audio-dir wav/`.\n\n"
                       "Add `--debug` before or after any command to see full tracebacks.")



def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"speechgrade {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Score spoken English from audio: extract features, evaluate honestly, train, predict, serve."""


def _setting(name: str, *flags: str, **override: Any) -> Any:
    """A typer option for the ScorerConfig (or Runtime) field `name`: its default, help text and range are the
    field's own (an open range, e.g. coverage's, is checked by the configuration instead)."""
    f = CONFIG_FIELDS.get(name) or RUNTIME_FIELDS[name]
    meta = f.metadata
    bounds = {} if meta.get("open") else {k: meta[m] for k, m in (("min", "low"), ("max", "high"))
                                           if meta.get(m) is not None}
    return typer.Option(override.pop("default", f.default), *flags, **{"help": meta["help"], **bounds, **override})


AudioDir = typer.Option(None, "--audio-dir", "-a", help="Folder of the audio files (default: the CSV's folder).")
Label = typer.Option("label", "--label-column", "-l",
                     help="CSV column holding the score to learn; several (`grammar,fluency`) or `all` (every "
                          "numeric column that is not metadata) learn one model per label from one extraction.")
LabelRange = _setting("label_range", "--label-range")
Overall = typer.Option(None, "--overall", help="With several labels, add a composite: `mean`, or weights such as "
                                               "`grammar=0.4,fluency=0.6` (evaluated against an `overall` column).")
Features = typer.Option(None, "--features", "-f",
                        help="Comma-separated featurizers, e.g. `acoustic,ssl:microsoft/wavlm-large` or "
                             "`ssl:DIR?layers=6-12&pooling=mean+std`. Default: the best set installed.")
Asr = typer.Option(None, "--asr", help="The Whisper model of every featurizer that uses one (transcripts and "
                                         "encoder): a name (`base`, `small`), a hub id or a CTranslate2 folder. "
                                         "One model, one pass per clip. Default: each feature spec's own (base).")
PresetOpt = typer.Option(None, "--preset",
                         help="A named recipe instead of --features: `large` (the public best recipe: large-v3 "
                              "transcripts, Whisper-large-v3 layers 29-32 and WavLM-large 18-23, mean+std, a ridge per "
                              "view, non-negative stack; needs the weights and a GPU in practice). --asr sets its "
                              "Whisper model.")
Regressor = typer.Option("ridgecv", "--regressor", "-r",
                         help="A registered regressor (`speechgrade list`). Default `ridgecv`: ridge with alpha chosen "
                              "in closed form (leave-one-out), the most reliable choice on a few hundred real answers; "
                              "`lightgbm` is the original design's tuned LightGBM. Several (`ridge,svr`): each is tuned and "
                              "the lower tuning CV RMSE wins (per member with --ensemble), inside the folds.")
Trials = _setting("trials", "--trials")
Timeout = _setting("timeout", "--timeout")
Seed = _setting("seed", "--seed")
Pca = _setting("pca", "--pca")
Study = _setting("study", "--study")
Cache = typer.Option(None, "--cache", envvar="SPEECHGRADE_CACHE",
                     help="Feature cache folder (default ~/.cache/speechgrade).")
NoGroupDup = typer.Option(False, "--no-group-duplicates", help="Do not keep duplicate recordings in one fold.")
Folds = _setting("folds", "--folds")
Calibrate = _setting("calibrate", "--calibrate")
Snap = _setting("snap", "--snap")
Rescale = _setting("rescale", "--rescale/--no-rescale")
Augment = _setting("augment", "--augment")
AugmentOps = _setting("augment_ops", "--augment-ops", default=",".join(CONFIG_FIELDS["augment_ops"].default))
Ensemble = typer.Option("auto", "--ensemble",
                        help="`stack`: one regressor per feature family blended by non-negative ridge on their "
                             "out-of-fold predictions; `mean`: their average (both need two or more families); "
                             "`none`: all features in one regressor; `auto` (default): `stack` with two or more "
                             "families, else `none`.")
Coverage = _setting("coverage", "--coverage")
Engine = typer.Option("local", "--engine", help="`local` (this process) or `ray` (a Ray cluster; speechgrade[ray]).")
Address = typer.Option(None, "--address", help="Ray cluster: `auto`, `ray://host:port`; default: start a local one.")
Gpus = typer.Option(0.0, "--num-gpus-per-worker", help="GPUs per Ray worker (fractions share a GPU).")


def _engine_options(engine: str, address: Optional[str], gpus: float) -> dict:
    return {"address": address, "num_gpus_per_worker": gpus} if engine == "ray" else {}


def _features(text: Optional[str], asr: Optional[str] = None) -> str:
    from .presets import feature_spec

    return feature_spec(text, asr, announce=_announce)


def _announce(message: str) -> None:
    console.print(f"[yellow]{esc(message)}")


def _print_extract_report(report, n_rows: int, dataset=None) -> None:
    from .render import print_extract_report

    print_extract_report(console, report, n_rows, dataset.problems if dataset is not None else ())


def _note_neutralised(changed: int) -> None:
    if changed:
        console.print(f"[yellow]{changed} CSV cells began with = + - @ or a control character[/] and were written "
                      "with a leading ' so a spreadsheet shows them as text (SPEECHGRADE_RAW_CSV=1 writes them raw)")


def _print_problems(dataset) -> None:
    from .render import print_problems

    print_problems(console, dataset)


@app.command()
def extract(data: Path = typer.Argument(..., help="CSV with a `filename` column."),
            audio_dir: Optional[Path] = AudioDir,
            features: Optional[str] = Features, asr: Optional[str] = Asr,
            label_column: Optional[str] = typer.Option(None, "--label-column", "-l",
                                                       help="Label column to check (optional here)."),
            cache: Optional[Path] = Cache,
            output: Path = typer.Option(Path("features.parquet"), "--out", "-o", help="Parquet (or .csv) output."),
            batch_size: int = typer.Option(8, "--batch-size", min=1, max=4096, help="Clips per featurizer batch."),
            min_samples: int = typer.Option(1024, "--min-samples", min=1, help="Shorter clips (at 16 kHz) are skipped."),
            max_audio_s: float = typer.Option(3600.0, "--max-audio-s", min=1.0,
                                              help="Longer files are refused with a reason (memory grows with the "
                                                   "decoded clip: about 4 MB a minute, twice at the peak)."),
            engine: str = Engine, address: Optional[str] = Address, num_gpus_per_worker: float = Gpus):
    """Extract features for every clip of DATA.csv into a table (cached; re-runs compute nothing).

    Examples: `speechgrade extract scores.csv --audio-dir wav/ --features acoustic --out feats.parquet`;
    on a Ray cluster with a shared cache: `speechgrade extract big.csv -a /mnt/audio --engine ray
    --address auto --num-gpus-per-worker 0.5 --batch-size 16 --cache /mnt/shared/cache`
    """
    from .dataset import load_dataset
    from .extraction import make_extractor

    dataset = load_dataset(data, audio_dir, label_column, require_label=label_column is not None)
    check_outputs({"--out": output}, *dataset_inputs(dataset, data, audio_dir))
    _print_problems(dataset)
    extractor = make_extractor(_features(features, asr), cache, batch_size, min_samples, progress=True, engine=engine,
                               max_audio_s=max_audio_s,
                               **_engine_options(engine, address, num_gpus_per_worker))
    table, report = extractor.run(dataset)
    _print_extract_report(report, len(table), dataset)
    if not len(table):
        console.print("[red]error:[/] no file could be processed; nothing written")
        raise typer.Exit(1)
    _note_neutralised(write_table(table, output, index=True))
    console.print(f"wrote {len(table)} rows x {table.shape[1]} features to {esc(str(output))}")


def _ops(text: str) -> tuple:
    from .augment import check_ops

    return check_ops([o.strip() for o in text.split(",") if o.strip()])


def _label_range(text: Optional[str]):
    from .config import check_label_range

    return check_label_range(None if text is None else text.split(","))


def _snap(text: Optional[str]):
    if text is None or text == "auto":
        return text
    try:
        step = float(text)
    except ValueError:
        raise ConfigError(f"--snap takes a step such as 0.5, or auto (got {text!r})") from None
    if not step > 0 or step == float("inf"):  # NaN fails `> 0`
        raise ConfigError(f"--snap needs a positive, finite step (got {text})")
    return step


def _scorer(features: Optional[str], no_group_duplicates: bool, overall=None, asr: Optional[str] = None,
            preset_name: Optional[str] = None, ensemble: Optional[str] = "auto", cache=None, **options):
    """A Scorer with the command's options (one model per label of the dataset)."""
    from .config import Runtime
    from .presets import scorer_options
    from .scorer import Scorer

    return Scorer(**scorer_options(features, preset_name, asr, ensemble, announce=_announce),
                  group_duplicates=not no_group_duplicates, overall=overall, runtime=Runtime(cache=cache, progress=True),
                  **options)


@app.command()
def evaluate(data: Path = typer.Argument(..., help="CSV with `filename` and label columns (and `group`)."),
             audio_dir: Optional[Path] = AudioDir, label_column: str = Label, features: Optional[str] = Features,
             preset_name: Optional[str] = PresetOpt, asr: Optional[str] = Asr, regressor: str = Regressor,
             folds: int = Folds,
             repeats: int = typer.Option(3, "--repeats", min=1, help="Repeat the K-fold split this many times."),
             trials: int = Trials, timeout: Optional[float] = Timeout, seed: int = Seed, pca: Optional[int] = Pca,
             inner_folds: int = _setting("inner_folds", "--inner-folds"),
             study: Optional[str] = Study, cache: Optional[Path] = Cache, no_group_duplicates: bool = NoGroupDup,
             coverage: float = Coverage, ensemble: Optional[str] = Ensemble, calibrate: bool = Calibrate,
             snap: Optional[str] = Snap, rescale: bool = Rescale, augment: int = Augment,
             augment_ops: str = AugmentOps,
             overall: Optional[str] = Overall, label_range: Optional[str] = LabelRange,
             json_path: Optional[Path] = typer.Option(None, "--json", help="Write the metrics as one flat JSON object."),
             report: Optional[Path] = typer.Option(None, "--report", help="Write plots and an HTML page here."),
             predictions: Optional[Path] = typer.Option(None, "--predictions",
                                                        help="Write out-of-fold predictions (CSV)."),
             audit_column: Optional[str] = typer.Option(None, "--audit-column",
                                                        help="Audit the scores per group of these CSV columns "
                                                             "(e.g. `gender,age_band`): accuracy and the standardised "
                                                             "difference per group, with 95% intervals."),
             cut_score: Optional[List[str]] = typer.Option(None, "--cut-score",
                                                           help="Cut scores for the decisions table (`3.0,3.5,4.0`, "
                                                                "or repeat the option): how many clips the raters "
                                                                "(label >= S), the raw and the mapped scores select. "
                                                                "Default: the labels' quartiles. With "
                                                                "--audit-column (one cut score): selection rates per "
                                                                "group and impact ratios against the most selected "
                                                                "group; under 0.8 is flagged (four-fifths rule).")):
    """Measure how well a scorer does on clips it never saw (nested, repeated, grouped CV).

    Example: `speechgrade evaluate scores.csv -a wav/ -l grammar --folds 5 --repeats 3 --report report/
    --cut-score 3.0,3.5,4.0`; a per-group audit: `--audit-column gender --cut-score 3.5`
    """
    from .audit import audit_columns
    from .dataset import load_dataset

    dataset = load_dataset(data, audio_dir, label_column)
    check_outputs({"--json": json_path, "--report": report, "--predictions": predictions},
                  *dataset_inputs(dataset, data, audio_dir))  # before the work, not after it
    if report is not None:
        check_report_folder(report)
    audits = audit_columns(audit_column, dataset.table)
    cuts = _cut_scores(cut_score)
    if audits and len(cuts) > 1:
        raise ConfigError(f"--audit-column compares groups at one cut score: give one --cut-score with it "
                          f"(got {len(cuts)})")
    _print_problems(dataset)
    scorer = _scorer(features, no_group_duplicates, overall, asr, preset_name, regressor=regressor, trials=trials,
                     timeout=timeout, folds=folds, pca=pca, seed=seed, cache=cache, study=study, coverage=coverage,
                     inner_folds=inner_folds, ensemble=ensemble, calibrate=calibrate, snap=_snap(snap),
                     rescale=rescale, augment=augment, augment_ops=_ops(augment_ops),
                     label_range=_label_range(label_range))
    prepared = scorer.prepare(dataset)
    _print_extract_report(prepared.report, len(prepared.X), dataset)
    _print_duplicates(prepared.duplicates)
    _print_scale(dataset, prepared, scorer.config.label_range)
    with console.status("cross-validating") as status:
        ev = scorer.evaluate(dataset, folds, repeats, prepared=prepared,
                             progress=lambda m: status.update(f"cross-validating: {esc(m)}"))
    if cuts:
        ev.decisions(cuts)
    if audits:
        with console.status("auditing per group"):
            ev.audit(dataset, audits, cuts[0] if cuts else None, seed=seed)
    if len(dataset.labels) > 1:
        _print_multi_evaluation(ev)
    else:
        from .render import metrics_table, print_findings

        out.print(metrics_table(ev.summary))
        print_findings(out, ev)
    _print_decisions(ev)
    _print_audits(ev)
    _write_evaluation(ev, json_path, report, predictions)


def _cut_scores(given: Optional[List[str]]) -> list:
    """`--cut-score 3.0,3.5 --cut-score 4` as [3.0, 3.5, 4.0] (checked: finite numbers)."""
    from .crossval import check_cuts

    return check_cuts([part.strip() for text in given or [] for part in str(text).split(",") if part.strip()])


def _print_scale(dataset, prepared, label_range) -> None:
    """Which scale each label uses and where it came from (one sentence each, for evaluate and train alike)."""
    import numpy as np

    from .usertext import shorten
    from .wording import scale_sentence

    for label in dataset.labels:
        y = dataset.table.loc[prepared.names, label].to_numpy(np.float64)
        console.print(esc(scale_sentence(shorten(str(label)), label_range, y[np.isfinite(y)])))


def _print_decisions(ev) -> None:
    from .render import decisions_table

    for label, sub in ev.labels.items():
        if sub.extra.get("decisions"):
            out.print(decisions_table(sub.extra["decisions"], label if len(ev.labels) > 1 else None))


def _print_audits(ev) -> None:
    from .render import audit_tables

    for label, sub in ev.labels.items():
        if sub.extra.get("audit"):
            if len(ev.labels) > 1:
                out.print(f"[bold]{esc(str(label))}[/]")
            for table in audit_tables(sub.extra["audit"]):
                out.print(table)


def _print_multi_evaluation(ev) -> None:
    from .render import corr_table, multi_table, print_findings

    out.print(multi_table(ev))
    print_findings(out, ev)
    out.print(corr_table(ev.human_corr, "Human sub-scores: correlation"))
    out.print(corr_table(ev.predicted_corr, "Predicted sub-scores (out of fold): correlation"))
    if ev.overall and not ev.overall.get("against"):
        console.print("[yellow]--overall: no `overall` column to evaluate the composite against")
    for label, n in ev.missing.items():
        if n:
            console.print(f"[yellow]{esc(label)}[/]: {n} clips lack this label and were left out of its model")


def _print_duplicates(clusters) -> None:
    from .render import print_duplicates

    print_duplicates(console, clusters)


def _write_evaluation(ev, json_path, report, predictions) -> None:
    """The metrics (JSON), the out-of-fold predictions (CSV; with several labels, a `label` column) and the report
    of an evaluation, one label or several."""
    if json_path:
        write_text(json_path, json.dumps(ev.to_json(), indent=1, default=str) + "\n")
        console.print(f"metrics: {esc(str(json_path))}")
    if predictions:
        if len(ev.labels) == 1:
            table = ev.first.predictions
        else:
            import pandas as pd

            table = pd.concat([e.predictions.assign(label=label) for label, e in ev.labels.items()])
        _note_neutralised(write_table(table, predictions))
        console.print(f"out-of-fold predictions: {esc(str(predictions))}")
    if report:
        from .report import write_multi_report, write_report

        with report_folder(report) as tmp:
            if len(ev.labels) == 1:
                label, first = next(iter(ev.labels.items()))
                write_report(first, tmp, label, first.importance)
            else:
                write_multi_report(ev, tmp)
        console.print(f"report: {esc(str(report / 'index.html'))}")


@app.command()
def train(data: Path = typer.Argument(..., help="CSV with `filename` and label columns (and `group`)."),
          audio_dir: Optional[Path] = AudioDir, label_column: str = Label, features: Optional[str] = Features,
          preset_name: Optional[str] = PresetOpt, asr: Optional[str] = Asr, regressor: str = Regressor,
          trials: int = Trials, timeout: Optional[float] = Timeout, folds: int = Folds,
          seed: int = Seed, pca: Optional[int] = Pca, study: Optional[str] = Study, cache: Optional[Path] = Cache,
          no_group_duplicates: bool = NoGroupDup, coverage: float = Coverage, ensemble: Optional[str] = Ensemble,
          calibrate: bool = Calibrate, snap: Optional[str] = Snap, rescale: bool = Rescale, augment: int = Augment,
          augment_ops: str = AugmentOps, overall: Optional[str] = Overall, label_range: Optional[str] = LabelRange,
          output: Path = typer.Option(..., "--out", "-o", help="Model folder to write."),
          evaluate_first: bool = typer.Option(False, "--evaluate",
                                              help="Cross-validate first, on the same extraction, so the bundle "
                                                   "and its model card carry out-of-fold figures."),
          repeats: int = typer.Option(3, "--repeats", min=1, help="With --evaluate: repeats of the K-fold split.")):
    """Tune with grouped CV on all rows, fit the final model and save it as a bundle.

    Example: `speechgrade train scores.csv -a wav/ -l grammar --trials 20 --out grammar-model/`
    """
    from .bundle import check_output_folder
    from .dataset import load_dataset

    dataset = load_dataset(data, audio_dir, label_column)
    check_outputs({"--out": output}, *dataset_inputs(dataset, data, audio_dir))  # before the work, not after it
    check_output_folder(output)
    _print_problems(dataset)
    scorer = _scorer(features, no_group_duplicates, overall, asr, preset_name, regressor=regressor, trials=trials,
                     timeout=timeout, folds=folds, pca=pca, seed=seed, cache=cache, study=study, coverage=coverage,
                     ensemble=ensemble, calibrate=calibrate, snap=_snap(snap), rescale=rescale, augment=augment,
                     augment_ops=_ops(augment_ops), label_range=_label_range(label_range))
    prepared = scorer.prepare(dataset)
    _print_extract_report(prepared.report, len(prepared.X), dataset)
    _print_duplicates(prepared.duplicates)
    _print_scale(dataset, prepared, scorer.config.label_range)
    ev = None
    if evaluate_first:
        with console.status("cross-validating") as status:
            ev = scorer.evaluate(dataset, folds, repeats, prepared=prepared,
                                 progress=lambda m: status.update(f"cross-validating: {esc(m)}"))
        from .render import metrics_table, multi_table, print_findings

        out.print(multi_table(ev) if len(ev.labels) > 1 else metrics_table(ev.summary))
        print_findings(out, ev)
        _print_decisions(ev)
    with console.status(f"fitting {esc(regressor)}"):
        scorer.fit(dataset, prepared=prepared, evaluation=ev)
    scorer.save(output)
    for label, one in scorer.models_.items():
        t = one.tuning
        console.print(f"{esc(label)}: selection CV RMSE {t['selection_cv_rmse']:.3f} (optimistic: it chose the "
                      f"parameters; `speechgrade evaluate` gives honest figures)")
        if "weights" in t:
            console.print("  ensemble members (regressor, selection CV RMSE, blend weight): " + ", ".join(
                f"{m} {t['member_regressors'][m]} {t['member_cv_rmse'][m]:.3f} w {w:.2f}"
                for m, w in t["weights"].items()))
            choice = t.get("blend_or_best")
            if choice:
                rm = choice["rmse"]
                console.print(f"  {esc(choice.get('member', 'the blend'))} kept: cross-validated RMSE of the blend "
                              f"{rm['stack']:.3f}, of the best member alone {rm['best']:.3f}")
        elif "," in regressor:
            console.print(f"  chosen regressor: {t['regressor']}")
    console.print(f"model saved to {esc(str(output))}")


@app.command()
def predict(model: Path = typer.Argument(..., help="Model folder written by `train`."),
            inputs: List[Path] = typer.Argument(..., help="A CSV with a `filename` column, or audio files."),
            audio_dir: Optional[Path] = AudioDir, cache: Optional[Path] = Cache,
            output: Optional[Path] = typer.Option(None, "--out", "-o", help="CSV `filename,<label>` in input order."),
            as_json: bool = typer.Option(False, "--json",
                                         help="Print JSON Lines instead: one object per file, with its interval, "
                                              "main features, transcript and timed grammar findings."),
            explain: bool = typer.Option(False, "--explain",
                                         help="Add each feature family's contribution to the score (not for svr)."),
            intervals: bool = typer.Option(False, "--intervals",
                                           help="Add <label>_lo and <label>_hi: the model's conformal interval."),
            abstain: bool = typer.Option(False, "--abstain",
                                         help="Add `abstain` and `abstain_reason`: clips not to trust (noise, too "
                                              "little speech, not English, unreadable). They are listed anyway."),
            engine: str = Engine, address: Optional[str] = Address, num_gpus_per_worker: float = Gpus,
            batch_size: int = _setting("batch_size", "--batch-size"),
            report: Optional[Path] = typer.Option(None, "--report",
                                                  help="Write a readable page per answer (score, interval, what "
                                                       "drove it, the score of each stretch over time, measures "
                                                       "against the training answers, transcript and findings) and "
                                                       "an index, into this folder."),
            stretches: bool = typer.Option(False, "--stretches",
                                           help="With --json, add `stretches`: the model's score of each 10 s "
                                                "stretch (one every 5 s, at most 12) scored alone, beside their "
                                                "duration-weighted mean. About doubles the scoring time.")):
    """Score new recordings with a saved model.

    Examples: `speechgrade predict grammar-model/ test.csv -a wav/ --out predictions.csv`;
    `speechgrade predict grammar-model/ answer.m4a --json`
    """
    from .dataset import Dataset, load_dataset
    from .render import print_failures, write_json, write_scores_csv
    from .scorer import Scorer

    if len(inputs) == 1 and inputs[0].suffix.lower() == ".csv":
        dataset = load_dataset(inputs[0], audio_dir, None, require_label=False)
    else:
        dataset = Dataset.from_paths(inputs)
    check_outputs({"--out": output, "--report": report}, *dataset_inputs(dataset, model, audio_dir, *inputs))
    if report is not None:
        check_report_folder(report)
    scorer = Scorer.load(model, cache=cache, progress=not as_json, batch_size=batch_size, engine=engine,
                         engine_options=_engine_options(engine, address, num_gpus_per_worker))
    scores = scorer.score(dataset, intervals=intervals or as_json or report is not None,
                          explain=explain or report is not None, details=as_json or report is not None)
    if (stretches and as_json) or report is not None:  # the report always shows them
        from .audio import decode_audio
        from .stretches import add_stretches

        add_stretches(scorer, scores, lambda name: decode_audio(dataset.table.at[name, "path"]))
    elif stretches:
        console.print("[yellow]--stretches: shown with --json or --report only")
    if explain and not scores.explain_columns() and scores.frame[scores.labels].notna().any().any():
        console.print(f"[yellow]--explain: a {scorer.model_.regressor} model has no per-prediction attributions")
    if as_json:
        write_json(scores, sys.stdout)
    elif output:
        n, changed = write_scores_csv(scores, output, intervals, abstain, explain)
        _note_neutralised(changed)
        console.print(f"wrote {n} rows to {esc(str(output))}")
    else:
        _note_neutralised(write_scores_csv(scores, sys.stdout, intervals, abstain, explain)[1])
    if report is not None:
        from .report import answer_words, write_answer_pages

        with report_folder(report) as tmp:
            write_answer_pages(list(scores.records()), tmp, answer_words(scorer))
        console.print(f"answer pages: {esc(str(report / 'index.html'))}")
    print_failures(console, scores)
    if scores.problems and len(scores.problems) == len(dataset.input_order):
        raise typer.Exit(1)


@app.command()
def demo(label: str = typer.Option("all", "--label", "-l",
                                   help="all (the four sub-scores in one run), total, accuracy, fluency or prosodic."),
         output: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Where the model and report go."),
         features: Optional[str] = Features, asr: Optional[str] = Asr,
         regressor: str = typer.Option("ridgecv", "--regressor", "-r"),
         trials: int = typer.Option(10, "--trials", min=0), repeats: int = typer.Option(3, "--repeats", min=1),
         cache: Optional[Path] = Cache):
    """Train and evaluate on the bundled speechocean762 sample, then score held-out clips.

    Example: `speechgrade demo --label fluency`
    """
    from .demo import run_demo

    run_demo(label, output, _features(features, asr), regressor, trials, repeats, cache, out, console)


@app.command()
def transcribe(data: Path = typer.Argument(..., help="CSV with a `filename` column, or one audio file."),
               audio_dir: Optional[Path] = AudioDir, cache: Optional[Path] = Cache,
               model: str = typer.Option(ASR_DEFAULT, "--model", "-m",
                                         help="Whisper model: a CTranslate2 folder, `base` (installed), or a hub size."),
               beam_size: int = typer.Option(5, "--beam-size"),
               language: str = typer.Option("en", "--language", help="Language code, or `auto` to detect."),
               verbatim: bool = typer.Option(True, "--verbatim/--no-verbatim",
                                             help="Keep fillers and repetitions (disfluent prompt)."),
               output: Path = typer.Option(Path("transcripts.jsonl"), "--out", "-o", help="JSON lines output."),
               force: bool = typer.Option(False, "--force", help="Replace --out if it exists.")):
    """Transcribe recordings with Whisper: text, words with times and probabilities (cached).

    Example: `speechgrade transcribe scores.csv --audio-dir wav/ --out transcripts.jsonl`
    """
    from .dataset import Dataset, load_dataset
    from .speech.faster_whisper import WhisperOptions
    from .transcripts import transcribe_dataset

    dataset = load_dataset(data, audio_dir, None, require_label=False) if data.suffix.lower() == ".csv" \
        else Dataset.from_paths([data])
    check_outputs({"--out": output}, *dataset_inputs(dataset, data, audio_dir))
    if output.exists() and not force:
        raise ConfigError(f"{output} exists: pass --force to replace it, or another --out")
    opts = WhisperOptions(model, beam_size, None if language == "auto" else language, verbatim)
    _print_problems(dataset)
    records, report, n = transcribe_dataset(dataset, opts, cache, progress=True)
    with atomic_file(output) as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
    _print_extract_report(report, n, dataset)
    console.print(f"wrote {n} transcripts to {esc(str(output))}")


@app.command()
def serve(model: Path = typer.Argument(..., help="Model folder written by `train`."),
          host: str = typer.Option("127.0.0.1", "--host"), port: int = typer.Option(8000, "--port", min=1, max=65535),
          workers: int = typer.Option(1, "--workers", min=1, help="Server processes (each loads the model once)."),
          max_upload_mb: float = typer.Option(25.0, "--max-upload-mb", min=0.001, help="Largest upload accepted."),
          max_audio_s: float = typer.Option(600.0, "--max-audio-s", min=0.1, help="Longest audio accepted, seconds."),
          timeout: float = typer.Option(120.0, "--timeout", min=0.1,
                                        help="Scoring time per request, seconds: a request over it answers 504 and "
                                             "its worker process is replaced."),
          concurrency: int = typer.Option(2, "--concurrency", min=1, max=64,
                                          help="Scoring worker processes per server process (each loads the model)."),
          body_timeout: float = typer.Option(30.0, "--body-timeout", min=0.1,
                                             help="Longest time a client may take to send a request body, seconds."),
          max_batch_files: int = typer.Option(16, "--max-batch-files", min=1, help="Most files in one batch request."),
          max_connections: int = typer.Option(100, "--max-connections", min=1, max=100000,
                                              help="Requests in progress per server process; more get a JSON 503."),
          header_timeout: float = typer.Option(10.0, "--header-timeout", min=0.1, max=600,
                                               help="Longest time a connection may take to send its request "
                                                    "headers, seconds (silent connections are closed)."),
          plugin: List[str] = typer.Option([], "--plugin",
                                           help="A module to import that registers featurizers or regressors "
                                                "(repeatable)."),
          cache: Optional[Path] = Cache):
    """Serve a model over HTTP: POST /v1/score, /v1/score/batch; a web page at /; API docs at /docs.

    Example: `speechgrade serve grammar-model/ --port 8000`, then
    `curl -F file=@answer.m4a http://127.0.0.1:8000/v1/score`
    """
    import importlib

    from .scorer import Scorer
    from .serve.app import ServeConfig, serve as run_server

    for module in plugin:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(f"--plugin {module}: cannot import it ({exc})") from None
    Scorer.load(model, cache=cache)  # a clear error before the server starts
    config = ServeConfig(str(model), max_upload_mb=max_upload_mb, max_audio_s=max_audio_s, timeout_s=timeout,
                         concurrency=concurrency, cache=str(cache) if cache else None, body_timeout_s=body_timeout,
                         max_batch_files=max_batch_files, max_requests=max_connections, plugins=list(plugin))
    run_server(config, host, port, workers, max_connections, header_timeout)


@app.command()
def card(model: Path = typer.Argument(..., help="Model folder written by `train`.")):
    """Print a model's card (Markdown): what it scores, intended use and limits, training data, out-of-fold
    figures with intervals, abstain rules, library versions.

    Example: `speechgrade card grammar-model/ > MODEL_CARD.md`
    """
    from .bundle import read_manifest
    from .card import CARD, model_card

    body = read_manifest(model)  # verified: the card is one of the files it hashes
    text = (model / CARD).read_text(encoding="utf-8") if CARD in body["files"] else model_card(body)
    sys.stdout.write(text)


@app.command("list")
def list_plugins(columns: bool = typer.Option(False, "--columns", help="Also list each featurizer's columns."),
                 options: bool = typer.Option(False, "--options", help="Also list each featurizer's spec options.")):
    """List featurizers, regressors and speech-model backends (and spec options, and what each column means)."""
    from .features import FEATURIZERS
    from .models import REGRESSORS
    from .speech import SPEECH_MODELS

    for title, registry in (("featurizers", FEATURIZERS), ("regressors", REGRESSORS),
                            ("speech models", SPEECH_MODELS)):
        table = Table(title=title)
        for column in ("name", "extra", "what it is"):
            table.add_column(column)
        for name, cls in sorted(registry.items()):
            table.add_row(name, cls.extra or "-", (cls.__doc__ or "").strip().splitlines()[0])
        out.print(table)
    if options:
        for name, cls in sorted(FEATURIZERS.items()):
            for line in cls.Options.help():
                typer.echo(f"{name}\t{line}")  # plain TSV, as --columns
    if columns:
        for name, cls in sorted(FEATURIZERS.items()):
            for col, meaning in cls.descriptions.items():
                typer.echo(f"{name}.{col}\t{meaning}")  # plain TSV: greppable, never wrapped


def main() -> None:
    """Entry point: one-line errors, tracebacks only with --debug."""
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    try:
        app(standalone_mode=True)
    except SpeechgradeError as exc:
        if debug:
            raise
        console.print(f"[red]error:[/] {esc(str(exc))}")
        sys.exit(1)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: features already computed are cached; re-run to resume")
        sys.exit(130)
    except OSError as exc:  # the file system refused a path the user named (a file where a folder goes, full disk)
        if debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        console.print(f"[red]error:[/] {esc(where + (exc.strerror or str(exc)))} (nothing was written there)")
        sys.exit(1)
    except Exception as exc:  # a bug: say what, keep the traceback for --debug
        if debug:
            raise
        console.print(f"[red]error:[/] unexpected {type(exc).__name__}: {esc(str(exc))} (run with --debug for the traceback)")
        sys.exit(2)
