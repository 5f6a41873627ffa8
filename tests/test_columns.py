"""Feature column names: one module builds and parses them."""

from speechgrade import columns as cols


def test_prefixes_number_repeated_featurizers():
    assert cols.prefixes(["acoustic", "ssl", "ssl", "acoustic"]) == ["acoustic", "ssl", "ssl-2", "acoustic-2"]


def test_family_and_feature_split_at_the_first_dot():
    name = cols.column("ssl-2", "l3.t0.d7")
    assert name == "ssl-2.l3.t0.d7" and cols.family(name) == "ssl-2" and cols.feature(name) == "l3.t0.d7"
    assert cols.families(["a.x", "b.y", "a.z"]) == {"a": [0, 2], "b": [1]}
    assert cols.of_families(["a.x", "b.y", "a.z"], ["b"]) == ["b.y"]


def test_frame_summary_columns_parse_back():
    features = cols.frame_features([3, 5], 2, 2)
    assert features[:3] == ["l3.t0.d0", "l3.t0.d1", "l3.t1.d0"]
    assert cols.parse_frame(cols.column("ssl", features[-1])) == ("ssl", 5, 1, 1)
    assert cols.parse_frame("acoustic.f0_mean_hz") is None and cols.parse_frame("l1.t1.d1") is None
