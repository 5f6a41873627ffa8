"""User text is data everywhere: label names, filenames and CSV cells never become YAML keys, Markdown links, HTML
elements or Rich markup, and no command's time grows with the square of their length or number (issue 29 rows 3,
8, 9, 12, 13, and a seeded property check across train -> card -> predict --report -> /v1/model)."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from speechgrade.card import model_card
from speechgrade.usertext import markdown, shorten, yaml_block, yaml_string

yaml = pytest.importorskip("yaml")

CLI = [sys.executable, "-m", "speechgrade"]
BOUND_S = 60  # generous: each of these took seconds here; the old code took minutes or never ended
HOSTILE = ["<script>alert(1)</script>", "[x](javascript:alert(1))", "Task 1: grammar", " #c", "- item", "| a | b |",
           "> quote", "\nlicense: evil\n", "\r\n---\n", '"', "'", "`", "${x}", "&amp;", "ü", "漢字", "😀", "\u2028",
           "{{x}}", "*b*", "_i_", "![i](x)", "\\", "\t", "%", "@", "key: [1, 2]", "&a *a !!python/object"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One feature cache for the module: the tone clips are measured once (it is keyed by content, not name)."""
    return tmp_path_factory.mktemp("cache")


def _run(*args, cwd=None) -> subprocess.CompletedProcess:
    """The CLI in its own process, killed past BOUND_S (a quadratic path shows as a timeout, not a slow suite)."""
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=BOUND_S, cwd=cwd)


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card[4:card.index("\n---\n", 4)])


class _Tags(HTMLParser):
    """Every element and attribute of a page, to check that user text made none of them."""

    def __init__(self):
        super().__init__()
        self.tags, self.hrefs, self.rows = set(), [], []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.hrefs += [v for k, v in attrs if k in ("href", "src")]
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th") and self.rows:
            self.rows[-1].append(tag)


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


def _safe_markdown(text: str) -> None:
    """No element, link or image a Markdown renderer would make from user text."""
    assert "<script" not in text.lower() and not re.search(r"(?<!\\)\]\(", text)  # `\](` is text, `](` a link


# row 3: a label name goes into the card as a YAML string and as escaped Markdown

def _body(name: str) -> dict:
    return {"label": {"name": name, "min": 1, "max": 5}, "featurizers": [{"spec": "acoustic", "name": "acoustic"}],
            "model": {"regressor": "ridge"}, "training_data": {"n": 40},
            "cv_metrics": {"pearson": 0.81234, "rmse": 0.5, "folds": 3, "repeats": 1, "n": 40}}


@pytest.mark.parametrize("name", ["Task 1: grammar", "a\nlicense: evil\ntags: [x]", "<script>alert(1)</script>",
                                  "[l](javascript:alert(1))", "yes", "1.5", "null", "#c", "- x", '"q" \\ \u2028'])
def test_a_label_name_is_one_yaml_string_and_escaped_markdown(name):
    card = model_card(_body(name))
    front = _front_matter(card)
    assert set(front) == {"library_name", "tags", "language", "model-index"}  # no key from the label
    result = front["model-index"][0]["results"][0]
    assert front["model-index"][0]["name"] == name and result["dataset"]["type"] == name
    assert result["metrics"][0] == {"type": "pearsonr", "value": 0.812}
    _safe_markdown(card)
    assert "\nlicense: evil" not in card and "\n- x" not in card  # a newline in a name starts no line


def test_the_yaml_emitter_round_trips_any_text():
    rng = random.Random(3)
    for _ in range(300):
        text = "".join(rng.choice(HOSTILE + [chr(rng.randrange(0x110000))]) for _ in range(rng.randint(0, 6)))
        assert yaml.safe_load(yaml_string(text)) == text
        assert json.loads(yaml_string(text)) == text  # JSON strings are YAML: the same text either way
        assert yaml.safe_load("\n".join(yaml_block({"k": [{"name": text, "v": [text, 1.5, None]}]}))) == \
            {"k": [{"name": text, "v": [text, 1.5, None]}]}
        shown = markdown(text)
        assert "<" not in shown and "\n" not in shown and not re.search(r"(?<!\\)\]\(", shown)


# row 8: a 100 KB filename is data, not a line for Rich to highlight (87 s before; 10 MB never ended)

def test_a_100_kb_filename_is_reported_in_seconds_and_cut_short(tone_dataset, tmp_path, cache):
    wav = tone_dataset.parent / "wav"
    long = "A" * 102400
    (tmp_path / "bn.csv").write_text(f"filename,total\n{long},8\n")
    alone = _run("extract", tmp_path / "bn.csv", "-a", wav, "-f", "acoustic", "--out", tmp_path / "x.csv",
                 "--cache", cache)
    assert alone.returncode == 1 and "no usable rows" in alone.stderr
    assert f"… ({len(long)} characters)" in alone.stderr and len(alone.stderr) < 2000
    # beside a usable clip: the name is listed as a problem, once and short, and the clip is extracted
    (tmp_path / "bn.csv").write_text(f"filename,total\nclip000,3\n{long},8\n")
    both = _run("extract", tmp_path / "bn.csv", "-a", wav, "-f", "acoustic", "--out", tmp_path / "x.csv",
                "--cache", cache)
    assert both.returncode == 0, both.stderr[:2000]
    assert both.stderr.count(f"… ({len(long)} characters)") >= 1 and len(both.stderr) < 5000
    assert len(pd.read_csv(tmp_path / "x.csv")) == 1


# row 9: problems already listed are found in a set, not by scanning a list per problem

def test_forty_thousand_listed_problems_are_skipped_in_linear_time():
    script = """
import io
from rich.console import Console
from speechgrade.dataset import Problem
from speechgrade.extraction import ExtractReport
from speechgrade.render import print_extract_report
problems = [Problem(f"missing_{i}", "audio file not found in w") for i in range(40000)]
report = ExtractReport(processed=1, failed=list(problems))
stream = io.StringIO()
print_extract_report(Console(file=stream, highlight=False), report, 1, problems)
print(len(stream.getvalue().splitlines()))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=BOUND_S)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == 1  # the counts line alone: every failure was listed already


# rows 12 and 13: multi-label indexes carry every figure and every label's score

@pytest.fixture(scope="module")
def two_labels(tone_dataset, tmp_path_factory):
    """The tone clips with two labels, `pitch` and `noise`."""
    frame = pd.read_csv(tone_dataset)
    frame["pitch"] = frame["label"]
    frame["noise"] = np.random.default_rng(0).uniform(1, 5, len(frame)).round(1)
    path = tmp_path_factory.mktemp("two") / "two.csv"
    frame.drop(columns=["label"]).to_csv(path, index=False)
    return path, tone_dataset.parent / "wav"


def test_multi_label_evaluate_report_index_has_every_cell(two_labels, tmp_path, cache):
    path, wav = two_labels
    done = _run("evaluate", path, "-a", wav, "-l", "pitch,noise", "-f", "acoustic", "-r", "ridge", "--trials", "0",
                "--folds", "3", "--repeats", "1", "--report", tmp_path / "r", "--cache", cache)
    assert done.returncode == 0, done.stderr
    page = _parse((tmp_path / "r" / "index.html").read_text())
    table = page.rows[:3]  # the header row, then one row per label (the correlation matrices follow)
    assert len(table[0]) > 10 and all(len(row) == len(table[0]) for row in table[1:])
    text = (tmp_path / "r" / "index.html").read_text()
    assert text.count("<td>40</td>") == 2  # each label's n, a figure that was swallowed before


def test_multi_label_predict_report_index_has_each_labels_score(two_labels, tmp_path, cache):
    path, wav = two_labels
    train = _run("train", path, "-a", wav, "-l", "pitch,noise", "-f", "acoustic", "-r", "ridge", "--trials", "0",
                 "--out", tmp_path / "M2L", "--cache", cache)
    assert train.returncode == 0, train.stderr
    done = _run("predict", tmp_path / "M2L", path, "-a", wav, "--report", tmp_path / "pg", "--out", tmp_path / "p.csv",
                "--cache", cache)
    assert done.returncode == 0, done.stderr
    index = (tmp_path / "pg" / "index.html").read_text()
    frame = pd.read_html(index)[0] if _has_lxml() else None
    page = _parse(index)
    assert "<th>pitch</th><th>noise</th>" in index and len(page.rows) == 41
    assert all(len(row) == 4 for row in page.rows)  # answer, pitch, noise, note
    scores = pd.read_csv(tmp_path / "p.csv")
    assert f"<td>{scores['pitch'].iloc[0]:.2f}</td><td>{scores['noise'].iloc[0]:.2f}</td>" in index
    if frame is not None:
        assert frame[["pitch", "noise"]].notna().all().all()


def _has_lxml() -> bool:
    try:
        import lxml  # noqa: F401

        return True
    except ImportError:
        return False


# property: seeded hostile label names and filenames through train -> card -> predict --report -> /v1/model

def _hostile_names(rng: random.Random, n: int, tag: str) -> list[str]:
    names = []
    for i in range(n):
        text = "".join(rng.choice(HOSTILE) for _ in range(rng.randint(1, 5)))
        names.append(f"{text.replace(',', ';').strip()} {tag}{i}")  # `-l` splits on commas; the CSV strips
    return names


def test_hostile_labels_and_filenames_stay_data_everywhere(tone_dataset, tmp_path, cache):
    rng = random.Random(29)
    labels = _hostile_names(rng, 2, "L")
    labels[1] = labels[1] + "z" * 20000  # a long label name too
    wav = tone_dataset.parent / "wav"
    audio = tmp_path / "audio"
    audio.mkdir()
    frame = pd.read_csv(tone_dataset)
    # on disk: up to 255 bytes, no `/`; the rest stay in the CSV as missing files (one of 100 KB)
    on_disk = [n.replace("/", "_").replace("\x00", "")[:60] for n in _hostile_names(rng, 6, "F")]
    names = list(frame["filename"])
    for i, name in enumerate(on_disk):
        names[i] = name
    for src, name in zip(frame["filename"], names):
        shutil.copy(wav / f"{src}.wav", audio / f"{name}.wav")
    train_csv = pd.DataFrame({"filename": names, labels[0]: frame["label"], labels[1]: frame["label"][::-1].values})
    train_csv.to_csv(tmp_path / "train.csv", index=False)

    train = _run("train", tmp_path / "train.csv", "-a", audio, "-l", ",".join(labels), "-f", "acoustic", "-r", "ridge",
                 "--trials", "0", "--evaluate", "--folds", "3", "--repeats", "1", "--out", tmp_path / "M",
                 "--cache", cache)
    assert train.returncode == 0, train.stderr[:3000]

    card = _run("card", tmp_path / "M")
    assert card.returncode == 0, card.stderr[:3000]
    front = _front_matter(card.stdout)
    assert set(front) == {"library_name", "tags", "language", "model-index"}
    assert [r["dataset"]["type"] for r in front["model-index"][0]["results"]] == labels
    _safe_markdown(card.stdout)

    missing = _hostile_names(rng, 4, "M") + ["B" * 102400]
    predict_csv = pd.DataFrame({"filename": [*names[:8], *missing]})
    predict_csv.to_csv(tmp_path / "predict.csv", index=False)
    done = _run("predict", tmp_path / "M", tmp_path / "predict.csv", "-a", audio, "--report", tmp_path / "pg",
                "--out", tmp_path / "p.csv", "--cache", cache)
    assert done.returncode == 0, done.stderr[:3000]
    assert len(done.stderr) < 20000  # every name cut short in the messages
    scored = pd.read_csv(tmp_path / "p.csv", keep_default_na=False, na_values=[""])
    assert scored[labels].notna().sum().tolist() == [8, 8] and len(scored) == 8 + len(missing)
    for page in (tmp_path / "pg").iterdir():
        parsed = _parse(page.read_text())
        assert parsed.tags <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "small", "p", "table",
                               "tr", "td", "th", "a", "b", "ul", "li"}, page.name
        assert all(h.startswith("answer-") and h.endswith(".html") for h in parsed.hrefs)
    index = _parse((tmp_path / "pg" / "index.html").read_text())
    assert len(index.rows) == 1 + 8 + len(missing) and {len(r) for r in index.rows} == {2 + len(labels)}

    from fastapi.testclient import TestClient

    from speechgrade.serve.app import ServeConfig, create_app

    with TestClient(create_app(ServeConfig(str(tmp_path / "M"), cache=str(cache)))) as client:
        model = client.get("/v1/model").json()
    assert list(model["labels"]) == labels and model["card"] == card.stdout
    assert shorten(labels[1]).endswith(f"({len(labels[1])} characters)")
