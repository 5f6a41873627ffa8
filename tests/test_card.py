"""Every bundle carries a model card: with out-of-fold figures after `train --evaluate`, with a plain note that
they are missing after a plain `train`; `speechgrade card` prints it and the server returns it."""

import json

from typer.testing import CliRunner

from speechgrade.cli import app


def _train(tone_dataset, out, *extra):
    runner = CliRunner()
    result = runner.invoke(app, ["train", str(tone_dataset), "-a", str(tone_dataset.parent / "wav"), "-f", "acoustic",
                                 "--trials", "0", "--folds", "3", "--out", str(out), "--cache",
                                 str(out.parent / "cache"), *extra])
    assert result.exit_code == 0, result.output
    return result


def test_card_after_train_evaluate_has_the_figures(tone_dataset, tmp_path):
    result = _train(tone_dataset, tmp_path / "m", "--evaluate", "--repeats", "1")
    assert "Pearson r" in result.output  # the evaluation was printed
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["cv_metrics"]["pearson"] > 0.5 and "README.md" in manifest["files"]
    card = CliRunner().invoke(app, ["card", str(tmp_path / "m")])
    assert card.exit_code == 0
    text = card.stdout
    assert text.startswith("---\nlibrary_name: speechgrade")
    assert "| Pearson r |" in text and "Not measured" not in text
    assert "## Intended use" in text and "## Out of scope and limits" in text and "## Library versions" in text
    assert "clearly better than predicting the mean" in text
    assert f"{manifest['cv_metrics']['pearson']:.3f}" in text
    assert "Labels: mean" in text and "Training clips: 40 from " in text


def test_card_after_plain_train_says_the_figures_are_missing(tone_dataset, tmp_path):
    _train(tone_dataset, tmp_path / "m")
    text = (tmp_path / "m" / "README.md").read_text()
    assert "**Not measured.**" in text and "train ... --evaluate" in text and "| Pearson r |" not in text
    # the card is part of the verified bundle: an edited card is refused like an edited model
    (tmp_path / "m" / "README.md").write_text(text.replace("Not measured", "Excellent"))
    edited = CliRunner().invoke(app, ["card", str(tmp_path / "m")])
    assert edited.exit_code != 0


def test_the_server_returns_the_card(tone_dataset, tmp_path):
    from fastapi.testclient import TestClient

    from speechgrade.serve.app import ServeConfig, create_app

    _train(tone_dataset, tmp_path / "m", "--evaluate", "--repeats", "1")
    client = TestClient(create_app(ServeConfig(str(tmp_path / "m"), cache=str(tmp_path / "cache"))))
    model = client.get("/v1/model").json()
    assert model["cv_metrics"]["pearson"] > 0.5 and model["card"].startswith("---")
    assert model["family_titles"] == {"acoustic": "acoustic measures (pitch, pauses, voice quality)"}
    assert "acoustic.pause_count" in model["feature_descriptions"]
    lo, mid, hi = model["feature_ranges"]["acoustic.pause_count"]
    assert lo <= mid <= hi
    card = client.get("/v1/card")
    assert card.status_code == 200 and card.headers["content-type"].startswith("text/markdown")
    assert "| Pearson r |" in card.text


def test_evaluate_report_carries_the_figures_as_a_card(tone_dataset, tmp_path):
    result = CliRunner().invoke(app, ["evaluate", str(tone_dataset), "-a", str(tone_dataset.parent / "wav"), "-f",
                                      "acoustic", "--trials", "0", "--folds", "3", "--repeats", "1", "--report",
                                      str(tmp_path / "rep"), "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    card = (tmp_path / "rep" / "model-card.md").read_text()
    assert "# speechgrade evaluation: label" in card and "| Pearson r |" in card and "## Abstaining" not in card
