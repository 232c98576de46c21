"""Clustering: canonical groupings, agreement, k-means on the paper's own Tables 2 and 3, stability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hmnet.analysis import clustering as cl
from hmnet.paper import PAPER_GROUPINGS, table2, table3


def test_canonical_groups_and_format():
    g = cl.canonical_groups({"x": ["SST2", "IMDB"], "y": ("MNLI",), "z": []})
    assert g == [["IMDB", "SST-2"], ["MNLI"]]
    assert cl.format_groups(g) == "{IMDB, SST-2} {MNLI}"
    with pytest.raises(ValueError, match="more than one group"):
        cl.canonical_groups([["RTE", "CB"], ["RTE"]])
    assert cl.labels_to_groups(["a", "b", "c"], [1, 0, 1]) == [["a", "c"], ["b"]]
    assert cl.restrict([["CB", "RTE"], ["MNLI"]], ["CB", "MNLI"]) == [["CB"], ["MNLI"]]


def test_agreement_is_label_permutation_invariant():
    a = [["a", "b"], ["c", "d"]]
    assert cl.agreement(a, [["c", "d"], ["b", "a"]]) == 1.0
    assert cl.agreement(a, [["a", "c"], ["b", "d"]]) < 0
    with pytest.raises(ValueError, match="different tasks"):
        cl.agreement(a, [["a", "b", "c"]])
    assert cl.agreement(a, [["a", "b", "x"], ["c", "d"]], tasks=["a", "b", "c", "d"]) == 1.0


def test_coassignment():
    co = cl.coassignment([[["a", "b"], ["c"]], [["a"], ["b", "c"]]], ["a", "b", "c"])
    assert co.loc["a", "b"] == 0.5 and co.loc["a", "c"] == 0.0 and co.loc["b", "c"] == 0.5
    assert np.allclose(np.diag(co), 1.0)


def test_feature_matrix_orientation_and_errors():
    m = pd.DataFrame([[0, 1], [2, 3]], index=["a", "b"], columns=["a", "b"], dtype=float)
    assert cl.feature_matrix(m).tolist() == [[0, 1], [2, 3]]
    assert cl.feature_matrix(m, "columns").tolist() == [[0, 2], [1, 3]]
    assert cl.feature_matrix(m, include_diagonal=False).tolist() == [[1], [2]]
    assert cl.feature_matrix(m, "both").shape == (2, 4)
    with pytest.raises(ValueError, match="features"):
        cl.feature_matrix(m, "diagonal")
    with pytest.raises(ValueError, match="square"):
        cl.feature_matrix(m.loc[:, ["b", "a"]])
    with pytest.raises(ValueError, match="missing values.*'b'"):
        cl.feature_matrix(m.where(m != 3))
    with pytest.raises(ValueError, match="k must be"):
        cl.kmeans(m, 3)


@pytest.mark.parametrize("table, name", [(table2, "data"), (table3, "model")])
def test_kmeans_on_paper_tables_reproduces_appendix_a(table, name):
    """Section 3.3 as stated: each source task's row (diagonal included, raw percent), k-means with k=3.

    The best of 50 initialisations reproduces Appendix A exactly for both tables. It is the lowest-inertia
    solution; a single initialisation finds it for only part of the seeds (see the next test).
    """
    groups = cl.kmeans_groups(table(), 3, seed=0, n_init=50)
    print(f"\n{name}: {cl.format_groups(groups)}")
    assert groups == PAPER_GROUPINGS[name]
    for seed in range(5):
        assert cl.kmeans_groups(table(), 3, seed=seed, n_init=50) == PAPER_GROUPINGS[name]


def test_appendix_a_findings_orientation_and_initialisation():
    """What else was tried, and why rows-with-diagonal-and-many-inits is the reading that works."""
    t2, t3 = table2(), table3()
    # single k-means initialisations: the Appendix-A grouping for only a share of the seeds
    s2 = cl.seed_stability(t2, 3, seeds=range(40), n_init=1, reference=PAPER_GROUPINGS["data"])
    s3 = cl.seed_stability(t3, 3, seeds=range(40), n_init=1, reference=PAPER_GROUPINGS["model"])
    print(f"\nsingle-init seeds reproducing Appendix A: table2 {s2.reproduced_share:.2f}, "
          f"table3 {s3.reproduced_share:.2f}")
    assert 0.2 < s2.reproduced_share < 1 and 0.2 < s3.reproduced_share < 1
    # Table 3's columns (a task as a target) do not give the model grouping; nor do rows without the
    # diagonal: the 0 on the diagonal is part of the features that reproduce it.
    cols = cl.agreement(cl.kmeans_groups(t3, 3, features="columns"), PAPER_GROUPINGS["model"])
    nodiag = cl.agreement(cl.kmeans_groups(t3, 3, include_diagonal=False), PAPER_GROUPINGS["model"])
    assert cols < 0.2 and nodiag < 0.5
    # the full search ranks the rows/raw/diagonal reading first for both tables
    for t, name in ((t2, "data"), (t3, "model")):
        search = cl.reproduction_search(t, PAPER_GROUPINGS[name], seeds=range(3), n_inits=(50,))
        best = search.iloc[0]
        assert best["ari_seed0"] == 1.0
        hit = search.query("features == 'rows' and not standardize and diagonal")
        assert hit["ari_seed0"].item() == 1.0


def test_silhouette_and_stability_summaries():
    sil = cl.silhouette_table(table2(), ks=[2, 3, 4])
    assert list(sil.index) == [2, 3, 4] and sil["silhouette"].between(-1, 1).all()
    with pytest.raises(ValueError, match="silhouette"):
        cl.silhouette_table(table2(), ks=[1])
    st = cl.seed_stability(table3(), 3, seeds=range(10), n_init=50)
    assert st.mean_ari == 1.0 and st.groupings["share"].sum() == pytest.approx(1.0)
    assert st.coassignment.loc["CB", "WNLI"] == 1.0 and st.coassignment.loc["CB", "MNLI"] == 0.0
    noisy = [table2() + np.random.default_rng(i).normal(0, 3, (13, 13)) for i in range(5)]
    boot = cl.bootstrap_stability(noisy, 3, reference=PAPER_GROUPINGS["data"])
    assert len(boot.runs) == 5 and boot.ari.shape == (5,)
