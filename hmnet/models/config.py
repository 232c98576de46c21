"""Model configurations: HMNetConfig and SkillNetConfig (validated in __post_init__), the SkillNet skill map."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from torch import nn

from hmnet.choices import POOLINGS
from hmnet.tasks import CATEGORIES, PAIR, SINGLE, TASKS, TaskRegistry, TaskSpec, UnknownTaskError, get_task

log = logging.getLogger(__name__)

# SkillNet-NLU's seven skills and the task-to-skill map assumed for the SkillNet-style baseline
# (module docstring explains the choice).
SKILLS: dict[str, str] = {
    "s1": "sentence semantics",
    "s2": "pair interaction",
    "s3": "sentiment",
    "s4": "similarity",
    "s5": "question understanding",
    "s6": "passage reasoning",
    "s7": "general",
}
# The SkillNet-style baseline's five task categories ("each requiring a unique skill combination", Section 4.2)
# and their skills; a task names its category in its spec (hmnet.tasks.TaskSpec.skill_category).
SKILLNET_CATEGORIES: dict[str, tuple[str, ...]] = {
    "natural language inference": ("s1", "s2", "s7"),
    "question-sentence inference": ("s2", "s5", "s7"),
    "sentiment": ("s1", "s3", "s7"),
    "similarity and paraphrase": ("s2", "s4", "s7"),
    "question answering": ("s5", "s6", "s7"),
}
# Derived from the task specs: category -> (its tasks, its skills), and task -> skills.
SKILL_CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    cat: (tuple(t for t, spec in TASKS.items() if spec.skill_category == cat), skills)
    for cat, skills in SKILLNET_CATEGORIES.items()}
TASK_SKILLS: dict[str, tuple[str, ...]] = {
    task: SKILLNET_CATEGORIES[spec.skill_category] for task, spec in TASKS.items() if spec.skill_category}
# A task file's task: the skills of its paper category (Section 4.1), else of its input format.
CATEGORY_SKILLS: dict[str, tuple[str, ...]] = dict(zip(CATEGORIES, (("s1", "s2", "s7"), ("s1", "s3", "s7"),
                                                                    ("s2", "s4", "s7"), ("s5", "s6", "s7"))))
FORMAT_SKILLS: dict[str, tuple[str, ...]] = {SINGLE: ("s1", "s7"), PAIR: ("s2", "s7")}


def default_skills(spec: TaskSpec) -> tuple[str, ...]:
    """The skills a task activates in the SkillNet-style baseline: its SkillNet category's (the 13 name one);
    otherwise (a task file's task) its paper category's skills, or by its input format (question-passage-answer:
    s5, s6, s7)."""
    if spec.skill_category is not None:
        if spec.skill_category not in SKILLNET_CATEGORIES:
            raise ValueError(f"task {spec.name!r}: SkillNet category {spec.skill_category!r} is unknown; known: "
                             f"{', '.join(SKILLNET_CATEGORIES)}")
        return SKILLNET_CATEGORIES[spec.skill_category]
    return CATEGORY_SKILLS.get(spec.category) or FORMAT_SKILLS.get(spec.input_format, ("s5", "s6", "s7"))


# ---------------------------------------------------------------------------------------------------------
# Configuration


def canonical_task(name: str, where: str, registry: TaskRegistry | None = None) -> str:
    try:
        return get_task(name, registry).name
    except UnknownTaskError as err:
        raise UnknownTaskError(f"{where}: {err}") from None


_RESERVED_KEYS = frozenset(dir(nn.ModuleDict))


def check_key(name: object, what: str) -> str:
    """Cluster and skill names become nn.ModuleDict keys (and state-dict key parts)."""
    if not isinstance(name, str) or not name or "." in name or name in _RESERVED_KEYS:
        raise ValueError(f"{what} name {name!r} is not usable: it must be a non-empty string without '.' "
                         "that is not an attribute of nn.ModuleDict")
    return name


def num_labels_for(tasks: Sequence[str], given: Mapping[str, int] | None, where: str,
                   registry: TaskRegistry | None = None) -> dict[str, int]:
    given = {canonical_task(t, f"{where}.num_labels", registry): int(n) for t, n in (given or {}).items()}
    extra = sorted(set(given) - set(tasks))
    if extra:
        raise ValueError(f"{where}.num_labels names task(s) {extra} that are not among the tasks {list(tasks)}")
    out = {}
    for task in tasks:
        spec = get_task(task, registry)
        n = given.get(task, spec.num_labels)
        if spec.regression and n != 1:
            raise ValueError(f"{where}.num_labels[{task!r}] = {n}, but {task} is a regression task (1 output)")
        if not spec.regression and n < 2:
            raise ValueError(f"{where}.num_labels[{task!r}] = {n}; a classification task needs >= 2 labels")
        out[task] = n
    return out


def check_dropout(dropout: float | None, where: str) -> float | None:
    if dropout is not None and not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"{where}.dropout = {dropout} is not a probability in [0, 1)")
    return None if dropout is None else float(dropout)


def check_pooling(pooling: str, where: str) -> str:
    if pooling not in POOLINGS:
        raise ValueError(f"{where}.pooling = {pooling!r} is unknown; known: {', '.join(POOLINGS)}")
    return pooling


def task_tuple(tasks: Iterable[str] | str, where: str, registry: TaskRegistry | None = None) -> tuple[str, ...]:
    if isinstance(tasks, str):
        tasks = [tasks]
    names = tuple(canonical_task(t, f"{where}.tasks", registry) for t in tasks)
    if not names:
        raise ValueError(f"{where}.tasks is empty; a model needs at least one task")
    twice = sorted({t for t in names if names.count(t) > 1})
    if twice:
        raise ValueError(f"{where}.tasks lists {twice} more than once")
    return names


class JsonConfig:
    """``to_dict`` / ``from_dict`` for a config dataclass: tuples become lists (also inside mappings) and back;
    fields with ``init=False`` are derived, so they are neither written nor read, and so is ``registry`` (the
    tasks the names refer to: passed to ``from_dict``, saved as task definitions by hmnet.models.io)."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _sequences_as(getattr(self, f.name), list) for f in fields(self)
                if f.init and f.name != "registry"}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], registry: TaskRegistry | None = None):
        return cls(**{f.name: _sequences_as(data[f.name], tuple) for f in fields(cls)
                      if f.init and f.name in data and f.name != "registry"}, registry=registry)


def _sequences_as(value: Any, kind: type) -> Any:
    """`value` with its lists and tuples (also inside mappings) as `kind`: list for JSON, tuple for a config."""
    if isinstance(value, (list, tuple)):
        return kind(value)
    if isinstance(value, Mapping):
        return {k: _sequences_as(v, kind) for k, v in value.items()}
    return value


@dataclass
class HMNetConfig(JsonConfig):
    """What HMNet shares: the split ``{x, y, z}`` of the encoder's layers and the task-to-cluster map.

    ``clusters`` maps a cluster name to its tasks; every task is in exactly one cluster and every cluster
    holds at least one task. ``num_labels`` defaults to each task's TaskSpec; ``dropout`` (before the
    heads) to the encoder's ``hidden_dropout_prob``; ``pooling`` is what the heads read (``"cls"`` or
    ``"mean"``). ``x + y + z`` must equal the encoder's depth, which :meth:`check_depth` verifies when the
    model is built.
    """

    tasks: tuple[str, ...]
    clusters: dict[str, tuple[str, ...]]
    split: tuple[int, int, int]
    num_labels: dict[str, int] | None = None
    dropout: float | None = None
    pooling: str = "cls"
    registry: TaskRegistry | None = field(default=None, repr=False, compare=False)
    cluster_of: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.tasks = task_tuple(self.tasks, "HMNetConfig", self.registry)
        if not isinstance(self.clusters, Mapping) or not self.clusters:
            raise ValueError(f"HMNetConfig.clusters must be a non-empty mapping cluster -> tasks, "
                             f"got {self.clusters!r}")
        clusters: dict[str, tuple[str, ...]] = {}
        cluster_of: dict[str, str] = {}
        for name, members in self.clusters.items():
            name = check_key(name, "HMNetConfig.clusters: cluster")
            members = [members] if isinstance(members, str) else list(members)
            canon = tuple(canonical_task(t, f"HMNetConfig.clusters[{name!r}]", self.registry) for t in members)
            if not canon:
                raise ValueError(f"HMNetConfig.clusters: cluster {name!r} has no task; every cluster needs "
                                 "at least one task")
            for task in canon:
                if task not in self.tasks:
                    raise ValueError(f"HMNetConfig.clusters: cluster {name!r} lists task {task!r}, which is "
                                     f"not among the model's tasks {list(self.tasks)}")
                if task in cluster_of:
                    raise ValueError(f"HMNetConfig.clusters: task {task!r} is in two clusters, "
                                     f"{cluster_of[task]!r} and {name!r}")
                cluster_of[task] = name
            clusters[name] = canon
        missing = [t for t in self.tasks if t not in cluster_of]
        if missing:
            raise ValueError(f"HMNetConfig.clusters: task(s) {missing} have no cluster; "
                             f"clusters: {dict(clusters)}")
        self.clusters = clusters
        self.cluster_of = cluster_of
        split = tuple(self.split) if isinstance(self.split, Iterable) else ()
        if len(split) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in split):
            raise ValueError(f"HMNetConfig.split must be three non-negative integers (x shared, y cluster, "
                             f"z task-specific layers), got {self.split!r}")
        self.split = split  # type: ignore[assignment]
        self.num_labels = num_labels_for(self.tasks, self.num_labels, "HMNetConfig", self.registry)
        self.dropout = check_dropout(self.dropout, "HMNetConfig")
        self.pooling = check_pooling(self.pooling, "HMNetConfig")

    @property
    def depth(self) -> int:
        return sum(self.split)

    def check_depth(self, depth: int) -> None:
        """Raise unless ``x + y + z`` equals the encoder's number of layers."""
        x, y, z = self.split
        if x + y + z != depth:
            raise ValueError(f"HMNetConfig.split {{{x}, {y}, {z}}} has x+y+z = {x + y + z} layers, but the "
                             f"encoder has {depth}; the split must use every layer exactly once")


@dataclass
class SkillNetConfig(JsonConfig):
    """The SkillNet-style baseline: which skills every layer holds and which ones each task activates."""

    tasks: tuple[str, ...]
    task_skills: dict[str, tuple[str, ...]] | None = None  # default: TASK_SKILLS
    skills: tuple[str, ...] = tuple(SKILLS)
    num_labels: dict[str, int] | None = None
    dropout: float | None = None
    pooling: str = "cls"
    registry: TaskRegistry | None = field(default=None, repr=False, compare=False)
    min_skills: ClassVar[int] = 2

    def __post_init__(self) -> None:
        self.tasks = task_tuple(self.tasks, "SkillNetConfig", self.registry)
        self.skills = tuple(check_key(s, "SkillNetConfig.skills: skill") for s in self.skills)
        if len(set(self.skills)) != len(self.skills):
            raise ValueError(f"SkillNetConfig.skills lists a skill twice: {list(self.skills)}")
        given = ({t: default_skills(get_task(t, self.registry)) for t in self.tasks} if self.task_skills is None
                 else self.task_skills)
        given = {canonical_task(t, "SkillNetConfig.task_skills", self.registry): tuple(s) for t, s in given.items()}
        task_skills = {}
        for task in self.tasks:
            if task not in given:
                raise ValueError(f"SkillNetConfig.task_skills: task {task!r} has no skills")
            chosen = given[task]
            unknown = [s for s in chosen if s not in self.skills]
            if unknown:
                raise ValueError(f"SkillNetConfig.task_skills[{task!r}] uses unknown skill(s) {unknown}; "
                                 f"skills: {list(self.skills)}")
            if len(set(chosen)) < self.min_skills:
                raise ValueError(f"SkillNetConfig.task_skills[{task!r}] = {list(chosen)}; every task activates "
                                 f"at least {self.min_skills} distinct skills")
            task_skills[task] = tuple(dict.fromkeys(chosen))
        self.task_skills = task_skills
        self.num_labels = num_labels_for(self.tasks, self.num_labels, "SkillNetConfig", self.registry)
        self.dropout = check_dropout(self.dropout, "SkillNetConfig")
        self.pooling = check_pooling(self.pooling, "SkillNetConfig")

