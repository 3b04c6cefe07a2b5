"""What is being sampled and how samples are judged (models, likelihoods, metrics).

Importing the package imports no JAX (configs are checked against its data sets before
anything heavy loads); :func:`load_draws` and :class:`Draws` load their module on first use.
"""

import importlib

__all__ = ["Draws", "load_draws"]


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module 'posterior' has no attribute {name!r}")
    value = getattr(importlib.import_module("posterior.draws"), name)
    globals()[name] = value
    return value
