"""Verdicts on paired differences, as protocol v2 registers them: Holm within a family, our effect beside the
paper's, and what an unresolved comparison would need.

A comparison is a list of per-seed paired differences in the direction the paper claims (positive: as the paper
says) and the paper's own effect in the same units. Its tests are two-sided one-sample t-tests over seeds:

- against zero: is there an effect at all?
- against the paper's effect: is ours different from the paper's?

Within a family (the comparisons of one claim), each set of p-values is adjusted with Holm's step-down method,
and a comparison's class follows from the adjusted values at ``alpha``:

- **supported**: zero rejected, and our effect is positive;
- **contradicted**: zero rejected, and our effect is negative;
- **smaller than the paper's**: zero not rejected, the paper's effect rejected (a comparison without the
  paper's effect, NaN, cannot be classed so);
- **not resolved**: neither rejected. The minimum detectable effect at this n (80% power) and the seeds a
  resolving interval would need (half-width under half the paper's effect, from the observed spread) say
  how far away a decision is;
- **not run**: no seed holds the runs.

A single seed gives no test: not resolved, with no spread to plan from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

SUPPORTED, CONTRADICTED, SMALLER, UNRESOLVED, NOT_RUN = (
    "supported", "contradicted", "smaller than the paper's", "not resolved", "not run")
VERDICTS = (SUPPORTED, CONTRADICTED, SMALLER, UNRESOLVED, NOT_RUN)
ALPHA = 0.05
POWER = 0.8
MAX_SEEDS = 1000  # seeds_needed gives up beyond this


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family's p-values (NaN stays NaN and is left out of the family)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(len(p), np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = len(finite)
    running = 0.0
    for rank, i in enumerate(finite[np.argsort(p[finite], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def _t_p(d: np.ndarray, value: float) -> float:
    """Two-sided p-value of a one-sample t-test of mean(d) == value (NaN below two seeds or with no spread
    and the mean at the value)."""
    n = len(d)
    if n < 2:
        return float("nan")
    sd = d.std(ddof=1)
    if sd == 0:
        return 1.0 if d.mean() == value else 0.0
    t = (d.mean() - value) / (sd / math.sqrt(n))
    return float(2 * stats.t.sf(abs(t), n - 1))


def minimum_detectable_effect(sd: float, n: int, m: int = 1, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest true effect a two-sided t-test at level alpha/m detects with `power`, at n seeds."""
    if n < 2 or not np.isfinite(sd):
        return float("nan")
    df = n - 1
    return float((stats.t.ppf(1 - alpha / (2 * m), df) + stats.t.ppf(power, df)) * sd / math.sqrt(n))


def seeds_needed(sd: float, half_width: float, m: int = 1, alpha: float = ALPHA) -> int | None:
    """The fewest seeds whose interval at level alpha/m is narrower than ±`half_width`, if the spread stays
    `sd` (None when the spread is unknown, or beyond :data:`MAX_SEEDS`)."""
    if not np.isfinite(sd) or half_width <= 0:
        return None
    if sd == 0:
        return 2
    for n in range(2, MAX_SEEDS + 1):
        if stats.t.ppf(1 - alpha / (2 * m), n - 1) * sd / math.sqrt(n) < half_width:
            return n
    return None


@dataclass(frozen=True)
class Comparison:
    """One comparison of a family: our per-seed differences, the paper's effect and the tests' results."""

    name: str
    paper: float
    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    p_zero: float
    p_paper: float
    p_zero_holm: float = float("nan")
    p_paper_holm: float = float("nan")
    family_size: int = 1
    verdict: str = NOT_RUN

    @property
    def mde(self) -> float:
        return minimum_detectable_effect(self.sd, self.n, self.family_size)

    @property
    def seeds_to_resolve(self) -> int | None:
        """Seeds whose interval would be narrower than half the paper's effect (so it cannot hold both zero
        and the paper's effect), at the observed spread; None without a paper's effect or a spread."""
        if not np.isfinite(self.paper):
            return None
        return seeds_needed(self.sd, abs(self.paper) / 2, self.family_size)

    def short(self) -> str:
        """Numbers, not sentences: ours with its raw interval, the paper's, the adjusted p-values."""
        paper = f"paper {self.paper:+.2g}" if np.isfinite(self.paper) else "no paper number"
        if self.n == 0:
            return f"{self.name}: not run ({paper})"
        if self.n == 1:
            return f"{self.name}: {self.mean:+.2f} (1 seed; {paper})"
        text = (f"{self.name}: {self.mean:+.2f} [{self.ci_low:+.2f}, {self.ci_high:+.2f}] n={self.n}; "
                f"{paper}; p0 {self.p_zero:.3f}")
        if self.family_size > 1:
            text += f" (Holm {self.p_zero_holm:.3f})"
        if self.verdict == UNRESOLVED:
            text += f"; MDE {self.mde:.2f}"
            if np.isfinite(self.paper):
                need = self.seeds_to_resolve
                text += f"; seeds to resolve ≈{need if need else f'>{MAX_SEEDS}'}"
        return text


def compare(name: str, diffs: Sequence[float], paper: float) -> Comparison:
    """One comparison's statistics before any family adjustment (NaN differences are dropped)."""
    d = np.asarray([x for x in diffs if np.isfinite(x)], dtype=float)
    n = len(d)
    if n == 0:
        nan = float("nan")
        return Comparison(name, paper, 0, nan, nan, nan, nan, nan, nan)
    mean = float(d.mean())
    if n == 1:
        nan = float("nan")
        return Comparison(name, paper, 1, mean, nan, nan, nan, nan, nan, verdict=UNRESOLVED)
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(1 - ALPHA / 2, n - 1) * sd / math.sqrt(n))
    return Comparison(name, paper, n, mean, sd, mean - half, mean + half, _t_p(d, 0.0), _t_p(d, paper))


def _classify(c: Comparison, alpha: float) -> str:
    if c.n == 0:
        return NOT_RUN
    if c.n == 1 or not np.isfinite(c.p_zero_holm):
        return UNRESOLVED
    if c.p_zero_holm < alpha:
        return SUPPORTED if c.mean > 0 else CONTRADICTED
    return SMALLER if c.p_paper_holm < alpha else UNRESOLVED


def family(comparisons: Sequence[Comparison], alpha: float = ALPHA) -> list[Comparison]:
    """The comparisons of one claim, Holm-adjusted together, each with its class."""
    m = sum(1 for c in comparisons if c.n >= 2) or 1
    zero, paper = holm([c.p_zero for c in comparisons]), holm([c.p_paper for c in comparisons])
    out = []
    for c, pz, pp in zip(comparisons, zero, paper):
        adjusted = Comparison(**{**c.__dict__, "p_zero_holm": pz, "p_paper_holm": pp, "family_size": m})
        out.append(Comparison(**{**adjusted.__dict__, "verdict": _classify(adjusted, alpha)}))
    return out


def all_of(members: Sequence[Comparison]) -> str:
    """A claim that every comparison goes the paper's way: contradicted if any is, supported if all are, not
    run if none ran; otherwise smaller than the paper's when no member is left unresolved, else not resolved."""
    kinds = {c.verdict for c in members}
    if not kinds or kinds == {NOT_RUN}:
        return NOT_RUN
    if CONTRADICTED in kinds:
        return CONTRADICTED
    if kinds == {SUPPORTED}:
        return SUPPORTED
    return UNRESOLVED if UNRESOLVED in kinds or NOT_RUN in kinds else SMALLER


def most_of(members: Sequence[Comparison]) -> str:
    """A claim about most comparisons: supported if more than half are, contradicted if more than half go the
    other way, smaller than the paper's if more than half are smaller or contradicted, not run if none ran,
    else not resolved."""
    ran = [c for c in members if c.verdict != NOT_RUN]
    if not ran:
        return NOT_RUN
    count = {k: sum(c.verdict == k for c in ran) for k in VERDICTS}
    if count[SUPPORTED] > len(ran) / 2:
        return SUPPORTED
    if count[CONTRADICTED] > len(ran) / 2:
        return CONTRADICTED
    return SMALLER if count[SMALLER] + count[CONTRADICTED] > len(ran) / 2 else UNRESOLVED


# ---------------------------------------------------------------------------------------------------------
# a claim of the ledger: a family of comparisons and its verdict

# Where the paper prints no number, a protocol may register the effect a comparison is held against
# ("reference_effects" in its analysis); without one those comparisons have no paper's effect and cannot be
# "smaller than the paper's".
NO_REFERENCE = float("nan")


@dataclass(frozen=True)
class ClaimResult:
    """One row of the ledger: the claim, what the paper says, its comparisons (Holm-adjusted together), the
    verdict, a short note beside the numbers, and the unit its effects are measured in."""

    claim: str
    paper: str
    section: str  # the page that shows it ("03")
    members: tuple[Comparison, ...]
    verdict: str
    note: str = ""
    unit: str = "points"

    @property
    def evidence(self) -> str:
        parts = [m.short() for m in self.members] or ["no seed holds the runs"]
        return "; ".join(parts) + (f" | {self.note}" if self.note else "")


def decide(claim: str, paper: str, section: str, members: Sequence[Comparison], how=all_of, note: str = "",
           unit: str = "points") -> ClaimResult:
    """A claim from its comparisons: Holm-adjusted as one family, decided by `how` (:func:`all_of`,
    :func:`most_of`); not run without comparisons."""
    adjusted = tuple(family(members))
    return ClaimResult(claim, paper, section, adjusted, how(adjusted) if adjusted else NOT_RUN, note, unit)


def claim_row(c: ClaimResult) -> dict:
    return {"claim": c.claim, "paper": c.paper, "verdict": c.verdict, "evidence": c.evidence, "section": c.section,
            "unit": c.unit, "note": c.note, "members": [m.__dict__ for m in c.members]}


def held_against(reference: float) -> str:
    """What a comparison without a printed number is held against, in words."""
    if reference != reference:  # NaN
        return "no number printed, and this protocol registered no reference effect"
    return f"no number printed: held against the registered {reference:g}"


def verdict_counts(frame) -> dict[str, int]:
    """How many claims of a ledger frame have each verdict."""
    return {v: int((frame["verdict"] == v).sum()) for v in VERDICTS}


__all__ = ["Comparison", "compare", "family", "holm", "all_of", "most_of", "minimum_detectable_effect",
           "seeds_needed", "VERDICTS", "SUPPORTED", "CONTRADICTED", "SMALLER", "UNRESOLVED", "NOT_RUN",
           "ClaimResult", "decide", "claim_row", "held_against", "verdict_counts", "NO_REFERENCE"]
