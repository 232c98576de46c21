"""Protocol v2's verdicts: Holm within a family, our effect against zero and against the paper's, and the
numbers an unresolved comparison gets (minimum detectable effect, seeds to resolve)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from hmnet.analysis.verdicts import (CONTRADICTED, NOT_RUN, SMALLER, SUPPORTED, UNRESOLVED, all_of, compare,
                                     family, holm, minimum_detectable_effect, most_of, seeds_needed)


def test_holm_matches_the_textbook_example():
    # Holm (1979) step-down: sorted p * (m - rank), made monotone; order kept.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(holm([0.2, float("nan")])[1]) and holm([0.2, float("nan")])[0] == 0.2


def test_the_four_classes():
    up = compare("up", [1.0, 1.2, 0.9, 1.1, 1.05], paper=1.0)
    down = compare("down", [-1.0, -1.2, -0.9, -1.1, -1.05], paper=1.0)
    small = compare("small", [0.05, -0.02, 0.03, 0.0, 0.01, -0.01], paper=2.0)
    vague = compare("vague", [3.0, -2.5, 1.0], paper=1.0)
    got = {c.name: c.verdict for c in family([up, down, small, vague])}
    assert got == {"up": SUPPORTED, "down": CONTRADICTED, "small": SMALLER, "vague": UNRESOLVED}


def test_holm_can_turn_a_raw_rejection_into_none():
    diffs = [0.6, 1.3, 0.4, 1.0]  # raw p vs zero about 0.02
    raw = compare("x", diffs, paper=5.0)
    assert raw.p_zero < 0.05
    alone = family([raw])[0]
    assert alone.verdict == SUPPORTED
    crowd = family([raw] + [compare(f"n{i}", [0.3, -0.2, 0.1, 0.0], paper=5.0) for i in range(6)])[0]
    assert crowd.p_zero_holm > 0.05 and crowd.verdict != SUPPORTED
    assert crowd.family_size == 7


def test_interval_is_student_t_and_p_values_agree_with_scipy():
    d = [0.3, 0.8, -0.1, 0.5]
    c = compare("d", d, paper=1.2)
    half = stats.t.ppf(0.975, 3) * np.std(d, ddof=1) / 2
    assert (c.ci_low, c.ci_high) == pytest.approx((np.mean(d) - half, np.mean(d) + half))
    assert c.p_zero == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue)
    assert c.p_paper == pytest.approx(stats.ttest_1samp(d, 1.2).pvalue)


def test_one_seed_and_no_seed():
    assert family([compare("one", [0.7], paper=1.0)])[0].verdict == UNRESOLVED
    assert family([compare("none", [], paper=1.0)])[0].verdict == NOT_RUN
    assert "not run" in compare("none", [], paper=1.0).short()


def test_unresolved_comparisons_say_what_resolving_them_needs():
    c = family([compare("vague", [0.9, -0.3, 0.4], paper=1.2)])[0]
    assert c.verdict == UNRESOLVED
    sd = np.std([0.9, -0.3, 0.4], ddof=1)
    assert c.mde == pytest.approx((stats.t.ppf(0.975, 2) + stats.t.ppf(0.8, 2)) * sd / math.sqrt(3))
    n = c.seeds_to_resolve
    assert stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n) < 0.6 <= stats.t.ppf(0.975, n - 2) * sd / math.sqrt(n - 1)
    assert "MDE" in c.short() and "seeds to resolve" in c.short()


def test_seeds_needed_and_mde_shrink_with_more_seeds_and_grow_with_the_family():
    assert seeds_needed(1.0, 0.5) < seeds_needed(1.0, 0.5, m=5)
    assert minimum_detectable_effect(1.0, 10) < minimum_detectable_effect(1.0, 5)
    assert seeds_needed(float("nan"), 0.5) is None and seeds_needed(100.0, 0.01) is None


def test_compound_claims():
    s = family([compare("a", [1, 1.1, 0.9, 1.2], 1.0)])[0]
    u = family([compare("b", [2, -1, 0.5], 1.0)])[0]
    c = family([compare("c", [-1, -1.1, -0.9, -1.2], 1.0)])[0]
    sm = family([compare("d", [0.02, -0.01, 0.0, 0.01, 0.03], 3.0)])[0]
    assert all_of([s, s]) == SUPPORTED and all_of([s, u]) == UNRESOLVED and all_of([s, c, u]) == CONTRADICTED
    assert all_of([s, sm]) == SMALLER and all_of([]) == NOT_RUN
    assert most_of([s, s, u]) == SUPPORTED and most_of([c, c, s]) == CONTRADICTED
    assert most_of([sm, c, s]) == SMALLER and most_of([u, u, s]) == UNRESOLVED
