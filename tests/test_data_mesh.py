"""A (chain x data) mesh: every sampler gives the draws of one device, with the data split.

On 8 virtual CPU devices (a subprocess: JAX fixes its device count at its first use), a
Bayesian MLP's log posterior with ``samplers.mesh.sum_over_data`` is sampled on meshes
(8, 1), (1, 8), (2, 4) and (4, 2) and on a single device, with minibatches (each 'data'
device takes a slice of every batch) and without (each holds a slice of the data; HMC
runs only so). The
draws must agree to float32 rounding: the sums are the same numbers added in another order.
The subprocess compiles 45 sampling programs (about 3 minutes on 2 cores), so the tests
that read its answer are marked ``slow`` (.ci/run runs them after the quick suite).
"""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import samplers
from conftest import REPO
from posterior import density, likelihoods, models
from priors import weight

MESHES = [(8, 1), (1, 8), (2, 4), (4, 2)]
SAMPLERS = ("sgld", "sghmc", "sa_sgld", "entropy_mcmc")
NUM_ROWS, BATCH_SIZE = 64, 16


def regression_problem():
    """64 rows of a noisy sine in 2 inputs, an 8-unit MLP, its log posterior summed over 'data'."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(NUM_ROWS, 2)).astype(np.float32)
    y = (np.sin(x[:, 0]) + 0.1 * rng.normal(size=NUM_ROWS)).astype(np.float32)
    network, likelihood, prior = models.mlp(width=8, depth=1, output_dim=1), likelihoods.Gaussian(0.3), \
        weight.FanInGaussian(1.0, 1.0)
    log_posterior = density.log_posterior(network.apply, prior, likelihood, data_size=NUM_ROWS,
                                          batch_sum=samplers.mesh.sum_over_data)

    def init(key):
        return density.initial_position(key, network=network, likelihood=likelihood, input_shape=2, prior=prior)

    return (x, y), log_posterior, init


def algorithms(log_posterior, *, full_batch: bool):
    """Every SG-MCMC sampler; with ``full_batch`` also HMC, which sees the whole data set."""
    algs = {
        "sgld": samplers.sgld(log_posterior, 1e-4),
        "sghmc": samplers.sghmc(log_posterior, 1e-3, friction=0.1, scale_adaptation_steps=20),
        "sa_sgld": samplers.sa_sgld(log_posterior, 1e-4, omega=1e4),
        "entropy_mcmc": samplers.entropy_mcmc(log_posterior, 1e-4, eta=0.1),
    }
    if full_batch:
        # A fixed step size: dual averaging feeds the continuous acceptance probability back into the
        # step size, so adapted runs on other meshes agree only to ~1e-4 (same accept decisions).
        algs["hmc"] = samplers.hmc(log_posterior, 2e-2, 5)
    return algs


SCRIPT = textwrap.dedent(
    """
    import json
    import jax
    jax.config.update("jax_num_cpu_devices", 8)
    import numpy as np
    from jax.sharding import PartitionSpec
    import samplers
    from test_data_mesh import MESHES, BATCH_SIZE, NUM_ROWS, algorithms, regression_problem

    data, log_posterior, init = regression_problem()
    meshes = {(1, 1): samplers.make_mesh(1, 1, devices=jax.devices()[:1])}
    meshes.update({shape: samplers.make_mesh(*shape) for shape in MESHES})
    differences = {}
    for batch_size in (BATCH_SIZE, None):
        for name, alg in algorithms(log_posterior, full_batch=batch_size is None).items():
            draws = {}
            for shape, mesh in meshes.items():
                result = samplers.sample(alg, jax.random.key(0), init, data, num_chains=8, num_steps=40, thin=10,
                                         batch_size=batch_size, mesh=mesh, progress=False)
                draws[shape] = np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(result.samples)])
            one = draws.pop((1, 1))
            for shape, values in draws.items():
                key = f"{'minibatch' if batch_size else 'full'} {name} {shape[0]}x{shape[1]}"
                differences[key] = float(np.max(np.abs(values - one)) / np.max(np.abs(one)))

    # The log posterior and its gradient with the rows split over 8 devices, against one.
    position = init(jax.random.key(1))
    mesh = samplers.make_mesh(1, 8)
    split = jax.jit(jax.shard_map(jax.value_and_grad(log_posterior), mesh=mesh, check_vma=False,
                                  in_specs=(PartitionSpec(), PartitionSpec("data")), out_specs=PartitionSpec()))
    value, grad = split(position, data)
    whole_value, whole_grad = jax.value_and_grad(log_posterior)(position, data)
    gradient_error = max(float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
                         for a, b in zip(jax.tree.leaves(grad), jax.tree.leaves(whole_grad)))

    # Rows that do not split evenly over the 4 'data' devices are refused, naming what.
    refusals = []
    for rows, batch_size in ((NUM_ROWS, 10), (NUM_ROWS - 2, None)):
        try:
            samplers.sample(algorithms(log_posterior, full_batch=False)["sgld"], jax.random.key(0), init,
                            tuple(part[:rows] for part in data), num_chains=2, num_steps=4, batch_size=batch_size,
                            mesh=samplers.make_mesh(2, 4), progress=False)
        except ValueError as error:
            refusals.append(str(error))
    print(json.dumps({"devices": len(jax.devices()), "draws": differences, "refusals": refusals,
                      "value": [float(value), float(whole_value)], "gradient_error": gradient_error}))
    """
)


@pytest.fixture(scope="module")
def on_eight_devices() -> dict:
    path = os.pathsep.join(filter(None, [str(REPO / "tests"), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("name, batch", [(name, batch) for batch in ("minibatch", "full") for name in SAMPLERS]
                         + [("hmc", "full")])
def test_every_mesh_gives_the_draws_of_one_device(on_eight_devices, name, batch):
    assert on_eight_devices["devices"] == 8
    for chain, data in MESHES:
        # float32 sums in another order, carried through 40 steps: a few units in the 6th digit at most.
        assert on_eight_devices["draws"][f"{batch} {name} {chain}x{data}"] < 3e-5, (chain, data)


@pytest.mark.slow
def test_the_split_log_posterior_and_its_gradient_are_the_whole_ones(on_eight_devices):
    value, whole = on_eight_devices["value"]
    assert value == pytest.approx(whole, rel=1e-5)
    assert on_eight_devices["gradient_error"] < 1e-5


def test_without_a_mesh_sum_over_data_is_the_function_itself():
    data, log_posterior, init = regression_problem()
    position = init(jax.random.key(2))
    plain = density.log_posterior(models.mlp(width=8, depth=1, output_dim=1).apply, weight.FanInGaussian(1.0, 1.0),
                                  likelihoods.Gaussian(0.3), data_size=NUM_ROWS)
    np.testing.assert_array_equal(log_posterior(position, data), plain(position, data))
    grads = jax.grad(log_posterior)(position, data), jax.grad(plain)(position, data)
    for leaf, plain_leaf in zip(*map(jax.tree.leaves, grads)):
        np.testing.assert_array_equal(leaf, plain_leaf)


@pytest.mark.slow
def test_rows_that_do_not_split_evenly_over_the_data_axis_are_refused(on_eight_devices):
    assert on_eight_devices["refusals"] == [
        "batch_size (10) must be a multiple of the mesh's 'data' axis (4 devices)",
        "the data's rows (62) must be a multiple of the mesh's 'data' axis (4 devices)",
    ]
