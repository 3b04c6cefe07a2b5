"""Samplers for posterior distributions: SG-MCMC kernels and a multi-chain driver.

Knows nothing about networks: every sampler takes ``logdensity_fn(params, batch)``.
Importing the package imports no JAX: each name below loads its module on first use, so
that code which only checks arguments (:mod:`samplers.validation`) starts fast.
"""

import importlib
import sys
import types

# public name -> the module defining it (a module itself when the two are equal)
_HOMES = {
    "Fold": "samplers.base",
    "SampleResult": "samplers.run",
    "Starts": "samplers.run",
    "SamplingAlgorithm": "samplers.base",
    "SGMCMCInfo": "samplers.base",
    "adjusted_mclmc": "samplers.adjusted_mclmc",
    "checkpoint": "samplers.checkpoint",
    "enable_compilation_cache": "samplers.programs",
    "entropy_mcmc": "samplers.entropy_mcmc",
    "hmc": "samplers.hmc",
    "make_mesh": "samplers.mesh",
    "mclmc": "samplers.mclmc",
    "mesh": "samplers.mesh",
    "minibatch": "samplers.minibatch",
    "nuts": "samplers.nuts",
    "programs": "samplers.programs",
    "sa_sgld": "samplers.sa_sgld",
    "sample": "samplers.run",
    "schedules": "samplers.schedules",
    "sghmc": "samplers.sghmc",
    "sgd": "samplers.sgd",
    "sgld": "samplers.sgld",
    "use_cpu_cores": "samplers.mesh",
    "with_gibbs": "samplers.gibbs",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'samplers' has no attribute {name!r}")
    module = importlib.import_module(_HOMES[name])
    value = module if module.__name__ == f"samplers.{name}" and not hasattr(module, name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))


class _Package(types.ModuleType):
    """The package, keeping ``samplers.sgld`` the function when its module loads.

    Importing the module ``samplers.sgld`` binds it as the package's attribute ``sgld``,
    which would hide the function of that name; such bindings are left to
    ``sys.modules`` instead, and the attribute resolves to the function.
    """

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, types.ModuleType) and name in _HOMES and _HOMES[name] == value.__name__ \
                and hasattr(value, name):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
