"""The cross-check of Table 1's single-task column (page 03): the same single-task runs trained with the
Hugging Face ``Trainer`` (:mod:`hmnet.train.hf_check`) on a few tasks. Its records sit beside the store's
results (``<store>/hf_check``), named by the run they mirror."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from hmnet.sections.base import Plan, Section
from hmnet.sections.parameters import RunParameters
from hmnet.sections.table1 import SECTION as TABLE1

NAME = "hf_check"


class HFCheck(Section):
    name = NAME
    page = "03"
    title = "Table 1's single-task column with the Hugging Face Trainer"
    trainer = "hf"

    def plan(self, params: RunParameters, extra: Mapping[str, Any]) -> Plan:
        from hmnet.train.hf_check import HF_TASKS

        singles = [c for c in TABLE1.plan(params, extra).runs if c.tag("role") == "single" and c.tasks[0] in HF_TASKS]
        return Plan(tuple(replace(c, tags={**c.tags, "section": NAME}) for c in singles))

    def is_stored(self, config, store: Path) -> bool:
        from hmnet.train.hf_check import read_record, record_path

        return read_record(record_path(store, config), config) is not None


SECTION = HFCheck()

__all__ = ["SECTION"]
