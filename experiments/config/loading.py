"""Configs from YAML files and plain data, with ``key=value`` overrides.

Loading checks every key and value against the field types of
:mod:`experiments.config.schema`, then the rules of :mod:`experiments.config.checks`, so
a misspelt key, a key given twice, a string where a number belongs or a count of zero
chains is refused with one line naming the key (and, for a file, the line), before
anything runs.
"""

import copy
import dataclasses
import pathlib
import types
import typing
from typing import Any, Literal

import yaml

from experiments.config.checks import check_values, shown
from experiments.config.schema import Config, ConfigError, as_plain_data, config_key

__all__ = ["from_dict", "load", "parse_override", "to_dict"]

# A mapping-valued key (a kernel or measurement spec) is plain data; beyond these it is
# a cycle or an alias bomb, which config.yaml could never be written from.
_MAX_DEPTH = 32
_MAX_NODES = 10_000
_SCALARS = (str, int, float, bool, type(None))


def _check_plain_data(value: Any, key: str) -> None:
    """Refuse a mapping-valued key unless it holds only scalars, lists and mappings, finitely."""
    pending, visited = [(value, 0)], 0
    while pending:
        node, depth = pending.pop()
        visited += 1
        if depth > _MAX_DEPTH or visited > _MAX_NODES:
            raise ConfigError(f"config key '{key}' is nested deeper than {_MAX_DEPTH} levels or holds more than "
                              f"{_MAX_NODES} values (a cycle of YAML aliases?)")
        if isinstance(node, dict):
            if not all(isinstance(child, _SCALARS) for child in node):
                raise ConfigError(f"config key '{key}' has a mapping key that is not a scalar")
            pending.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            pending.extend((child, depth + 1) for child in node)
        elif not isinstance(node, _SCALARS):
            raise ConfigError(f"config key '{key}' must hold only numbers, strings, lists and mappings, "
                              f"got {shown(node)}")


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(choice) for choice in typing.get_args(annotation))
    if isinstance(annotation, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(annotation))
    if dataclasses.is_dataclass(annotation) or annotation is dict:
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            type(None): "null"}[annotation]


def _convert(value: Any, annotation: Any, key: str) -> Any:
    """``value`` checked against ``annotation``; numbers widen from int to float."""
    if dataclasses.is_dataclass(annotation):
        return _build(annotation, value, key)
    if isinstance(annotation, types.UnionType):
        for option in typing.get_args(annotation):
            try:
                return _convert(value, option, key)
            except ConfigError:
                # A mapping meant for a section: what is wrong inside it says more than the union.
                if (isinstance(value, dict) and dataclasses.is_dataclass(option)
                        or isinstance(value, str) and option is str):
                    raise
    elif typing.get_origin(annotation) is Literal:
        if value in typing.get_args(annotation):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:  # an integer beyond the float range: refused below
                pass
    elif annotation is type(None):
        if value is None:
            return None
    elif annotation is dict:
        if isinstance(value, dict):
            _check_plain_data(value, key)
            return value
    elif annotation is str:
        if isinstance(value, str):
            try:  # a lone surrogate (from bytes that were not UTF-8) cannot be a path or written out
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ConfigError(f"config key '{key}' must be UTF-8 text, got {shown(value)}") from None
            return value
    elif isinstance(value, annotation) and not (annotation is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"config key '{key}' must be {_type_name(annotation)}, got {shown(value)}")


def _build(cls: type, values: Any, prefix: str) -> Any:
    """An instance of the dataclass ``cls`` from a mapping, refusing unknown keys."""
    where = f"'{prefix}'" if prefix else "the config"
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping of keys to values, got {shown(values)}")
    hints = typing.get_type_hints(cls)
    fields = {config_key(field): field for field in dataclasses.fields(cls)}
    for key in values:
        if key not in fields:
            raise ConfigError(f"unknown config key {shown(f'{prefix}.{key}' if prefix else key)} "
                              f"(known in {where}: {', '.join(fields)})")
    arguments = {}
    for name, field in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in values:
            arguments[field.name] = _convert(values[name], hints[field.name], key)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"config key '{key}' is required")
    return cls(**arguments)


class _DuplicateKey(yaml.YAMLError):
    """A mapping that gives one key twice."""

    def __init__(self, key: Any, line: int):
        super().__init__(f"duplicate key {key!r} on line {line}")
        self.key, self.line = key, line


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that gives a key twice (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *base' may be overridden key by key
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, typing.Hashable):
                continue  # PyYAML refuses it itself
            if key in seen:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _set_dotted(tree: dict, key: str, value: Any) -> None:
    """Set ``tree[a][b] = value`` for ``key='a.b'``, creating sections as needed."""
    *sections, leaf = key.split(".")
    node = tree
    for depth, section in enumerate(sections):
        child = node.setdefault(section, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {shown(key)}: {shown('.'.join(sections[:depth + 1]))} is not a section")
        node = child
    node[leaf] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``'sampler.step_size=1e-3'`` -> ``('sampler.step_size', 0.001)``; values are YAML."""
    key, separator, value = text.partition("=")
    if not separator or not key.strip():
        raise ConfigError(f"override {text!r} must look like key=value (e.g. sampler.step_size=1e-3)")
    try:
        parsed = yaml.safe_load(value)
    except (yaml.YAMLError, ValueError):  # ValueError: an integer of more digits than Python converts
        parsed = value
    # YAML 1.1 reads '1e-3' (no dot) as a string; numbers are what such overrides mean.
    if isinstance(parsed, str):
        try:
            parsed = float(parsed)
        except ValueError:
            pass
    return key.strip(), parsed


def from_dict(values: Any, overrides: typing.Iterable[str] = ()) -> Config:
    """A validated :class:`Config` from plain data, ``key=value`` overrides applied.

    Args:
        values: the config as plain data (a mapping, as YAML loads it).
        overrides: ``key=value`` strings by dotted key, applied in order.

    Returns:
        The :class:`Config`, every key and value checked.

    Raises:
        ConfigError: an unknown or missing key, a value of the wrong type or out of
            range, or settings that cannot go together; the message is one line naming
            the key.
    """
    if isinstance(values, dict):
        values = copy.deepcopy(values)  # the overrides change it
        for override in overrides:
            _set_dotted(values, *parse_override(override))
    config = _build(Config, values, "")
    check_values(config)
    return config


def read_yaml(path: str | pathlib.Path, *, what: str = "config") -> Any:
    """The plain data of the YAML file ``path``, every mapping's keys unique.

    Raises:
        ConfigError: a missing or unreadable file, text that is not UTF-8 or not valid
            YAML, or a key given twice; one line naming ``what``, the file and the cause.
    """
    path = pathlib.Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read {what} {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {error.start})") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except _DuplicateKey as error:
        raise ConfigError(f"{what} {path} gives the key {shown(error.key)} twice (line {error.line}); "
                          f"the second would silently replace the first") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{what} {path} is not valid YAML{where}") from None
    except ValueError:  # Python refuses to convert integers of more than 4,300 digits
        raise ConfigError(f"{what} {path} holds a number too long to read (an integer of thousands of digits?)"
                          ) from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise ConfigError(f"{what} {path} is nested too deeply to read") from None


def load(path: str | pathlib.Path, overrides: typing.Iterable[str] = ()) -> Config:
    """Read the YAML file ``path`` and validate it (with overrides) into a :class:`Config`.

    Raises:
        ConfigError: a missing or unreadable file, text that is not UTF-8 or not valid
            YAML, or a config :func:`from_dict` refuses; the message is one line naming
            the cause.
    """
    values = read_yaml(path)
    return from_dict({} if values is None else values, overrides)


def to_dict(config: Config) -> dict:
    """Plain data for ``config.yaml``: every key, defaults included."""
    return as_plain_data(config)
