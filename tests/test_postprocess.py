"""Rubric, interval and abstain rules fitted together on out-of-fold predictions, and their saved form."""

import numpy as np
import pandas as pd

from speechgrade.postprocess import PostProcessor


def test_fit_interval_and_round_trip_through_the_manifest():
    rng = np.random.default_rng(0)
    y = rng.choice(np.arange(1, 5.5, 0.5), 200)
    oof = y + rng.normal(0, 0.4, 200)
    screen = pd.DataFrame({"voiced_s": rng.uniform(5, 40, 200)})
    post = PostProcessor(snap="auto", coverage=0.8, language="base").fit(oof, y, screen)
    assert post.label_range_ == (1.0, 5.0) and post.rules_.language == "base"
    lo, hi = post.interval(post.scores(oof))
    assert np.mean((lo <= y) & (y <= hi)) >= 0.8  # conformal: at least the target (snapping adds ties)
    assert post.halfwidth_ == np.sort(np.abs(post.scores(oof) - y))[int(np.ceil(201 * 0.8)) - 1]
    again = PostProcessor.from_manifest({"label": {"name": "g", "min": 1.0, "max": 5.0}, **post.to_manifest()})
    np.testing.assert_array_equal(again.scores(oof), post.scores(oof))
    assert again.halfwidth_ == post.halfwidth_ and again.rules_ == post.rules_


def test_old_bundles_without_interval_or_abstain_still_load():
    post = PostProcessor.from_manifest({"label": {"name": "g", "min": 0.0, "max": 10.0}})
    lo, hi = post.interval(np.array([5.0]))
    assert (lo[0], hi[0]) == (0.0, 10.0) and post.rules_ is None and not post.abstain
