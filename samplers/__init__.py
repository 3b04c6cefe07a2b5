"""Samplers for posterior distributions: SG-MCMC kernels and a multi-chain driver.

Knows nothing about networks: every sampler takes ``logdensity_fn(params, batch)``.
"""

from samplers import checkpoint, programs, schedules
from samplers.base import SamplingAlgorithm, SGMCMCInfo
from samplers.entropy_mcmc import entropy_mcmc
from samplers.gibbs import with_gibbs
from samplers.hmc import hmc
from samplers.mesh import make_mesh, use_cpu_cores
from samplers.run import SampleResult, sample
from samplers.sa_sgld import sa_sgld
from samplers.sghmc import sghmc
from samplers.sgld import sgld

__all__ = [
    "SampleResult",
    "SamplingAlgorithm",
    "SGMCMCInfo",
    "checkpoint",
    "entropy_mcmc",
    "hmc",
    "make_mesh",
    "programs",
    "sa_sgld",
    "sample",
    "schedules",
    "sghmc",
    "sgld",
    "use_cpu_cores",
    "with_gibbs",
]
