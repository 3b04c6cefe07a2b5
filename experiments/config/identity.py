"""Which config keys make a run what it is: the one place these rules are stated.

Every key of a config (dotted, e.g. ``sampler.step_size``) plays one or more of these parts:

- :data:`DIRECTORY_KEYS` name the run directory, ``<name>/<data.name>/split-<k>/seed-<s>``.
- :data:`EXECUTION_KEYS` say how a run is carried out, never what it computes. Runs that
  differ only in them are the same run: a finished one is reused, a checkpoint resumed,
  and ``posterior table`` puts them in one row.
- :data:`RESUMABLE_ACROSS` are those and the keys that change what is reported from the
  draws but neither the draws nor what the checkpoint holds: a checkpoint written under
  other values of them is resumed. (``sampling.save_samples`` and ``eval.ood`` are not
  among them: without saved draws the checkpoint holds each chain's predictive, the
  OOD one included, in place of the draws.)
- :data:`AVERAGED_OVER` are the keys ``posterior table`` averages over (splits and seeds).
- :data:`PRIOR_FIT_KEYS` (less :data:`PRIOR_FIT_EXCLUDED`) and the training inputs
  determine a fitted prior.
- :data:`HIERARCHICAL_PRIORS` are the prior kinds whose precisions are sampled too.

A key names a section or a single setting; a section stands for every key inside it.
:func:`run_identity`, :func:`checkpoint_identity` and :func:`group_identity` are the
flattened configs that must agree for a directory to be reused, a checkpoint resumed,
and two runs to share a table row; :func:`identity_hash` digests one of them.
"""

import hashlib
import json
from typing import Any

from experiments.config.schema import Config, as_plain_data

__all__ = ["AVERAGED_OVER", "DIRECTORY_KEYS", "EXECUTION_KEYS", "HIERARCHICAL_PRIORS", "PRIOR_FIT_EXCLUDED",
           "PRIOR_FIT_KEYS", "RESUMABLE_ACROSS", "checkpoint_identity", "differences", "flatten", "group_identity",
           "identity_hash", "prior_fit_identity", "run_identity"]

DIRECTORY_KEYS = ("name", "data.name", "data.split", "seed")
EXECUTION_KEYS = ("checkpoint.every", "mesh.chain", "data.root")
RESUMABLE_ACROSS = (*EXECUTION_KEYS, "sampling.on_divergence", "eval.reference")
AVERAGED_OVER = ("data.split", "seed")
PRIOR_FIT_KEYS = ("prior", "model", "seed")
PRIOR_FIT_EXCLUDED = ("prior.gibbs_every",)  # used when sampling, not when fitting
HIERARCHICAL_PRIORS = ("fh", "gpih")


def _within(key: str, sections: tuple[str, ...]) -> bool:
    return any(key == section or key.startswith(f"{section}.") for section in sections)


def flatten(values: dict, prefix: str = "") -> dict[str, Any]:
    """A nested mapping by dotted key; an empty or null section is one key."""
    items = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            items.update(flatten(value, f"{prefix}{key}."))
        else:
            items[f"{prefix}{key}"] = value
    return items


def _without(config: Config, sections: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in flatten(as_plain_data(config)).items() if not _within(key, sections)}


def run_identity(config: Config) -> dict[str, Any]:
    """What a finished run directory's config must share with ``config`` to be reused."""
    return _without(config, EXECUTION_KEYS)


def checkpoint_identity(config: Config) -> dict[str, Any]:
    """What a checkpoint must have been written under to be resumed by ``config``."""
    return _without(config, RESUMABLE_ACROSS)


def group_identity(config: Config) -> dict[str, Any]:
    """What runs must share to be averaged in one row of ``posterior table``."""
    return _without(config, (*EXECUTION_KEYS, *AVERAGED_OVER))


def prior_fit_identity(config: Config) -> dict[str, Any]:
    """The sections that determine a fitted prior (with the training inputs), nested as in the config."""
    values = as_plain_data(config)
    selected = {key: values[key] for key in PRIOR_FIT_KEYS}
    for key in PRIOR_FIT_EXCLUDED:
        *sections, leaf = key.split(".")
        node = selected
        for section in sections:
            node = node[section]
        del node[leaf]
    return selected


def identity_hash(identity: dict[str, Any]) -> str:
    """A short digest of an identity (JSON data)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


_ABSENT = "(absent)"


def differences(first: dict[str, Any], second: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key, first's value, second's value)`` for every key on which two identities
    disagree, in key order; a key one of them lacks has the value ``'(absent)'``."""
    keys = sorted(first.keys() | second.keys())
    return [(key, first.get(key, _ABSENT), second.get(key, _ABSENT)) for key in keys
            if first.get(key, _ABSENT) != second.get(key, _ABSENT)]
