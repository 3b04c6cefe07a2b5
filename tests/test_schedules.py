"""Step-size schedules: their formulas, and that samplers read them at the state's step count."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import samplers
from samplers import schedules


def test_constant():
    assert float(schedules.constant(0.3)(12345)) == pytest.approx(0.3)


def test_polynomial_decay_is_welling_teh():
    schedule = schedules.polynomial_decay(0.1, decay_rate=0.55, offset=10.0)
    steps = np.array([0, 10, 1000])
    np.testing.assert_allclose(jax.vmap(schedule)(steps), 0.1 * (1 + steps / 10.0) ** -0.55, rtol=1e-6)


def test_cyclical_cosine_restarts_every_cycle():
    schedule = schedules.cyclical_cosine(0.2, num_steps=400, num_cycles=4)
    values = jax.vmap(schedule)(jnp.arange(400))
    np.testing.assert_allclose(values[::100], 0.2, rtol=1e-6)  # each cycle starts at the top
    np.testing.assert_allclose(values[50::100], 0.1, rtol=1e-5)  # half way down at mid-cycle
    assert float(values[99]) < 1e-3 * 0.2 and bool(jnp.all(jnp.diff(values[:100]) < 0))


def test_samplers_follow_the_schedule_at_their_step_count():
    """The step size reported for step t is schedule(t), for ours and for optax schedules."""
    for schedule in (schedules.cyclical_cosine(0.1, num_steps=60, num_cycles=3),
                     optax.exponential_decay(0.1, transition_steps=10, decay_rate=0.5)):
        for make in (samplers.sgld, samplers.sghmc):
            alg = make(lambda x, batch=None: -0.5 * jnp.sum(x**2), schedule)
            result = samplers.sample(alg, jax.random.key(0), jnp.zeros(2), num_steps=60, burn_in=10, thin=5,
                                     progress=False)
            kept_steps = 10 + 5 * np.arange(1, 11) - 1  # the step each kept draw was taken at
            np.testing.assert_allclose(result.info["step_size"][0], jax.vmap(schedule)(kept_steps), rtol=1e-6)


@pytest.mark.parametrize("make", [lambda: schedules.cyclical_cosine(0.1, num_steps=3, num_cycles=4),
                                  lambda: schedules.polynomial_decay(0.1, offset=0.0)])
def test_bad_schedule_arguments_raise(make):
    with pytest.raises(ValueError):
        make()
