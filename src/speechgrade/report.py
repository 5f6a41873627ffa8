"""An evaluation report a person reads: PNG plots and an HTML page with the metrics and the config."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .output import write_csv, write_text
from .evaluate import LabelEvaluation, compared, plain_findings
from .usertext import shorten

ROWS = (("rmse", "RMSE", "lower is better"), ("mae", "MAE", "lower is better"),
        ("pearson", "Pearson r", "higher is better"), ("spearman", "Spearman rho", "higher is better"),
        ("within_0.5", "within 0.5", "share of |error| <= 0.5"), ("within_1.0", "within 1.0", "share of |error| <= 1.0"),
        ("qwk", "QWK (label step)", "quadratic weighted kappa, predictions rounded to the label step"),
        ("exact", "exact agreement", "rounded prediction equals the label"),
        ("adjacent", "adjacent agreement", "within one label step"),
        ("spread_ratio", "spread ratio", "std of predictions / std of labels; below 1 shrinks to the middle"))


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_text(label: str) -> str:
    """A label as axis text: short (a plot is no place for 100 KB) and never mathtext (`$` is a dollar)."""
    return shorten(" ".join(str(label).split()), 60).replace("$", r"\$")


def plot_scatter(ev: LabelEvaluation, path: Path, label: str) -> None:
    """Predicted vs true (mean over repeats), with the identity line."""
    plt = _plt()
    p = ev.predictions.groupby("filename").agg(y=("y_true", "first"), pred=("model", "mean"))
    fig, ax = plt.subplots(figsize=(5, 5))
    rng = np.random.default_rng(0)
    ax.scatter(p["y"] + rng.uniform(-0.08, 0.08, len(p)), p["pred"], s=14, alpha=0.6)
    lo, hi = float(min(p["y"].min(), p["pred"].min())), float(max(p["y"].max(), p["pred"].max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="identity")
    ax.set_xlabel(f"true {_plot_text(label)}")
    ax.set_ylabel(f"predicted {_plot_text(label)} (out of fold)")
    ax.set_title(f"r = {ev.summary['pearson']:.2f}, RMSE = {ev.summary['rmse']:.2f}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_residuals(ev: LabelEvaluation, path: Path, label: str) -> None:
    """Residuals (predicted - true) grouped by true score."""
    plt = _plt()
    p = ev.predictions.assign(res=ev.predictions["model"] - ev.predictions["y_true"])
    levels = sorted(p["y_true"].unique())
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.boxplot([p.loc[p["y_true"] == v, "res"] for v in levels], positions=range(len(levels)))
    ax.set_xticks(range(len(levels)), [f"{v:g}" for v in levels])
    ax.axhline(0, color="k", lw=1, ls="--")
    ax.set_xlabel(f"true {_plot_text(label)}")
    ax.set_ylabel("residual (predicted - true)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_folds(ev: LabelEvaluation, path: Path) -> None:
    """RMSE and Pearson r of each outer fold, model vs baselines."""
    plt = _plt()
    f = ev.per_fold
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, key in zip(axes, ("rmse", "pearson")):
        for model, part in f.groupby("model", sort=False):
            ax.plot(range(len(part)), part[key], marker="o", label=model)
        ax.set_xlabel("outer fold (all repeats)")
        ax.set_ylabel(key)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_importance(importance: pd.Series, path: Path, top: int = 20) -> None:
    """Importance summed per feature family (left) and the largest single features (right), in percent."""
    plt = _plt()
    share = 100 * importance / importance.sum()
    families = share.groupby(share.index.str.split(".").str[0]).sum().sort_values()
    single = share.sort_values().tail(top)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 0.28 * len(single) + 1.5),
                                      gridspec_kw={"width_ratios": [1, 1.4]})
    left.barh(families.index, families.values, color="#3a7bd5")
    left.set_xlabel("% of importance, per feature family")
    right.barh(single.index, single.values, color="#888")
    right.set_xlabel(f"% of importance, top {len(single)} features")
    for ax in (left, right):
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_audit(result: dict, path: Path) -> None:
    """Per group: the standardised difference (predicted minus human) with its 95% interval, and the impact
    ratio when there is a cut score; the flag lines at +-0.15 and 0.8."""
    plt = _plt()
    rows = [(col, r) for col, group_rows in result["columns"].items() for r in group_rows if "std_difference" in r]
    cut = result.get("cut_score") is not None
    fig, axes = plt.subplots(1, 2 if cut else 1, figsize=(10 if cut else 6, 0.35 * len(rows) + 1.5), squeeze=False)
    names = [f"{c}: {r['group']}" for c, r in rows]
    for ax, key, flags in ((axes[0][0], "std_difference", (-0.15, 0.15)), *(((axes[0][1], "impact_ratio", (0.8,)),)
                                                                          if cut else ())):
        values = [r.get(key, np.nan) for _, r in rows]
        lo = [v - r.get(f"{key}_ci95", [v, v])[0] for v, (_, r) in zip(values, rows)]
        hi = [r.get(f"{key}_ci95", [v, v])[1] - v for v, (_, r) in zip(values, rows)]
        ax.errorbar(values, range(len(rows)), xerr=[lo, hi], fmt="o", color="#3a7bd5", capsize=3)
        for f in flags:
            ax.axvline(f, color="#c33", lw=1, ls="--")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(names if ax is axes[0][0] else [])
        ax.set_xlabel("standardised difference (predicted - human)" if key == "std_difference" else
                      "impact ratio (selection rate / most selected group's)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _audit_html(result: dict) -> str:
    """The audit as HTML tables (every value escaped: group names come from the CSV)."""
    cut = result.get("cut_score")
    parts = ["<h2>Per-group audit</h2><p>" + html.escape(result.get("note", "")) +
             (f"; selected means predicted &gt;= {cut:g}" if cut is not None else "") + "</p>"]
    keys = ["human_mean", "predicted_mean", "std_difference", "pearson", "rmse", "mae", "interval_coverage"]
    keys += ["selection_rate", "human_selection_rate", "impact_ratio"] if cut is not None else []
    for column, rows in result["columns"].items():
        head = "".join(f"<th>{k.replace('_', ' ')}</th>" for k in ["group", "n", *keys, "flag"])
        body = []
        for r in rows:
            cells = []
            for k in keys:
                v = r.get(k)
                ci = r.get(f"{k}_ci95")
                cells.append("" if v is None or v != v else f"{v:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""))
            body.append(f"<tr><td>{html.escape(str(r['group']))}</td><td>{r['n']}</td>" +
                        "".join(f"<td>{c}</td>" for c in cells) +
                        f"<td class=h>{html.escape('; '.join(r.get('flag') or []))}</td></tr>")
        parts.append(f"<h3>By {html.escape(str(column))}</h3><table><tr>{head}</tr>{''.join(body)}</table>")
    return "".join(parts)


def _decisions_html(result: dict) -> str:
    """Raw and mapped scores side by side as an HTML table: r, RMSE, QWK, spread, and at each cut score how many
    clips the scores select and how many of those the raters select too."""
    names = {"raw": "raw scores", "mapped": "mapped to the raters' mean and SD"}
    heads = [names.get(n, n) + (" (the model's scores)" if n == result.get("model_scores") else "")
             for n in result["scores"]]
    figures = list(result["scores"].values())
    body = [f"<tr><td>{title}</td>" + "".join(f"<td>{s[key]:.3f}</td>" for s in figures) + "</tr>"
            for key, title in (("pearson", "Pearson r"), ("rmse", "RMSE"), ("qwk", "QWK"),
                               ("spread_ratio", "spread ratio"))]
    for i, (cut, raters) in enumerate(zip(result["cut_scores"], result["raters"])):
        rows = [s["cuts"][i] for s in figures]
        body.append(f"<tr><td>&gt;= {cut:g}: selected (raters select {raters})</td>" + "".join(
            f"<td>{r['selected']:.1f} ({r['selected_range'][0]}-{r['selected_range'][1]})</td>" for r in rows) + "</tr>")
        body.append(f"<tr><td>&gt;= {cut:g}: of them, the raters' too</td>" + "".join(
            f"<td>{r['both']:.1f} ({r['both_range'][0]}-{r['both_range'][1]})</td>" for r in rows) + "</tr>")
    return (f"<h2>Decisions at cut scores {html.escape(', '.join(f'{c:g}' for c in result['cut_scores']))}</h2>"
            f"<p>Cut scores: {html.escape(result['cut_source'])}. Out of fold, counts of {result['n']} clips (mean over "
            f"repeats, lowest-highest). The mapped scores are the raw ones mapped linearly to the raters' mean and SD, "
            f"the map fitted inside each training fold (<code>--rescale</code>).</p>"
            f"<table><tr><th>figure</th>{''.join(f'<th>{html.escape(h)}</th>' for h in heads)}</tr>"
            f"{''.join(body)}</table>")


def _table(ev: LabelEvaluation) -> str:
    s, others = ev.summary, compared(ev.summary)
    head = "".join(f"<th>{html.escape(n)}</th>" for n in ["model", *others])
    body = []
    for key, title, hint in ROWS:
        cells = [f"{v[key]:.3f} ± {v[key + '_std']:.3f}" for v in (s, *others.values())]
        body.append(f"<tr><td>{title}</td>{''.join(f'<td>{c}</td>' for c in cells)}<td class=h>{hint}</td></tr>")
    body.append("<tr><td>Pearson 95% CI</td>" + "".join(f"<td>[{v['pearson_ci95'][0]:.3f}, {v['pearson_ci95'][1]:.3f}]</td>"
                                                        for v in (s, *others.values()))
                + "<td class=h>bootstrap over clips</td></tr>")
    return f"<table><tr><th>metric</th>{head}<th></th></tr>{''.join(body)}</table>"


def write_report(ev: LabelEvaluation, directory: str | os.PathLike, label: str = "score",
                 importance: pd.Series | None = None) -> Path:
    """Write scatter/residual/fold plots (and importances) as PNG, index.html and predictions.csv."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    plot_scatter(ev, directory / "scatter.png", label)
    plot_residuals(ev, directory / "residuals.png", label)
    plot_folds(ev, directory / "folds.png")
    images = ["scatter.png", "residuals.png", "folds.png"]
    if importance is not None and len(importance):
        plot_importance(importance, directory / "importance.png")
        images.append("importance.png")
    write_csv(ev.predictions, directory / "predictions.csv")
    audit_html = ""
    if ev.extra.get("audit"):
        plot_audit(ev.extra["audit"], directory / "audit.png")
        images.append("audit.png")
        audit_html = _audit_html(ev.extra["audit"])
    s = ev.summary
    decisions_html = _decisions_html(ev.extra["decisions"]) if ev.extra.get("decisions") else ""
    scale = (ev.extra.get("scale") or {}).get("note")
    dup = ev.extra.get("duplicates") or []
    problems = (ev.extra.get("skipped") or []) + (ev.extra.get("failed") or [])
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>speechgrade evaluation: {html.escape(label)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}
td:first-child{{text-align:left}}.h{{color:#777;font-size:.85em;text-align:left}}img{{max-width:100%;margin:.5em 0}}
pre{{background:#f6f6f6;padding:1em;overflow:auto}}</style></head><body>
<h1>speechgrade evaluation — {html.escape(label)}</h1>
<p>{s['n']} clips, {s['folds']}-fold cross-validation repeated {s['repeats']} times; groups (speakers, duplicate
recordings) never straddle folds; hyperparameters are tuned inside each outer training fold, so every figure below
is measured on clips the model and its tuning never saw. Values are mean ± std over repeats.
{html.escape(scale) if scale else ''}</p>
{''.join(f"<p><b>{html.escape(t)}</b></p>" for t in plain_findings(s))}
{_table(ev)}
{decisions_html}
{''.join(f'<img src="{i}" alt="{i}">' for i in images)}
{audit_html}
<h2>Data</h2><p>{len(dup)} duplicate clusters grouped: {html.escape('; '.join(', '.join(c) for c in dup)) or 'none'}.<br>
{len(problems)} files left out: {html.escape('; '.join(f'{a}: {b}' for a, b in problems)) or 'none'}.</p>
<h2>Configuration</h2><pre>{html.escape(json.dumps(ev.config, indent=1, default=str))}</pre>
<p>Out-of-fold predictions: <a href="predictions.csv">predictions.csv</a>; the figures as a model card:
<a href="model-card.md">model-card.md</a></p></body></html>"""
    write_text(directory / "index.html", page)
    from .card import evaluation_card

    y = ev.predictions.groupby("filename")["y_true"].first() if len(ev.predictions) else [0.0, 1.0]
    write_text(directory / "model-card.md", evaluation_card(ev.summary, ev.config, label, y))
    return directory / "index.html"


def write_multi_report(ev, directory: str | os.PathLike) -> Path:
    """A report per label in `label-<i>/` (numbered: a label is a CSV header, never a path), and index.html with
    every label's figures and the correlations between the human sub-scores and between the predicted ones."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    folders = {label: f"label-{i}" for i, label in enumerate(ev.labels)}
    for label, sub in ev.labels.items():
        write_report(sub, directory / folders[label], label, sub.importance)
    table = ev.table()

    def cell(column, v):
        if v is None or (isinstance(v, float) and v != v):
            return ""
        return f"{v:.0f}" if column == "n" else f"{v:.3f}" if isinstance(v, float) else str(v)

    def name(k):  # a label with its own report links to it (`overall` has none)
        return f"<a href='{folders[k]}/index.html'>{html.escape(str(k))}</a>" if k in folders else html.escape(str(k))

    rows = "".join(f"<tr><td>{name(k)}</td>" + "".join(f"<td>{cell(c, v)}</td>" for c, v in r.items()) + "</tr>"
                   for k, r in table.iterrows())
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    matrices = "".join(f"<h2>{title}</h2>{corr.round(2).to_html()}" for title, corr in
                       (("Human sub-scores: correlation", ev.human_corr),
                        ("Predicted sub-scores (out of fold): correlation", ev.predicted_corr)) if corr is not None)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>speechgrade evaluation: sub-scores</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}
td:first-child{{text-align:left}}</style></head><body>
<h1>speechgrade evaluation — {len(ev.labels)} sub-scores</h1>
<p>Each label is evaluated on the clips that have it, with the same nested, repeated, grouped cross-validation as a
single label. Two sub-scores the model tells apart correlate less in prediction than they do for the raters; ones
it merely copies from an overall level correlate more.</p>
<table><tr><th>label</th>{head}</tr>{rows}</table>{matrices}</body></html>"""
    write_text(directory / "index.html", page)
    return directory / "index.html"


def answer_words(scorer) -> dict[str, dict]:
    """What an answer page names in words: each family's title, each column's meaning, the training ranges."""
    from .columns import prefixes

    feats = scorer.featurizers_
    titles, meanings = {}, {}
    for prefix, f in zip(prefixes(f.name for f in feats), feats):
        titles[prefix] = f.title or f.name
        meanings |= {f"{prefix}.{c}": m for c, m in f.descriptions.items()}
    return {"titles": titles, "meanings": meanings, "ranges": scorer.first_.training.get("feature_ranges") or {}}


def _seconds(t: float) -> str:
    """A time as a reader finds it in a player: 75.5 -> 1:15.5."""
    return f"{int(t // 60)}:{t % 60:04.1f}"


def stretch_chart(stretches: dict, scale: tuple[float, float]) -> str:
    """The score of each stretch over time as an inline SVG (no script, no external file): one dot per stretch at
    its middle joined by a line, its span as a band you can hover, the clip's score as a dashed line, the lowest
    stretch in red; times on the x axis, the label's scale on the y axis."""
    windows = [w for w in stretches.get("windows") or [] if w.get("score") is not None]
    if not windows:
        return ""
    width, height, left, right, top, bottom = 640, 200, 44, 12, 12, 30
    end = max(w["end_s"] for w in windows)
    lo, hi = scale
    clip = stretches.get("clip_score")
    lo, hi = min([lo] + [w["score"] for w in windows]), max([hi] + [w["score"] for w in windows])
    span = max(hi - lo, 1e-9)

    def x(t: float) -> float:
        return left + (width - left - right) * t / max(end, 1e-9)

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - lo) / span)

    lowest = stretches.get("lowest")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="score of each stretch over time" class="stretches">',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#999"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999"/>']
    for v in (lo, hi):
        parts.append(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" font-size="11" text-anchor="end" fill="#555">'
                     f'{v:g}</text>')
    step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800) if end / s <= 8)
    for k in range(int(end // step) + 1):
        t = k * step
        parts.append(f'<line x1="{x(t):.1f}" y1="{height - bottom}" x2="{x(t):.1f}" y2="{height - bottom + 4}" '
                     f'stroke="#999"/><text x="{x(t):.1f}" y="{height - bottom + 16}" font-size="11" '
                     f'text-anchor="middle" fill="#555">{_seconds(t) if end >= 60 else f"{t:g} s"}</text>')
    for i, w in enumerate(stretches["windows"]):
        if w.get("score") is None:
            continue
        tip = f"{w['start_s']:.1f}–{w['end_s']:.1f} s: {w['score']:.2f}"
        parts.append(f'<rect x="{x(w["start_s"]):.1f}" y="{top}" width="{x(w["end_s"]) - x(w["start_s"]):.1f}" '
                     f'height="{height - top - bottom}" fill="{"#e57373" if i == lowest else "#3a7bd5"}" '
                     f'fill-opacity="0.06"><title>{tip}</title></rect>')
    points = " ".join(f"{x((w['start_s'] + w['end_s']) / 2):.1f},{y(w['score']):.1f}" for w in windows)
    parts.append(f'<polyline points="{points}" fill="none" stroke="#3a7bd5" stroke-width="2"/>')
    for i, w in enumerate(stretches["windows"]):
        if w.get("score") is not None:
            parts.append(f'<circle cx="{x((w["start_s"] + w["end_s"]) / 2):.1f}" cy="{y(w["score"]):.1f}" r="4" '
                         f'fill="{"#c62828" if i == lowest else "#3a7bd5"}"><title>{w["start_s"]:.1f}–'
                         f'{w["end_s"]:.1f} s: {w["score"]:.2f}</title></circle>')
    if clip is not None:
        parts.append(f'<line x1="{left}" y1="{y(clip):.1f}" x2="{width - right}" y2="{y(clip):.1f}" stroke="#222" '
                     f'stroke-dasharray="5,4"/><text x="{width - right}" y="{y(clip) - 4:.1f}" font-size="11" '
                     f'text-anchor="end" fill="#222">whole answer {clip:.2f}</text>')
    return "".join(parts) + "</svg>"


def _stretches_html(stretches: dict, scale: tuple[float, float]) -> str:
    """The stretches section of an answer page: the chart, what the scores are, and each stretch's times."""
    windows = stretches.get("windows") or []
    if not windows:
        return ("<h3>Score over time</h3><p>This answer is too short to score in stretches (it needs "
                f"{stretches.get('window_s', 0) + stretches.get('hop_s', 0):g} s).</p>")
    lowest = stretches.get("lowest")
    rows = []
    for i, w in enumerate(windows):
        score = "not scored" if w.get("score") is None else f"{w['score']:.2f}"
        rows.append(f"<tr{' class=low' if i == lowest else ''}><td>{_seconds(w['start_s'])}–{_seconds(w['end_s'])}"
                    f"</td><td>{score}</td></tr>")
    mean, clip = stretches.get("weighted_mean"), stretches.get("clip_score")
    mean_text = "—" if mean is None else f"{mean:.2f}"
    clip_text = "—" if clip is None else f"{clip:.2f}"
    low = windows[lowest] if lowest is not None else None
    return (f"<h3>Score over time</h3>{stretch_chart(stretches, scale)}"
            + (f"<p>The lowest stretch is {_seconds(low['start_s'])}–{_seconds(low['end_s'])} "
               f"({low['score']:.2f}): listen to it first.</p>" if low else "")
            + f"<p class=h>Each stretch ({stretches.get('window_s', 0):g} s, one every {stretches.get('hop_s', 0):g} "
            f"s) is scored alone by the same model. The whole answer's score is not their mean in general (the model "
            f"summarises the whole recording at once, not stretch by stretch): their mean weighted by duration is "
            f"{mean_text}, the whole answer's score {clip_text}.</p>"
            f"<table class=stretch-times><tr><td>stretch</td><td>score</td></tr>{''.join(rows)}</table>")


def _scale(record: dict, label: str | None) -> tuple[float, float]:
    """The scale a label's scores are on (the composite `overall`: from the lowest to the highest of its labels)."""
    ranges = [sub["range"] for name, sub in (record.get("scores") or {}).items()
              if sub.get("range") and (name == label or label not in (record.get("scores") or {}))]
    return (min(r[0] for r in ranges), max(r[1] for r in ranges)) if ranges else (0.0, 1.0)


def answer_page(record: dict, words: dict) -> str:
    """One answer as a page a candidate or a rater reads: each score with its interval and band, what drove it (in
    words when an embedding alone drives it), the score of each stretch over time (`stretches`, when the record has
    them), the measures against the training answers, the transcript and findings (all text escaped)."""
    e = html.escape
    parts = [f"<h1>{e(str(record['filename']))}</h1>"]
    if record.get("error"):
        parts.append(f"<p class=warn>Not scored: {e(record['error'])}</p>")
    for label, sub in (record.get("scores") or {}).items():
        if sub.get("score") is None:
            continue
        lo, hi = sub.get("range", [0, 1])
        interval = sub.get("interval")
        parts.append(f"<h2>{e(label)}: {sub['score']:.2f} <small>({sub.get('band', '')} on {lo:g}-{hi:g}"
                     + (f"; {interval['coverage']:.0%} interval {interval['lo']:.1f}-{interval['hi']:.1f}"
                        if interval and interval.get("coverage") else "") + ")</small></h2>")
    if record.get("abstain"):
        parts.append(f"<p class=warn>Do not trust this score: {e(record['abstain'])}</p>")
    explanation = next((s.get("explanation") for s in (record.get("scores") or {}).values() if s.get("explanation")), None)
    stretches = record.get("stretches")
    if stretches and stretches.get("story"):  # an embedding alone: its contribution says nothing a reader can check
        parts.append(f"<h3>What drove the score</h3><p>{e(stretches['story'])}</p>")
    elif explanation:
        rows = "".join(f"<tr><td>{e('average score of the training answers' if k == 'base' else words['titles'].get(k, k))}"
                       f"</td><td>{v:+.2f}</td></tr>" for k, v in explanation.items() if v is not None)
        parts.append(f"<h3>What drove the score</h3><table>{rows}</table>")
    if stretches:
        parts.append(_stretches_html(stretches, _scale(record, stretches.get("label"))))
    features = record.get("features") or {}
    if features:
        rows = []
        for k, v in list(features.items())[:12]:
            seen = words["ranges"].get(k)
            rows.append(f"<tr><td>{e(words['meanings'].get(k, k))}</td><td>{v:.2f}</td><td>"
                        f"{f'{seen[0]:.2f}-{seen[2]:.2f}' if seen else ''}</td></tr>")
        parts.append("<h3>Measures</h3><table><tr><td></td><td>this answer</td><td>most training answers</td></tr>"
                     + "".join(rows) + "</table>")
    if "transcript" in record and not record.get("abstain"):
        parts.append(f"<h3>Transcript</h3><p>{e(record['transcript'] or '(nothing heard)')}</p>")
        for key, title, none in (("grammar_findings", "Grammar", "No grammar findings. Whisper tends to tidy speech as "
                                  "it writes it down, so this is not proof of error-free speech."),
                                 ("fluency_findings", "Fluency: fillers and repetitions", "None found.")):
            findings = record.get(key)
            if findings is not None:
                items = "".join(f"<li><b>{e(f.get('text', ''))}</b>"
                                + (f" → {e(f['suggestion'])}" if f.get("suggestion") else "")
                                + f": {e(f.get('message', ''))}</li>" for f in findings)
                parts.append(f"<h3>{title}</h3><ul>" + (items or f"<li>{none}</li>") + "</ul>")
    style = ("body{font-family:system-ui,sans-serif;max-width:760px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse}td{border-bottom:1px solid #eee;padding:3px 8px}"
             ".warn{background:#fff3cd;padding:.5em}.h{color:#666;font-size:.9em}tr.low td{color:#c62828;"
             "font-weight:600}svg.stretches{max-width:100%;height:auto}")
    return f"<!doctype html><html><head><meta charset=utf-8><title>{e(str(record['filename']))}</title><style>{style}" \
           f"</style></head><body>{''.join(parts)}</body></html>"


def write_answer_pages(records: list[dict], directory: str | os.PathLike, words: dict) -> Path:
    """One page per answer (numbered: a filename is never a path) and an index linking them: with one label its
    score, with several every label's score (and `overall` when the model has one)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    labels = list(dict.fromkeys(label for record in records for label in record.get("scores") or {}))
    several = len(labels) > 1
    overall = several and any("overall" in record for record in records)
    rows = []
    for i, record in enumerate(records):
        page = f"answer-{i}.html"
        write_text(directory / page, answer_page(record, words))
        scores = record.get("scores") or {}
        figures = [(scores.get(label) or {}).get("score") for label in labels] if several else [record.get("score")]
        figures += [record.get("overall")] if overall else []
        rows.append(f"<tr><td><a href='{page}'>{html.escape(str(record['filename']))}</a></td>"
                    + "".join(f"<td>{'' if v is None else f'{v:.2f}'}</td>" for v in figures)
                    + f"<td>{html.escape(record.get('abstain') or record.get('error') or '')}</td></tr>")
    heads = [*labels, *(["overall"] if overall else [])] if several else ["score"]
    index = ("<!doctype html><html><head><meta charset=utf-8><title>speechgrade scores</title></head><body>"
             "<h1>Scores</h1><table><tr><th>answer</th>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in heads)
             + "<th>note</th></tr>" + "".join(rows) + "</table></body></html>")
    write_text(directory / "index.html", index)
    return directory / "index.html"
