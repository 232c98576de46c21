"""Grouping tasks: k-means over relevance rows (Section 3.3), stability, agreement between groupings.

A relevance matrix is a square DataFrame with index = source task and columns = target task (the
orientation of the paper's Tables 2 and 3 and of everything hmnet.analysis.relevance returns). Section 3.3 treats
a source task's scores over all targets, ``r_{S,T1} .. r_{S,Tn}``, as its features, so the default
features are the matrix rows (diagonal included, raw values): with ``k=3`` this reproduces both
Appendix A groupings exactly from the paper's own Tables 2 and 3 (tests/test_clustering.py), provided
k-means is run with enough initialisations (a single initialisation finds them for only about half of
the seeds).

A grouping is returned in canonical form: a list of groups, each a sorted list of task names, the groups
sorted. :func:`canonical_groups` brings any grouping (a dict of groups, a list of tuples) to that form.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from threadpoolctl import threadpool_limits

from hmnet.tasks import canonical_groups, canonical_name

log = logging.getLogger(__name__)

Grouping = list[list[str]]
FEATURES = ("rows", "columns", "both")


def format_groups(groups: Grouping) -> str:
    """A one-line readable form: ``{CB, WNLI} {MNLI, QNLI, ...}``."""
    return " ".join("{" + ", ".join(g) + "}" for g in canonical_groups(groups))


def labels_to_groups(tasks: Sequence[str], labels: Sequence[int]) -> Grouping:
    """Cluster labels (one per task) to a canonical grouping."""
    if len(tasks) != len(labels):
        raise ValueError(f"{len(tasks)} tasks but {len(labels)} labels")
    groups: dict[int, list[str]] = {}
    for t, lab in zip(tasks, labels):
        groups.setdefault(int(lab), []).append(t)
    return canonical_groups(groups.values())


def group_labels(groups: Grouping, tasks: Sequence[str]) -> np.ndarray:
    """The index of each task's group (in canonical order), for `tasks` in the given order."""
    where = {t: i for i, g in enumerate(canonical_groups(groups)) for t in g}
    missing = [t for t in tasks if canonical_name(t) not in where]
    if missing:
        raise ValueError(f"task(s) {missing} are in no group of {canonical_groups(groups)}")
    return np.array([where[canonical_name(t)] for t in tasks])


def agreement(a: Grouping, b: Grouping, tasks: Sequence[str] | None = None) -> float:
    """Adjusted Rand index between two groupings (1 = identical partitions, ~0 = chance).

    Both must cover the same tasks unless `tasks` names the ones to compare on.
    """
    if tasks is None:
        ta = sorted(t for g in canonical_groups(a) for t in g)
        tb = sorted(t for g in canonical_groups(b) for t in g)
        if ta != tb:
            raise ValueError(f"the groupings cover different tasks ({sorted(set(ta) ^ set(tb))} in only one);"
                             " pass tasks= to compare on a subset")
        tasks = ta
    return float(adjusted_rand_score(group_labels(a, tasks), group_labels(b, tasks)))


def restrict(groups: Grouping, tasks: Iterable[str]) -> Grouping:
    """The grouping restricted to `tasks` (groups left empty disappear)."""
    keep = {canonical_name(t) for t in tasks}
    return canonical_groups([[t for t in g if t in keep] for g in canonical_groups(groups)])


# ---------------------------------------------------------------------------------------------------------
# k-means


def _check_matrix(matrix: pd.DataFrame) -> None:
    if not isinstance(matrix, pd.DataFrame):
        raise TypeError(f"a relevance matrix must be a pandas DataFrame, got {type(matrix).__name__}")
    if list(matrix.index) != list(matrix.columns):
        raise ValueError("a relevance matrix must be square with the same task order on both axes; "
                         f"index {list(matrix.index)} vs columns {list(matrix.columns)}")
    bad = matrix.index[matrix.isna().any(axis=1) | matrix.isna().any(axis=0).to_numpy()].tolist()
    if bad:
        raise ValueError(f"the relevance matrix has missing values in the row/column of {bad}")


def feature_matrix(matrix: pd.DataFrame, features: str = "rows", standardize: bool = False,
                   include_diagonal: bool = True) -> np.ndarray:
    """The k-means features of each task: its row (as a source), its column (as a target) or both.

    `standardize` scales each feature to zero mean and unit variance; `include_diagonal=False` drops the
    task's score with itself (rows and columns only).
    """
    _check_matrix(matrix)
    if features not in FEATURES:
        raise ValueError(f"features {features!r} is unknown; known: {', '.join(FEATURES)}")
    m = matrix.to_numpy(dtype=float)
    if features == "both":
        if not include_diagonal:
            raise ValueError("include_diagonal=False is only defined for features 'rows' or 'columns'")
        x = np.hstack([m, m.T])
    else:
        x = m if features == "rows" else m.T
        if not include_diagonal:
            n = len(x)
            x = x[~np.eye(n, dtype=bool)].reshape(n, n - 1)
    if standardize:
        sd = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return x


@dataclass(frozen=True)
class KMeansResult:
    groups: Grouping
    labels: np.ndarray
    inertia: float
    tasks: tuple[str, ...]


def kmeans(matrix: pd.DataFrame, k: int = 3, *, seed: int = 0, n_init: int = 50, features: str = "rows",
           standardize: bool = False, include_diagonal: bool = True) -> KMeansResult:
    """k-means (sklearn, Lloyd) over the tasks' relevance features; the best of `n_init` initialisations."""
    x = feature_matrix(matrix, features, standardize, include_diagonal)
    n = len(x)
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of tasks ({n}), got {k}")
    if n_init < 1:
        raise ValueError(f"n_init must be at least 1, got {n_init}")
    # 13 points: threads only cost (and thrash on a shared machine); one thread gives the same result.
    with threadpool_limits(limits=1):
        km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x)
    tasks = tuple(str(t) for t in matrix.index)
    return KMeansResult(labels_to_groups(tasks, km.labels_), km.labels_, float(km.inertia_), tasks)


def kmeans_groups(matrix: pd.DataFrame, k: int = 3, **kwargs) -> Grouping:
    """The canonical grouping k-means finds; keyword arguments as :func:`kmeans`."""
    return kmeans(matrix, k, **kwargs).groups


def silhouette_table(matrix: pd.DataFrame, ks: Iterable[int] = range(2, 7), **kwargs) -> pd.DataFrame:
    """Silhouette score and inertia of the k-means solution for each k (2 <= k <= n-1), to help choose k."""
    rows = []
    x = feature_matrix(matrix, kwargs.get("features", "rows"), kwargs.get("standardize", False),
                       kwargs.get("include_diagonal", True))
    for k in ks:
        if not 2 <= k <= len(x) - 1:
            raise ValueError(f"the silhouette needs 2 <= k <= {len(x) - 1}, got {k}")
        res = kmeans(matrix, k, **kwargs)
        rows.append({"k": k, "silhouette": float(silhouette_score(x, res.labels)), "inertia": res.inertia,
                     "groups": format_groups(res.groups)})
    return pd.DataFrame(rows).set_index("k")


def reproduction_search(matrix: pd.DataFrame, target: Grouping, ks: Iterable[int] = (3,),
                        seeds: Iterable[int] = range(20), n_inits: Iterable[int] = (1, 50)) -> pd.DataFrame:
    """Try the k-means variants (features, standardisation, diagonal, k, n_init, seed) against `target`.

    One row per variant (seeds summarised): ARI of the solution with the first seed, best and mean ARI and
    the share of seeds that reproduce `target` exactly. Sorted best first.
    """
    seeds = list(seeds)
    rows = []
    variants = [("rows", s, d) for s in (False, True) for d in (True, False)]
    variants += [("columns", s, d) for s in (False, True) for d in (True, False)]
    variants += [("both", s, True) for s in (False, True)]
    for k in ks:
        for n_init in n_inits:
            for features, standardize, diag in variants:
                aris = [agreement(kmeans_groups(matrix, k, seed=s, n_init=n_init, features=features,
                                                standardize=standardize, include_diagonal=diag), target)
                        for s in seeds]
                rows.append({"k": k, "n_init": n_init, "features": features, "standardize": standardize,
                             "diagonal": diag, "ari_seed0": aris[0], "ari_max": max(aris),
                             "ari_mean": float(np.mean(aris)),
                             "exact_share": float(np.mean(np.isclose(aris, 1.0)))})
    df = pd.DataFrame(rows)
    return df.sort_values(["ari_seed0", "exact_share", "ari_mean"], ascending=False).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------------
# stability


def coassignment(groupings: Sequence[Grouping], tasks: Sequence[str]) -> pd.DataFrame:
    """Share of the groupings in which each pair of tasks lands in the same group (1 on the diagonal)."""
    if not groupings:
        raise ValueError("coassignment needs at least one grouping")
    tasks = [str(t) for t in tasks]
    acc = np.zeros((len(tasks), len(tasks)))
    for g in groupings:
        lab = group_labels(g, tasks)
        acc += lab[:, None] == lab[None, :]
    return pd.DataFrame(acc / len(groupings), index=tasks, columns=tasks)


@dataclass
class Stability:
    """How stable a grouping is across k-means seeds or bootstrap resamples.

    `groupings` lists each distinct grouping found with its count and share; `ari` holds each run's ARI
    against `reference` (the grouping on the full data / with the first seed unless given).
    """

    reference: Grouping
    runs: list[Grouping]
    coassignment: pd.DataFrame
    ari: np.ndarray
    groupings: pd.DataFrame = field(repr=False)

    @property
    def mean_ari(self) -> float:
        return float(np.mean(self.ari))

    @property
    def reproduced_share(self) -> float:
        """Share of runs whose grouping equals the reference exactly."""
        return float(np.mean([r == self.reference for r in self.runs]))


def stability(runs: Sequence[Grouping], tasks: Sequence[str], reference: Grouping | None = None) -> Stability:
    """Summarise a list of groupings of the same tasks (see :class:`Stability`)."""
    runs = [canonical_groups(r) for r in runs]
    reference = canonical_groups(reference) if reference is not None else runs[0]
    counts = Counter(format_groups(r) for r in runs)
    table = pd.DataFrame([{"groups": g, "count": c, "share": c / len(runs)} for g, c in counts.most_common()])
    ari = np.array([agreement(r, reference, tasks) for r in runs])
    return Stability(reference, runs, coassignment(runs, tasks), ari, table)


def seed_stability(matrix: pd.DataFrame, k: int = 3, seeds: Iterable[int] = range(50), *, n_init: int = 1,
                   reference: Grouping | None = None, **kwargs) -> Stability:
    """Groupings over many k-means seeds (each with `n_init` initialisations; 1 shows the raw spread)."""
    runs = [kmeans_groups(matrix, k, seed=s, n_init=n_init, **kwargs) for s in seeds]
    if reference is None:
        reference = kmeans_groups(matrix, k, n_init=max(50, n_init), **kwargs)
    return stability(runs, list(matrix.index), reference)


def bootstrap_stability(matrices: Iterable[pd.DataFrame], k: int = 3, *, reference: Grouping | None = None,
                        seed: int = 0, n_init: int = 50, **kwargs) -> Stability:
    """Groupings of resampled relevance matrices (e.g. hmnet.relevance.bootstrap_vocab_matrices)."""
    runs, tasks = [], None
    for m in matrices:
        tasks = list(m.index) if tasks is None else tasks
        runs.append(kmeans_groups(m.loc[tasks, tasks], k, seed=seed, n_init=n_init, **kwargs))
    if not runs:
        raise ValueError("bootstrap_stability needs at least one matrix")
    return stability(runs, tasks, reference)
