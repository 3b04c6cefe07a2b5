"""The online predictive: the batch formula, merging chains, jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special, stats

from posterior import likelihoods, predictive

LIKELIHOOD = likelihoods.GaussianGammaPrecision()
NUM_DRAWS, NUM_POINTS = 6, 5


def draws():
    """Per-draw outputs (S, n, 1), log precisions (S,), weights (S,) and targets (n,)."""
    keys = jax.random.split(jax.random.key(0), 4)
    outputs = jax.random.normal(keys[0], (NUM_DRAWS, NUM_POINTS, 1))
    log_precisions = jax.random.uniform(keys[1], (NUM_DRAWS,), minval=-1.0, maxval=2.0)
    weights = jax.random.uniform(keys[2], (NUM_DRAWS,), minval=0.1, maxval=3.0)
    y = jax.random.normal(keys[3], (NUM_POINTS,))
    return outputs, log_precisions, weights, y


def feed(outputs, log_precisions, weights, y):
    """One accumulator fed the given draws in order, by a Python loop."""
    acc = predictive.init(LIKELIHOOD, {"log_precision": log_precisions[0]}, outputs[0], y)
    for f, log_precision, weight in zip(outputs, log_precisions, weights):
        acc = predictive.update(acc, likelihood=LIKELIHOOD, lik_params={"log_precision": log_precision},
                                outputs=f, y=y, weight=weight)
    return acc


def feed_scan(outputs, log_precisions, weights, y):
    """The same as :func:`feed`, as a ``lax.scan`` (traceable)."""

    def step(acc, draw):
        f, log_precision, weight = draw
        return predictive.update(acc, likelihood=LIKELIHOOD, lik_params={"log_precision": log_precision},
                                 outputs=f, y=y, weight=weight), None

    acc = predictive.init(LIKELIHOOD, {"log_precision": log_precisions[0]}, outputs[0], y)
    return jax.lax.scan(step, acc, (outputs, log_precisions, weights))[0]


def assert_same(a, b, rtol=1e-5):
    jax.tree.map(lambda x, z: np.testing.assert_allclose(x, z, rtol=rtol, atol=1e-6), a, b)


def test_online_summary_equals_the_batch_formula():
    outputs, log_precisions, weights, y = (np.asarray(a, np.float64) for a in draws())
    summary = predictive.summarise(feed(*draws()))
    w = weights / weights.sum()
    mu, sigma = outputs[:, :, 0], np.exp(-0.5 * log_precisions)[:, None]
    log_density = special.logsumexp(stats.norm.logpdf(y, mu, sigma), b=w[:, None], axis=0)
    mean = w @ mu
    variance = w @ (sigma**2 + mu**2) - mean**2
    np.testing.assert_allclose(summary["log_density"], log_density, rtol=1e-5)
    np.testing.assert_allclose(summary["mean"], mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(summary["std"], np.sqrt(variance), rtol=1e-5)
    assert summary["log_density"].shape == (NUM_POINTS,)


def test_combining_chains_equals_one_accumulator_of_all_draws():
    outputs, log_precisions, weights, y = draws()
    everything = feed(outputs, log_precisions, weights, y)
    first, second = feed(outputs[:2], log_precisions[:2], weights[:2], y), feed(outputs[2:], log_precisions[2:],
                                                                                 weights[2:], y)
    assert_same(predictive.combine(first, second), everything)
    # Three chains of two draws each, one accumulator per chain by vmap, merged on the chain axis.
    per_chain = jax.vmap(feed_scan, in_axes=(0, 0, 0, None))(
        outputs.reshape(3, 2, NUM_POINTS, 1), log_precisions.reshape(3, 2), weights.reshape(3, 2), y)
    assert per_chain.log_density_sum.shape == (3, NUM_POINTS)
    # Chains count equally: the merged accumulator is that of all draws with every
    # chain's weights rescaled to the same sum.
    balanced = predictive.chain_balanced(weights.reshape(3, 2)).reshape(-1)
    assert_same(predictive.combine_chains(per_chain), feed(outputs, log_precisions, balanced, y))
    np.testing.assert_allclose(predictive.chain_balanced(weights.reshape(3, 2)).sum(axis=1),
                               np.full(3, float(weights.sum()) / 3), rtol=1e-6)
    # Summaries of stacked accumulators are per chain.
    per_chain_summary = predictive.summarise(per_chain)
    assert_same(jax.tree.map(lambda x: x[1], per_chain_summary),
                predictive.summarise(feed(outputs[2:4], log_precisions[2:4], weights[2:4], y)))


def test_each_chain_counts_once_whatever_its_weights_sum_to():
    # Two chains that never leave their modes: outputs 0 with weights 1 and outputs 1
    # with weights 3 (a clock that steps three times as far there). Pooled weights would
    # put the predictive mean at 0.75; each chain's time average counts once: 0.5.
    likelihood = likelihoods.Gaussian(noise_std=1.0)
    outputs = jnp.stack([jnp.zeros((4, 1, 1)), jnp.ones((4, 1, 1))])  # (chain, draw, point, 1)
    weights = jnp.array([[1.0] * 4, [3.0] * 4])

    def one_chain(chain_outputs, chain_weights):
        def step(acc, draw):
            return predictive.update(acc, likelihood=likelihood, lik_params={}, outputs=draw[0], y=jnp.zeros(1),
                                     weight=draw[1]), None

        start = predictive.init(likelihood, {}, chain_outputs[0], jnp.zeros(1))
        return jax.lax.scan(step, start, (chain_outputs, chain_weights))[0]

    summary = predictive.summarise(predictive.combine_chains(jax.vmap(one_chain)(outputs, weights)))
    np.testing.assert_allclose(summary["mean"], [0.5], rtol=1e-6)
    np.testing.assert_allclose(predictive.chain_balanced(np.array([[1.0, 1.0], [3.0, 3.0], [0.0, 0.0]])),
                               [[4 / 3] * 2, [4 / 3] * 2, [0.0] * 2])


def test_works_under_jit():
    outputs, log_precisions, weights, y = draws()
    assert_same(jax.jit(feed_scan)(outputs, log_precisions, weights, y), feed(outputs, log_precisions, weights, y))
    jitted = jax.jit(lambda a, b: predictive.summarise(predictive.combine(a, b)))
    first, second = feed(outputs[:3], log_precisions[:3], weights[:3], y), feed(outputs[3:], log_precisions[3:],
                                                                                 weights[3:], y)
    assert_same(jitted(first, second), predictive.summarise(feed(outputs, log_precisions, weights, y)))


def test_zero_weight_draws_change_nothing():
    outputs, log_precisions, weights, y = draws()
    zeroed = weights.at[1].set(0.0)
    kept = np.array([0, 2, 3, 4, 5])
    assert_same(feed(outputs, log_precisions, zeroed, y), feed(outputs[kept], log_precisions[kept], weights[kept], y))


def test_empty_accumulator_and_categorical_moments():
    logits = jnp.array([[[2.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [3.0, 0.0]]])  # 2 draws, 2 points, 2 classes
    labels = jnp.array([0, 1])
    likelihood = likelihoods.Categorical()
    acc = predictive.init(likelihood, {}, logits[0], labels)
    assert float(acc.weight_sum) == 0.0 and bool(jnp.all(jnp.isneginf(acc.log_density_sum)))
    assert acc.moment_sums["probs"].shape == (2, 2)
    for f, weight in zip(logits, (1.0, 3.0)):
        acc = predictive.update(acc, likelihood=likelihood, lik_params={}, outputs=f, y=labels, weight=weight)
    summary = predictive.summarise(acc)
    probs = (1.0 * special.softmax(logits[0], axis=-1) + 3.0 * special.softmax(logits[1], axis=-1)) / 4.0
    np.testing.assert_allclose(summary["probs"], probs, rtol=1e-5)
    np.testing.assert_allclose(summary["log_density"], np.log(probs[[0, 1], [0, 1]]), rtol=1e-5)
    assert "std" not in summary
