import numpy as np
import pandas as pd
from audiogen import speechlike, write

import speechgrade as sg
from speechgrade.duplicates import combine_groups, fingerprint, similarity


def test_reencoded_and_trimmed_copies_are_found_but_different_clips_are_not(tmp_path, cache_dir):
    d = tmp_path / "wav"
    base = speechlike(4.0, seed=1, syllables_per_s=3.3)
    write(d / "a.wav", base)
    write(d / "a_2.wav", base, "aac")                      # re-encoded, `_2` suffix
    write(d / "a_trim.wav", base[8000:-4000])              # trimmed
    write(d / "b.wav", speechlike(4.0, seed=2, syllables_per_s=3.1))
    write(d / "c.wav", speechlike(4.0, seed=3, f0=200))
    write(d / "c_copy.wav", speechlike(4.0, seed=3, f0=200))  # exact copy
    names = ["a", "a_2", "a_trim", "b", "c", "c_copy"]
    pd.DataFrame({"filename": names, "label": [3, 3, 3, 2, 4, 4]}).to_csv(tmp_path / "d.csv", index=False)
    scorer = sg.Scorer("acoustic", "ridge", trials=0)
    prepared = scorer.prepare(sg.load_dataset(tmp_path / "d.csv", d))
    clusters = sorted(sorted(c) for c in prepared.duplicates)
    assert clusters == [["a", "a_2", "a_trim"], ["c", "c_copy"]]
    g = dict(zip(prepared.names, prepared.groups))
    assert g["a"] == g["a_2"] == g["a_trim"] and g["c"] == g["c_copy"] and len({g["a"], g["b"], g["c"]}) == 3
    off = sg.Scorer("acoustic", "ridge", trials=0, group_duplicates=False).prepare(
        sg.load_dataset(tmp_path / "d.csv", d))
    assert off.duplicates == [] and off.groups is None


def test_similarity_is_symmetric_and_low_for_unrelated_audio():
    a, b = fingerprint(speechlike(3.0, seed=5)), fingerprint(speechlike(3.0, seed=6, syllables_per_s=2.5))
    assert similarity(a, a) > 0.99
    assert abs(similarity(a, b) - similarity(b, a)) < 1e-6 and similarity(a, b) < 0.6


def test_user_groups_and_duplicate_clusters_combine():
    groups = combine_groups(["a", "b", "c", "d"], np.array(["s1", "s1", "s2", "s3"]), [["b", "c"]])
    assert groups[0] == groups[1] == groups[2] != groups[3]
