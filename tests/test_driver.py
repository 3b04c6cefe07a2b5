"""The driver's contract: shapes, argument checks, determinism, devices, callbacks."""

import json
import os
import subprocess
import sys
import textwrap
import warnings
from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import samplers
from conftest import REPO

PRECISION = jnp.array([[2.0, 0.9], [0.9, 1.0]])


def gaussian_logdensity(x, batch=None):
    del batch
    return -0.5 * x @ PRECISION @ x


def regression_data(num_rows=100):
    x = jax.random.normal(jax.random.key(1), (num_rows, 3))
    y = x @ jnp.array([1.0, -2.0, 0.5]) + 0.3 * jax.random.normal(jax.random.key(2), (num_rows,))
    return x, y


def regression_logdensity(num_rows, batch_size):
    def logdensity(w, batch):
        x, y = batch
        return -0.5 * w @ w - 0.5 * (num_rows / batch_size) * jnp.sum((x @ w - y) ** 2) / 0.09

    return logdensity


@pytest.mark.parametrize("num_chains", [1, 4, 64])
def test_shapes_follow_chains_burn_in_and_thinning(num_chains):
    params = {"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)}
    logdensity = lambda p, batch=None: -0.5 * sum(jnp.sum(v**2) for v in jax.tree.leaves(p))  # noqa: E731
    result = samplers.sample(samplers.sgld(logdensity, 1e-2), jax.random.key(0), params,
                             num_chains=num_chains, num_steps=107, burn_in=20, thin=8, progress=False)
    num_draws = (107 - 20) // 8
    assert result.samples["w"].shape == (num_chains, num_draws, 3, 2)
    assert result.samples["b"].shape == (num_chains, num_draws, 2)
    assert result.weights.shape == (num_chains, num_draws)
    assert set(result.info) == {"weight", "step_size", "logdensity", "grad_norm"}
    assert all(v.shape == (num_chains, num_draws) for v in result.info.values())
    np.testing.assert_array_equal(np.asarray(result.state.step), 107)


def test_kept_draws_are_the_states_after_the_documented_steps():
    """Draw k is the state after step burn_in + k * thin: compare with stepping by hand."""
    alg = samplers.sgld(gaussian_logdensity, 0.1)
    key = jax.random.key(7)
    result = samplers.sample(alg, key, jnp.ones(2), num_steps=23, burn_in=5, thin=6, progress=False)
    step_key = jax.random.split(jax.random.split(key, 1)[0], 3)[1]
    state, by_hand = alg.init(jnp.ones(2)), []
    for t in range(23):
        state, _ = alg.step(jax.random.fold_in(step_key, t), state)
        if t + 1 > 5 and (t + 1 - 5) % 6 == 0:
            by_hand.append(state.position)
    np.testing.assert_allclose(result.samples[0], np.stack(by_hand), rtol=1e-6)


def test_chunking_does_not_change_the_draws():
    x, y = regression_data()
    alg = samplers.sghmc(regression_logdensity(100, 10), 1e-4, friction=0.1)
    runs = [samplers.sample(alg, jax.random.key(3), jnp.zeros(3), (x, y), num_chains=2, num_steps=300, burn_in=50,
                            thin=7, batch_size=10, chunk_size=chunk, progress=False) for chunk in (1000, 13)]
    np.testing.assert_array_equal(runs[0].samples, runs[1].samples)


class BatchInfo(NamedTuple):
    first_row: jax.Array
    row_sum: jax.Array


def batch_recorder() -> samplers.SamplingAlgorithm:
    """A sampler that stands still and reports which rows its batch held."""
    return samplers.SamplingAlgorithm(
        init=samplers.sgld(gaussian_logdensity, 1.0).init,
        step=lambda key, state, batch: (state, BatchInfo(batch[0], batch.sum())),
    )


def test_minibatches_cover_each_epoch_without_replacement():
    """Row i holds the value i; the three batches of each epoch must hold every row once."""
    rows, batch_size, epochs = 12, 4, 3
    result = samplers.sample(batch_recorder(), jax.random.key(0), jnp.zeros(2), jnp.arange(rows), num_chains=2,
                             num_steps=epochs * rows // batch_size, batch_size=batch_size, progress=False)
    per_epoch = result.info["row_sum"].reshape(2, epochs, rows // batch_size).sum(axis=2)
    np.testing.assert_array_equal(per_epoch, rows * (rows - 1) // 2)
    assert not np.array_equal(result.info["first_row"][0], result.info["first_row"][1]), "chains shuffle independently"
    first_epoch, second_epoch = result.info["first_row"][0, :3], result.info["first_row"][0, 3:6]
    assert not np.array_equal(first_epoch, second_epoch), "each epoch draws a new permutation"


class FirstBatchState(NamedTuple):
    position: jax.Array
    init_rows: jax.Array
    step: jax.Array


def test_an_init_taking_a_batch_gets_the_rows_of_the_first_step():
    """A state that holds a gradient (SA-SGLD) needs data at init: the first minibatch."""
    def init(position, batch=None):
        return FirstBatchState(position, batch, jnp.zeros((), jnp.int32))

    def step(key, state, batch):
        return state._replace(step=state.step + 1), BatchInfo(batch[0], batch.sum())

    result = samplers.sample(samplers.SamplingAlgorithm(init, step), jax.random.key(4), jnp.zeros(2), jnp.arange(12),
                             num_chains=3, num_steps=1, batch_size=4, progress=False)
    init_rows = np.asarray(result.state.init_rows)
    assert init_rows.shape == (3, 4)
    np.testing.assert_array_equal(init_rows[:, 0], result.info["first_row"][:, 0])
    np.testing.assert_array_equal(init_rows.sum(axis=1), result.info["row_sum"][:, 0])
    assert len({tuple(rows) for rows in init_rows}) == 3, "each chain its own first batch"


def test_on_sample_accumulates_without_keeping_draws():
    alg = samplers.sgld(gaussian_logdensity, 0.05)
    kwargs = dict(num_chains=3, num_steps=400, burn_in=100, thin=3, progress=False)
    full = samplers.sample(alg, jax.random.key(5), jnp.zeros(2), **kwargs)
    online = samplers.sample(alg, jax.random.key(5), jnp.zeros(2), on_sample=lambda p, w: {"sum": w * p, "n": w},
                             **kwargs)
    assert online.samples is None
    np.testing.assert_allclose(online.online["sum"], full.samples.sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(online.online["n"], full.weights.sum(axis=1))


def test_init_function_gives_each_chain_its_own_start():
    alg = samplers.sgld(gaussian_logdensity, 1e-3)
    result = samplers.sample(alg, jax.random.key(0), lambda k: jax.random.normal(k, (2,)), num_chains=4,
                             num_steps=2, thin=2, progress=False)
    assert len({tuple(np.round(draw, 4)) for draw in result.samples[:, -1]}) == 4


def test_blackjax_kernel_drops_in_unchanged():
    """blackjax.nuts steps as step(key, state): the driver calls it that way when data is None."""
    nuts = blackjax.nuts(gaussian_logdensity, step_size=0.5, inverse_mass_matrix=jnp.ones(2))
    result = samplers.sample(nuts, jax.random.key(0), jnp.zeros(2), num_chains=4, num_steps=1500, burn_in=300,
                             progress=False)
    assert result.weights.shape == (4, 1200) and np.all(result.weights == 1.0)
    assert result.info["acceptance_rate"].shape == (4, 1200), "the kernel's scalar info reaches the result"
    covariance = np.cov(result.samples.reshape(-1, 2).T)
    np.testing.assert_allclose(covariance, np.linalg.inv(PRECISION), atol=0.15)


@pytest.mark.parametrize("make", [
    lambda logdensity: samplers.hmc(logdensity, 1e-2, 5),
    lambda logdensity: samplers.with_gibbs(samplers.hmc(logdensity, 1e-2, 5), lambda key, position: position,
                                           every=2),
    lambda logdensity: blackjax.hmc(lambda position: logdensity(position, None), step_size=0.1,
                                    inverse_mass_matrix=jnp.ones(3), num_integration_steps=5),
])
def test_a_full_batch_kernel_refuses_minibatches_before_compiling(make, monkeypatch):
    """A Metropolis test on two different minibatches compares two different targets."""
    compiled = []
    monkeypatch.setattr(jax, "jit", lambda *a, **k: compiled.append(1))
    x, y = regression_data()
    with pytest.raises(ValueError, match="batch_size=10: this sampler steps on the whole data set"):
        samplers.sample(make(regression_logdensity(100, 10)), jax.random.key(0), lambda key: jnp.zeros(3), (x, y),
                        num_steps=10, batch_size=10, progress=False)
    assert not compiled


def test_chains_all_started_from_one_array_are_warned_about():
    alg = samplers.sgld(gaussian_logdensity, 1e-3)
    with pytest.warns(UserWarning, match="all 3 chains start from the one init_params position"):
        samplers.sample(alg, jax.random.key(0), jnp.zeros(2), num_chains=3, num_steps=2, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        samplers.sample(alg, jax.random.key(0), jnp.zeros(2), num_chains=1, num_steps=2, progress=False)
        samplers.sample(alg, jax.random.key(0), lambda key: jnp.zeros(2), num_chains=3, num_steps=2, progress=False)


class TwoChainDevices:
    """Stands in for a mesh with two devices on the chain axis (this process has one)."""

    axis_names = ("chain", "data")
    shape = {"chain": 2, "data": 1}


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(num_steps=100, burn_in=100), "burn_in"),
        (dict(num_steps=100, burn_in=120), "burn_in"),
        (dict(num_steps=100, thin=0), "thin"),
        (dict(num_steps=100, thin=200), "thin"),
        (dict(num_steps=0), "num_steps"),
        (dict(num_steps=100, num_chains=0), "num_chains"),
        (dict(num_steps=100, batch_size=101), "batch_size"),
        (dict(num_steps=100, batch_size=0), "batch_size"),
        (dict(num_steps=100, num_chains=3, mesh=TwoChainDevices()), "num_chains"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(kwargs, argument, monkeypatch):
    compiled = []
    monkeypatch.setattr(jax, "jit", lambda *a, **k: compiled.append(1))
    x, y = regression_data()
    with pytest.raises(ValueError, match=argument):
        samplers.sample(samplers.sgld(regression_logdensity(100, 10), 1e-3), jax.random.key(0), jnp.zeros(3),
                        (x, y), progress=False, **kwargs)
    assert not compiled, "arguments must be checked before anything compiles"


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: samplers.sgld(gaussian_logdensity, -1e-3), "step_size"),
        (lambda: samplers.sgld(gaussian_logdensity, samplers.schedules.constant(-1.0)), "step_size"),
        (lambda: samplers.sghmc(gaussian_logdensity, 1e-3, friction=0.0), "friction"),
        (lambda: samplers.sghmc(gaussian_logdensity, 1e-3, temperature=-1.0), "temperature"),
        (lambda: samplers.sghmc(gaussian_logdensity, float("nan")), "step_size"),
    ],
)
def test_bad_hyperparameters_raise_value_error_naming_them(make, argument):
    with pytest.raises(ValueError, match=argument):
        make()


def test_data_arrays_must_share_their_leading_axis():
    with pytest.raises(ValueError, match="leading"):
        samplers.sample(samplers.sgld(regression_logdensity(100, 10), 1e-3), jax.random.key(0), jnp.zeros(3),
                        (jnp.zeros((100, 3)), jnp.zeros(99)), num_steps=10, batch_size=10, progress=False)


MULTI_DEVICE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax
    jax.config.update("jax_num_cpu_devices", int(sys.argv[1]))
    import jax.numpy as jnp
    import samplers
    from test_driver import regression_data, regression_logdensity

    x, y = regression_data(200)
    draws = {}
    for name, alg in [
        ("sgld", samplers.sgld(regression_logdensity(200, 20), 1e-4)),
        ("sghmc", samplers.sghmc(regression_logdensity(200, 20), 1e-2, friction=0.1, scale_adaptation_steps=50)),
        ("sa_sgld", samplers.sa_sgld(regression_logdensity(200, 20), 1e-4, omega=1e6)),
        ("entropy_mcmc", samplers.entropy_mcmc(regression_logdensity(200, 20), 1e-4, eta=0.1)),
    ]:
        result = samplers.sample(alg, jax.random.key(0), lambda k: jax.random.normal(k, (3,)), (x, y),
                                 num_chains=8, num_steps=300, burn_in=100, thin=10, batch_size=20, progress=False)
        draws[name] = result.samples.tolist()
    # One start per chain: each device keeps the rows of its own chains.
    starts = samplers.Starts(jnp.arange(24.0).reshape(8, 3))
    result = samplers.sample(samplers.sgld(regression_logdensity(200, 20), 1e-4), jax.random.key(0), starts, (x, y),
                             num_chains=8, num_steps=300, burn_in=100, thin=10, batch_size=20, progress=False)
    draws["sgld_from_starts"] = result.samples.tolist()
    print(json.dumps({"devices": len(jax.devices()), "draws": draws}))
    """
)


def run_on_devices(count):
    # Virtual devices are CPU devices: keep the subprocess off any GPU the machine has.
    path = os.pathsep.join(filter(None, [str(REPO / "tests"), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    done = subprocess.run([sys.executable, "-c", MULTI_DEVICE_SCRIPT, str(count)], capture_output=True, text=True,
                          env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_eight_devices_give_the_same_draws_as_one():
    one, eight = run_on_devices(1), run_on_devices(8)
    assert (one["devices"], eight["devices"]) == (1, 8)
    for name in ("sgld", "sghmc", "sa_sgld", "entropy_mcmc", "sgld_from_starts"):
        np.testing.assert_allclose(eight["draws"][name], one["draws"][name], rtol=1e-5, atol=1e-6)


def test_each_chain_starts_at_its_own_row_of_starts():
    import optax

    rows = jnp.arange(12.0).reshape(4, 3)
    standing_still = samplers.sgd(lambda x, batch: -0.5 * jnp.sum(x**2), optax.sgd(0.0))
    result = samplers.sample(standing_still, jax.random.key(0), samplers.Starts(rows), num_chains=4, num_steps=2,
                             progress=False)
    np.testing.assert_array_equal(result.samples[:, 0], rows)
    with pytest.raises(ValueError, match="one row per chain"):
        samplers.sample(standing_still, jax.random.key(0), samplers.Starts(rows), num_chains=3, num_steps=2,
                        progress=False)


def test_use_cpu_cores_refuses_once_jax_has_computed():
    jnp.zeros(1).block_until_ready()
    with pytest.raises(RuntimeError, match="before JAX's first computation"):
        samplers.use_cpu_cores(2)
