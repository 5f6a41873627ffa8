"""The model's configuration: one frozen, validated dataclass whose ranges the CLI reads too; runtime apart."""

import dataclasses

import pytest

import speechgrade as sg
from speechgrade.config import CONFIG_FIELDS, Runtime, ScorerConfig
from speechgrade.errors import ConfigError


def test_settings_out_of_range_are_refused_by_name():
    for bad, name in (({"folds": 1}, "folds"), ({"coverage": 1.0}, "coverage"), ({"augment": 21}, "augment"),
                      ({"trials": 1.5}, "trials"), ({"pca": 0}, "pca"), ({"timeout": 0}, "timeout"),
                      ({"snap": float("nan")}, "snap"), ({"label_range": (5, 1)}, "label-range")):
        with pytest.raises(ConfigError, match=name):
            ScorerConfig(**bad)
    with pytest.raises(ConfigError, match="batch_size"):
        Runtime(batch_size=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'trails'"):
        sg.Scorer("acoustic", trails=3)


def test_config_is_frozen_and_runtime_is_kept_apart():
    scorer = sg.Scorer("acoustic", "ridge", trials=0, cache=False, batch_size=4, label_range=(1, 5))
    assert scorer.config == ScorerConfig("acoustic", "ridge", trials=0, label_range=(1, 5))
    assert scorer.runtime == Runtime(cache=False, batch_size=4)
    assert "cache" not in scorer.get_config() and scorer.get_config()["label_range"] == [1, 5]
    assert scorer.trials == 0 and scorer.batch_size == 4  # the old attribute names still read
    with pytest.raises(dataclasses.FrozenInstanceError):
        scorer.config.trials = 3
    assert sg.Scorer(**scorer.get_config()).config == scorer.config


def test_the_cli_reads_its_ranges_and_help_from_the_config():
    import typer
    from typer.testing import CliRunner

    from speechgrade.cli import app

    assert CliRunner().invoke(app, ["evaluate", "x.csv", "--folds", "1"]).exit_code == 2  # refused before any work
    params = {p.name: p for p in typer.main.get_command(app).commands["evaluate"].params}
    for name in ("trials", "folds", "inner_folds", "augment", "pca"):
        meta = CONFIG_FIELDS[name].metadata
        assert (params[name].min, params[name].max) == (meta["low"], meta["high"])
        assert params[name].help == meta["help"]
    assert params["coverage"].help == CONFIG_FIELDS["coverage"].metadata["help"]


def test_evaluate_leaves_the_scorer_alone_and_fit_takes_its_figures(tone_dataset, cache_dir):
    ds = sg.load_dataset(tone_dataset, tone_dataset.parent / "wav")
    scorer = sg.Scorer("acoustic", "ridge", trials=0, cache=cache_dir)
    data = scorer.prepare(ds)
    ev = scorer.evaluate(ds, folds=3, repeats=1, prepared=data)
    assert not hasattr(scorer, "cv_metrics_") and not hasattr(scorer, "models_")
    assert scorer.fit(ds, prepared=data).evaluation_ is None
    assert scorer.fit(ds, prepared=data, evaluation=ev).evaluation_ == ev.summary
    assert scorer.manifest().cv_metrics == ev.summary


def test_presets_and_features_merge_in_the_api_not_the_cli():
    from speechgrade.presets import preset, scorer_options

    assert scorer_options("acoustic") == {"featurizers": "acoustic", "ensemble": "auto"}
    assert scorer_options("acoustic", ensemble="none")["ensemble"] is None
    large = preset("large")
    assert scorer_options(preset_name="large") == {"featurizers": large.features, "ensemble": "stack"}
    assert scorer_options(preset_name="large", ensemble="mean")["ensemble"] == "mean"
    with pytest.raises(ConfigError, match="not both"):
        scorer_options("acoustic", preset_name="large")


def test_one_writer_for_one_label_and_several(tone_dataset, tmp_path):
    import json

    import pandas as pd

    from speechgrade.cli import _write_evaluation

    frame = pd.read_csv(tone_dataset).assign(other=lambda f: 6 - f["label"])
    frame.to_csv(tmp_path / "two.csv", index=False)
    for labels in ("label", "label,other"):
        ds = sg.load_dataset(tmp_path / "two.csv", tone_dataset.parent / "wav", label_column=labels)
        ev = sg.Scorer("acoustic", "ridge", trials=0, cache=tmp_path / "c").evaluate(ds, folds=3, repeats=1)
        out = tmp_path / labels.replace(",", "-")
        _write_evaluation(ev, out / "m.json", out / "report", out / "oof.csv")
        oof = pd.read_csv(out / "oof.csv")
        assert json.loads((out / "m.json").read_text()) == json.loads(json.dumps(ev.to_json(), default=str))
        assert ("label" in oof.columns) == ("," in labels) and (out / "report" / "index.html").is_file()
        assert len(oof) == len(ds.table) * len(ds.labels)
