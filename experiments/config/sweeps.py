"""The runs of a sweep: every combination of ``--over`` values, as configs named apart.

Plain data and the schema only (no JAX), so that a sweep's or a suite's every config is
checked before anything heavy is imported.
"""

import itertools
import pathlib

from experiments.config.identity import DIRECTORY_KEYS
from experiments.config.loading import from_dict, load, to_dict
from experiments.config.schema import Config, ConfigError

__all__ = ["parse_values", "sweep_overrides", "sweep_configs"]


def parse_values(text: str) -> list[str]:
    """``'a,b'`` -> ``['a', 'b']``; ``'0:3'`` -> ``['0', '1', '2']``."""
    if ":" in text and "," not in text:
        start, _, stop = text.partition(":")
        try:
            return [str(value) for value in range(int(start), int(stop))]
        except ValueError:
            raise ConfigError(f"range {text!r} must be two integers start:stop") from None
    values = [value.strip() for value in text.split(",")]
    if not all(values):
        raise ConfigError(f"sweep values {text!r} must be comma-separated and non-empty")
    return values


def sweep_overrides(over: list[str]) -> list[list[str]]:
    """Every combination of ``--over`` values, as override lists."""
    axes = []
    for spec in over:
        key, separator, values = spec.partition("=")
        if not separator or not key:
            raise ConfigError(f"--over {spec!r} must look like key=a,b or key=start:stop")
        axes.append([f"{key.strip()}={value}" for value in parse_values(values)])
    return [list(combination) for combination in itertools.product(*axes)]


def _name_part(override: str) -> str:
    """``key=value`` as part of a folder name: characters a folder name cannot hold
    (``/``, backslash, NUL, ``%``) are percent-encoded, so a path-valued key can be swept."""
    return "".join(f"%{ord(c):02X}" if c in "/\\\0%" else c for c in override)


def sweep_configs(path: pathlib.Path, overrides: list[str], over: list[str]) -> list[Config]:
    """The configs of a sweep, each named apart when the swept keys are not in the run
    directory's path: sweeping ``sampler.step_size=1e-4,1e-3`` of experiment ``e`` runs
    ``e[sampler.step_size=1e-4]`` and ``e[sampler.step_size=1e-3]``, separate rows of
    ``posterior table``."""
    runs = []
    for combination in sweep_overrides(over):
        config = load(path, [*overrides, *combination])
        named = [_name_part(override) for override in combination if override.partition("=")[0] not in DIRECTORY_KEYS]
        if named:
            config = from_dict({**to_dict(config), "name": f"{config.name}[{','.join(named)}]"})
        runs.append(config)
    return runs
