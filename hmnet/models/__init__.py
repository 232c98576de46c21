"""Models: HMNet and the three baselines of Section 4.2, all called as ``model(task, **batch)`` along one path.

- :mod:`~hmnet.models.config`: HMNetConfig, SkillNetConfig and the SkillNet skill map;
- :mod:`~hmnet.models.layers`: the TaskModel base (``path_modules`` / ``path_parameters``), heads, layer copies;
- :mod:`~hmnet.models.model`: HMNet (multi-task included), SingleTaskModel, SkillNetModel, :func:`build_model`;
- :mod:`~hmnet.models.io`: :func:`save_model` / :func:`load_model` (safetensors + JSON);
- :mod:`~hmnet.models.pretrained`: :class:`HMNetForTasks`, any of the four in the Hugging Face format
  (``save_pretrained``, ``from_pretrained``, ``push_to_hub``, ``predict``), with its model card (:mod:`.card`);
- :mod:`~hmnet.models.counting`: parameters activated per task and overall.
"""

from hmnet.choices import METHODS, default_split
from hmnet.models.config import SKILL_CATEGORIES, SKILLS, TASK_SKILLS, HMNetConfig, SkillNetConfig
from hmnet.models.counting import ParameterCount, count_model
from hmnet.models.io import (CONFIG_FILE, MODEL_FORMAT, WEIGHTS_FILE, CheckpointMismatchError, load_model,
                             load_weights, read_model_config, save_model)
from hmnet.models.layers import SkillFFN, SkillLayer, TaskHead, TaskModel, TaskOutput
from hmnet.models.model import HMNet, SingleTaskModel, SkillNetModel, build_model, model_from_spec
from hmnet.models.pretrained import HMNetForTasks, PredictError

__all__ = ["METHODS", "default_split", "SKILLS", "SKILL_CATEGORIES", "TASK_SKILLS", "HMNetConfig", "SkillNetConfig",
           "ParameterCount", "count_model", "CONFIG_FILE", "MODEL_FORMAT", "WEIGHTS_FILE", "CheckpointMismatchError",
           "load_model", "load_weights", "read_model_config", "save_model", "SkillFFN", "SkillLayer", "TaskHead",
           "TaskModel", "TaskOutput", "HMNet", "SingleTaskModel", "SkillNetModel", "build_model", "model_from_spec",
           "HMNetForTasks", "PredictError"]
