"""Experiment configs: the typed schema, its checks, YAML loading with ``key=value``
overrides, and which keys make a run what it is (:mod:`experiments.config.identity`).

The resolved config is written back to each run directory, so every number a run
reports traces to a file.
"""

from experiments.config import identity
from experiments.config.loading import from_dict, load, parse_override, read_yaml, to_dict
from experiments.config.schema import (CheckpointConfig, ClockConfig, Config, ConfigError, DataConfig, EvalConfig,
                                       InitConfig, LikelihoodConfig, MeshConfig, ModelConfig, OODConfig, PriorConfig,
                                       PriorFitConfig, PriorTargetConfig, SamplerConfig, SamplingConfig,
                                       ScheduleConfig)

__all__ = ["CheckpointConfig", "ClockConfig", "Config", "ConfigError", "DataConfig", "EvalConfig", "InitConfig",
           "LikelihoodConfig",
           "MeshConfig", "ModelConfig", "OODConfig", "PriorConfig", "PriorFitConfig", "PriorTargetConfig",
           "SamplerConfig", "SamplingConfig", "ScheduleConfig", "from_dict", "identity", "load", "parse_override",
           "read_yaml", "to_dict"]
