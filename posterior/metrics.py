"""Test metrics of a posterior predictive, as Python floats (or NumPy arrays, per class or bin).

Every function takes per-example quantities from ``posterior.predictive.summarise``
(already averaged over weighted draws) and test targets, as NumPy or JAX arrays, and
computes on the host in float64. Regression models trained on standardised targets
predict in standardised units; ``scale`` (the training targets' standard deviation)
converts to the original units: errors multiply by it, and a density in ``y`` divides
by it, so a log density drops by ``log scale``.

Against a reference predictive (e.g. a long HMC run's), :func:`agreement` and
:func:`total_variation` compare class probabilities; a regression predictive is a
:class:`GaussianMixture` per test point, compared by :func:`mixture_total_variation` and
:func:`mixture_agreement`.

Out-of-distribution detection (:func:`ood_metrics`) scores each test point by the
:func:`predictive_entropy` of its averaged probabilities and asks how well that score
separates an OOD test set from the in-distribution one (:func:`auroc`, :func:`aupr`).
"""

import math
from typing import Any, NamedTuple

import numpy as np
from scipy import special, stats

__all__ = [
    "rmse",
    "log_likelihood",
    "accuracy",
    "per_class_accuracy",
    "nll",
    "Reliability",
    "reliability",
    "ece",
    "brier",
    "predictive_entropy",
    "auroc",
    "aupr",
    "ood_metrics",
    "regression_metrics",
    "classification_metrics",
    "agreement",
    "total_variation",
    "GaussianMixture",
    "mixture_mean",
    "mixture_quantile",
    "mixture_total_variation",
    "mixture_agreement",
    "classification_reference_metrics",
    "regression_reference_metrics",
]

ArrayLike = Any


def _targets_like(y: ArrayLike, predicted: np.ndarray) -> np.ndarray:
    """``y`` as float64 of ``predicted``'s shape; refuses shapes that would broadcast."""
    y = np.asarray(y, np.float64)
    if y.size != predicted.size:
        raise ValueError(f"targets of shape {y.shape} do not match predictions of shape {predicted.shape}")
    return y.reshape(predicted.shape)


def _labels_for(probs: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``probs`` as float64 ``(n, K)`` and ``y`` as int ``(n,)``, checked against each other."""
    probs = np.asarray(probs, np.float64)
    y = np.asarray(y)
    if probs.ndim != 2 or y.shape != probs.shape[:1]:
        raise ValueError(f"need probs (n, K) and labels (n,), got {probs.shape} and {y.shape}")
    return probs, y.astype(np.int64)


def rmse(mean: ArrayLike, y: ArrayLike, *, scale: float = 1.0) -> float:
    """Root mean squared error of the predictive mean.

    Args:
        mean: predictive means ``(n,)``.
        y: targets ``(n,)`` in the same units as ``mean``.
        scale: multiply by this to report in other units (the target standard deviation
            for standardised targets; the mean shift cancels in the error).

    Returns:
        ``scale * sqrt(mean_i (mean_i - y_i)^2)``.
    """
    mean = np.asarray(mean, np.float64)
    return float(scale * np.sqrt(np.mean(np.square(mean - _targets_like(y, mean)))))


def log_likelihood(log_density: ArrayLike, *, scale: float = 1.0) -> float:
    """Test log-likelihood per point.

    Args:
        log_density: predictive log densities of the test targets ``(n,)``
            (``summarise(...)["log_density"]``, the log of the weighted mixture).
        scale: the standardisation scale of the targets: a density over standardised
            targets ``z = (y - m) / scale`` becomes one over ``y`` by dividing by ``scale``.

    Returns:
        ``mean_i log_density_i - log(scale)``.
    """
    return float(np.mean(np.asarray(log_density, np.float64)) - math.log(scale))


def accuracy(probs: ArrayLike, y: ArrayLike) -> float:
    """The fraction of test points whose most probable class is the label.

    Args:
        probs: predictive class probabilities ``(n, K)``.
        y: integer labels ``(n,)``.

    Returns:
        A float in ``[0, 1]``.
    """
    probs, y = _labels_for(probs, y)
    return float(np.mean(np.argmax(probs, axis=-1) == y))


def per_class_accuracy(probs: ArrayLike, y: ArrayLike, num_classes: int) -> np.ndarray:
    """Accuracy among the test points of each class (each class's recall).

    Args:
        probs: predictive class probabilities ``(n, K)``.
        y: integer labels ``(n,)`` in ``[0, num_classes)``.
        num_classes: the number of classes reported.

    Returns:
        ``(num_classes,)``: for class ``k`` the fraction of points labelled ``k`` whose most
        probable class is ``k``; NaN for a class with no test points.
    """
    probs, y = _labels_for(probs, y)
    if np.any((y < 0) | (y >= num_classes)):
        raise ValueError(f"labels must lie in [0, {num_classes}), got {y.min()} to {y.max()}")
    count = np.bincount(y, minlength=num_classes)
    correct = np.bincount(y, weights=np.argmax(probs, axis=-1) == y, minlength=num_classes)
    with np.errstate(invalid="ignore"):  # 0 / 0 for an absent class is the NaN documented
        return correct / count


def nll(log_density: ArrayLike) -> float:
    """Negative log-likelihood per point of the averaged probabilities.

    Takes the predictive's log density rather than its probabilities: for a categorical
    likelihood ``summarise(...)["log_density"]`` is exactly ``log`` of the averaged
    probability of the true label, accumulated by log-sum-exp, so it needs no clipping
    where that probability underflows.

    Args:
        log_density: ``log p(y_i | x_i, D)`` per test point ``(n,)``.

    Returns:
        ``-mean_i log_density_i``.
    """
    return -log_likelihood(log_density)


class Reliability(NamedTuple):
    """Top-1 confidence against accuracy in equal-width confidence bins.

    Attributes:
        edges: ``(B + 1,)`` the bin edges, ``0, 1/B, ..., 1``.
        count: ``(B,)`` the number of points in each bin.
        confidence: ``(B,)`` the mean top-1 confidence of each bin's points (NaN in an empty bin).
        accuracy: ``(B,)`` the fraction of each bin's points whose top-1 class is the label
            (NaN in an empty bin).
    """

    edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray


def reliability(probs: ArrayLike, y: ArrayLike, *, num_bins: int = 15) -> Reliability:
    """The numbers behind a reliability diagram and the ECE.

    Each point falls in the bin ``((b - 1) / B, b / B]`` holding its top-1 confidence
    (a confidence of exactly 0 in the first bin).

    Args:
        probs: predictive class probabilities ``(n, K)``.
        y: integer labels ``(n,)``.
        num_bins: ``B``, the number of bins on ``[0, 1]``.

    Returns:
        A :class:`Reliability`.

    References:
        Guo, Pleiss, Sun & Weinberger, On calibration of modern neural networks, ICML 2017.
    """
    probs, y = _labels_for(probs, y)
    confidence = np.max(probs, axis=-1)
    correct = (np.argmax(probs, axis=-1) == y).astype(np.float64)
    # The bin b with edges[b] < confidence <= edges[b + 1], against the same edges as the
    # usual implementations, so that points on an edge land where theirs do.
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, num_bins - 1)
    count = np.bincount(bins, minlength=num_bins)
    with np.errstate(invalid="ignore"):  # 0 / 0 in an empty bin is the NaN documented
        return Reliability(edges, count, np.bincount(bins, weights=confidence, minlength=num_bins) / count,
                           np.bincount(bins, weights=correct, minlength=num_bins) / count)


def ece(probs: ArrayLike, y: ArrayLike, *, num_bins: int = 15) -> float:
    """Expected calibration error over equal-width bins of top-1 confidence.

    The average over the bins of :func:`reliability` of ``|accuracy - mean confidence|``,
    each bin weighted by its fraction of the points.

    Args:
        probs: predictive class probabilities ``(n, K)``.
        y: integer labels ``(n,)``.
        num_bins: ``B``, the number of bins on ``[0, 1]``.

    Returns:
        A float in ``[0, 1]`` (0 for no points).

    References:
        Guo, Pleiss, Sun & Weinberger, On calibration of modern neural networks, ICML 2017.
    """
    table = reliability(probs, y, num_bins=num_bins)
    occupied = table.count > 0
    fraction = table.count[occupied] / max(table.count.sum(), 1)
    return float(np.sum(fraction * np.abs(table.accuracy[occupied] - table.confidence[occupied])))


def brier(probs: ArrayLike, y: ArrayLike) -> float:
    """The Brier score: squared error of the probability vector against the one-hot label.

    Args:
        probs: predictive class probabilities ``(n, K)``.
        y: integer labels ``(n,)``.

    Returns:
        ``mean_i sum_k (p_ik - [y_i = k])^2``, in ``[0, 2]``.
    """
    probs, y = _labels_for(probs, y)
    one_hot = np.eye(probs.shape[1])[y]
    return float(np.mean(np.sum(np.square(probs - one_hot), axis=-1)))


def predictive_entropy(probs: ArrayLike) -> np.ndarray:
    """Entropy of the averaged predictive probabilities at each test point.

    The total uncertainty of the posterior predictive, ``H[p(y | x, D)]``, in nats, with
    ``0 log 0 = 0`` so that one-hot probabilities have entropy 0.

    Args:
        probs: predictive class probabilities ``(n, K)``.

    Returns:
        ``(n,)``: ``-sum_k p_ik log p_ik``, in ``[0, log K]``.
    """
    probs = np.asarray(probs, np.float64)
    if probs.ndim != 2:
        raise ValueError(f"need probs (n, K), got {probs.shape}")
    return np.sum(special.entr(probs), axis=-1)


def _score_sets(scores_in: ArrayLike, scores_out: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both sets of scores as float64 ``(n,)``, each non-empty and finite."""
    scores_in, scores_out = np.asarray(scores_in, np.float64), np.asarray(scores_out, np.float64)
    if scores_in.ndim != 1 or scores_out.ndim != 1 or not scores_in.size or not scores_out.size:
        raise ValueError(f"need two non-empty (n,) score arrays, got {scores_in.shape} and {scores_out.shape}")
    if not (np.all(np.isfinite(scores_in)) and np.all(np.isfinite(scores_out))):
        raise ValueError("scores must be finite")
    return scores_in, scores_out


def auroc(scores_in: ArrayLike, scores_out: ArrayLike) -> float:
    """Area under the ROC curve of telling OOD points from in-distribution ones by a score.

    The OOD points are the positive class and a higher score means more OOD. The area is
    the Mann-Whitney statistic: the probability that a random OOD point scores above a
    random in-distribution one, a tie counting 1/2 (what the trapezoid rule gives over
    the ROC curve's tied steps). It is computed in ``O(n log n)`` from the OOD points'
    ranks among all points, tied scores sharing their average rank.

    Args:
        scores_in: scores of the in-distribution test points ``(n_in,)``.
        scores_out: scores of the OOD test points ``(n_out,)``.

    Returns:
        A float in ``[0, 1]``: 1 when every OOD point scores above every in-distribution
        one, 1/2 for scores that do not tell them apart; ``auroc(a, b) = 1 - auroc(b, a)``.

    References:
        Mann & Whitney, On a test of whether one of two random variables is stochastically
        larger than the other, Annals of Mathematical Statistics 1947;
        Hanley & McNeil, The meaning and use of the area under a ROC curve, Radiology 1982.
    """
    scores_in, scores_out = _score_sets(scores_in, scores_out)
    ranks = stats.rankdata(np.concatenate([scores_in, scores_out]))  # 1-based; ties share their mean rank
    # The OOD rank sum less its least possible value counts the (OOD, in) pairs in order.
    pairs_in_order = np.sum(ranks[len(scores_in):]) - len(scores_out) * (len(scores_out) + 1) / 2
    return float(pairs_in_order / (len(scores_in) * len(scores_out)))


def aupr(scores_in: ArrayLike, scores_out: ArrayLike) -> float:
    """Area under the precision-recall curve of detecting OOD points, as average precision.

    The OOD points are the positive class and a higher score means more OOD. Every
    distinct score ``t`` is a threshold flagging the points that score ``>= t``, so
    tied points are flagged together; the average precision is the step-wise sum
    ``sum_t (R_t - R_t') P_t`` over the thresholds in decreasing order, ``P_t`` and
    ``R_t`` the precision and recall at ``t`` and ``R_t'`` the recall at the threshold
    before (0 before the first). This is scikit-learn's ``average_precision_score``, with
    no interpolation of the curve.

    Args:
        scores_in: scores of the in-distribution test points ``(n_in,)``.
        scores_out: scores of the OOD test points ``(n_out,)``.

    Returns:
        A float in ``(0, 1]``: 1 when every OOD point scores above every in-distribution
        one; near the OOD fraction ``n_out / (n_in + n_out)`` for scores that do not tell
        them apart.

    References:
        Davis & Goadrich, The relationship between precision-recall and ROC curves, ICML 2006.
    """
    scores_in, scores_out = _score_sets(scores_in, scores_out)
    scores = np.concatenate([scores_in, scores_out])
    order = np.argsort(-scores, kind="stable")
    positive = np.concatenate([np.zeros(len(scores_in)), np.ones(len(scores_out))])[order]
    # The last place of each run of tied scores in decreasing order: a threshold's flagged set.
    last = np.append(np.flatnonzero(np.diff(scores[order])), len(scores) - 1)
    true_positives = np.cumsum(positive)[last]
    precision = true_positives / (last + 1)
    recall_step = np.diff(true_positives, prepend=0.0) / len(scores_out)
    return float(np.sum(recall_step * precision))


def ood_metrics(probs_in: ArrayLike, probs_out: ArrayLike) -> dict[str, float]:
    """How well predictive entropy tells an OOD test set from the in-distribution one.

    Args:
        probs_in: predictive class probabilities on the in-distribution test set ``(n_in, K)``.
        probs_out: predictive class probabilities on the OOD test set ``(n_out, K)``.

    Returns:
        ``{"test_ood_auroc", "test_ood_aupr"}`` (:func:`auroc`, :func:`aupr`), with the OOD
        points as the positive class and :func:`predictive_entropy` as the score.
    """
    entropy_in, entropy_out = predictive_entropy(probs_in), predictive_entropy(probs_out)
    if np.shape(probs_in)[1] != np.shape(probs_out)[1]:  # both (n, K), as predictive_entropy checked
        raise ValueError(f"the predictives have {np.shape(probs_in)[1]} and {np.shape(probs_out)[1]} classes")
    return {"test_ood_auroc": auroc(entropy_in, entropy_out), "test_ood_aupr": aupr(entropy_in, entropy_out)}


def regression_metrics(summary: dict[str, ArrayLike], y: ArrayLike, *, y_scale: float) -> dict[str, float]:
    """RMSE and test log-likelihood, in original units.

    Args:
        summary: ``posterior.predictive.summarise(...)`` of a Gaussian predictive, with
            ``mean`` and ``log_density`` in standardised units.
        y: test targets in the same standardised units.
        y_scale: the standard deviation the targets were divided by (1.0 when they were
            not standardised).

    Returns:
        ``{"test_rmse", "test_ll"}``; the log-likelihood is that of the predictive
        mixture (not a moment-matched Gaussian).
    """
    return {
        "test_rmse": rmse(summary["mean"], y, scale=y_scale),
        "test_ll": log_likelihood(summary["log_density"], scale=y_scale),
    }


def classification_metrics(summary: dict[str, ArrayLike], y: ArrayLike) -> dict[str, float]:
    """Accuracy, NLL, ECE and Brier score of a categorical predictive.

    Args:
        summary: ``posterior.predictive.summarise(...)`` with ``probs`` and
            ``log_density``.
        y: integer test labels ``(n,)``.

    Returns:
        ``{"test_accuracy", "test_nll", "test_ece", "test_brier"}``.
    """
    probs = summary["probs"]
    return {
        "test_accuracy": accuracy(probs, y),
        "test_nll": nll(summary["log_density"]),
        "test_ece": ece(probs, y),
        "test_brier": brier(probs, y),
    }


def _probs_pair(probs: ArrayLike, reference: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Two predictives' class probabilities as float64 ``(n, K)``, checked against each other."""
    probs, reference = np.asarray(probs, np.float64), np.asarray(reference, np.float64)
    if probs.ndim != 2 or probs.shape != reference.shape:
        raise ValueError(f"need two (n, K) probability arrays of one shape, got {probs.shape} and {reference.shape}")
    return probs, reference


def agreement(probs: ArrayLike, reference: ArrayLike) -> float:
    """The fraction of test points whose most probable class is the reference's.

    Args:
        probs: predictive class probabilities ``(n, K)``.
        reference: the reference predictive's ``(n, K)`` (e.g. long HMC's).

    Returns:
        A float in ``[0, 1]``; 1 for identical predictives.
    """
    probs, reference = _probs_pair(probs, reference)
    return float(np.mean(np.argmax(probs, axis=-1) == np.argmax(reference, axis=-1)))


def total_variation(probs: ArrayLike, reference: ArrayLike) -> float:
    """Total variation distance to a reference predictive, averaged over test points.

    Args:
        probs: predictive class probabilities ``(n, K)``.
        reference: the reference predictive's ``(n, K)``.

    Returns:
        ``mean_i 1/2 sum_k |p_ik - p_ref_ik|``, in ``[0, 1]``: 0 for identical
        predictives, 1 where they put their mass on disjoint classes.
    """
    probs, reference = _probs_pair(probs, reference)
    return float(np.mean(0.5 * np.sum(np.abs(probs - reference), axis=-1)))


class GaussianMixture(NamedTuple):
    """A regression predictive: at each test point a mixture of Gaussians, one per draw.

    Attributes:
        means: ``(S, n)`` each draw's predictive mean at each test point.
        stds: ``(S,)`` or ``(S, n)`` each draw's noise standard deviation (> 0).
        weights: ``(S,)`` the draws' weights (>= 0; normalised here to sum to 1).
    """

    means: ArrayLike
    stds: ArrayLike
    weights: ArrayLike


def _components(mixture: GaussianMixture) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``mixture`` as float64 means ``(S, n)``, stds ``(S, n)`` and normalised weights ``(S,)``, checked."""
    means = np.asarray(mixture.means, np.float64)
    stds = np.asarray(mixture.stds, np.float64)
    weights = np.asarray(mixture.weights, np.float64)
    if means.ndim != 2 or weights.shape != means.shape[:1] or stds.shape not in (means.shape[:1], means.shape):
        raise ValueError(f"need means (S, n), stds (S,) or (S, n) and weights (S,), got {means.shape}, "
                         f"{stds.shape} and {weights.shape}")
    if not (np.all(np.isfinite(means)) and np.all(np.isfinite(stds)) and np.all(stds > 0)):
        raise ValueError("a Gaussian mixture needs finite means and finite standard deviations > 0")
    if not (np.all(np.isfinite(weights)) and np.all(weights >= 0) and weights.sum() > 0):
        raise ValueError("a Gaussian mixture needs finite weights >= 0 of positive sum")
    stds = np.broadcast_to(stds.reshape(len(stds), -1), means.shape)
    return means, stds, weights / weights.sum()


def _point_pair(mixture: GaussianMixture, reference: GaussianMixture):
    """The components of two mixtures over the same test points."""
    first, second = _components(mixture), _components(reference)
    if first[0].shape[1] != second[0].shape[1]:
        raise ValueError(f"the mixtures cover {first[0].shape[1]} and {second[0].shape[1]} test points")
    return first, second


def mixture_mean(mixture: GaussianMixture) -> np.ndarray:
    """The mixture's mean at each test point, ``sum_s w_s mu_s``, shape ``(n,)``."""
    means, _, weights = _components(mixture)
    return weights @ means


def mixture_quantile(mixture: GaussianMixture, q: float) -> np.ndarray:
    """The ``q``-quantile of the mixture at each test point, shape ``(n,)``.

    Found by bisection on the mixture's CDF ``F(y) = sum_s w_s Phi((y - mu_s) / sigma_s)``
    (continuous and increasing), starting from the bracket ``[min_s (mu_s - 8 sigma_s),
    max_s (mu_s + 8 sigma_s)]`` and halving it until it is a few float64 rounding steps of
    its ends wide.

    Args:
        mixture: the predictive.
        q: the probability, in ``(0, 1)``.
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"a quantile needs q in (0, 1), got {q}")
    means, stds, weights = _components(mixture)
    low, high = np.min(means - 8 * stds, axis=0), np.max(means + 8 * stds, axis=0)
    tolerance = 4 * np.finfo(np.float64).eps * np.maximum(np.abs(low), np.abs(high))
    while np.any(high - low > tolerance):  # about 55 halvings
        middle = 0.5 * (low + high)
        below = weights @ special.ndtr((middle - means) / stds) < q
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    return 0.5 * (low + high)


def _density(grid: np.ndarray, means: np.ndarray, stds: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``sum_s w_s N(grid; mu_s, sigma_s^2)`` at every grid point, in blocks of the grid
    so that memory stays near 2**22 numbers however many draws and grid points."""
    block = max(1, 2**22 // len(means))
    density = np.empty_like(grid)
    for start in range(0, len(grid), block):
        z = (grid[None, start:start + block] - means[:, None]) / stds[:, None]
        density[start:start + block] = weights @ (np.exp(-0.5 * z * z) / stds[:, None])
    return density / math.sqrt(2 * math.pi)


def mixture_total_variation(mixture: GaussianMixture, reference: GaussianMixture, *,
                            points_per_std: int = 32) -> float:
    """Total variation between two Gaussian-mixture predictives, averaged over test points.

    At each test point, ``1/2 integral |p(y) - p_ref(y)| dy`` by the trapezoid rule on
    an evenly spaced grid from the lowest ``mu - 8 sigma`` to the highest ``mu + 8 sigma``
    of every component of both mixtures (the mass outside is below 1e-15), spaced
    ``points_per_std`` points per smallest component standard deviation. The error comes
    from the kinks of ``|p - p_ref|`` where the densities cross, about
    ``0.04 / points_per_std**2`` per crossing: for two Gaussians of equal variance,
    against the closed form ``2 Phi(|mu_1 - mu_2| / (2 sigma)) - 1``, at most 4e-5 with
    the default.

    Args:
        mixture: the predictive judged.
        reference: the reference predictive, over the same test points.
        points_per_std: grid points per smallest standard deviation.

    Returns:
        A float in ``[0, 1]``: 0 for identical predictives, near 1 for ones far apart.
    """
    (means, stds, weights), (ref_means, ref_stds, ref_weights) = _point_pair(mixture, reference)
    distances = []
    for point in range(means.shape[1]):
        components = [(means[:, point], stds[:, point], weights), (ref_means[:, point], ref_stds[:, point],
                                                                    ref_weights)]
        low = min(np.min(mu - 8 * sigma) for mu, sigma, _ in components)
        high = max(np.max(mu + 8 * sigma) for mu, sigma, _ in components)
        spacing = min(np.min(sigma) for _, sigma, _ in components) / points_per_std
        grid = np.linspace(low, high, int(math.ceil((high - low) / spacing)) + 1)
        difference = _density(grid, *components[0]) - _density(grid, *components[1])
        distances.append(0.5 * np.trapezoid(np.abs(difference), grid))
    return float(np.mean(distances))


def mixture_agreement(mixture: GaussianMixture, reference: GaussianMixture) -> float:
    """Agreement of a regression predictive with a reference: our definition.

    Top-1 agreement has no meaning for a continuous target, so we count the test points
    at which the predictive's mean lies inside the reference's central 50% interval
    (between its quartiles, :func:`mixture_quantile`, ends included). A predictive
    agrees with itself at every point unless its mixture is so skewed that its mean
    falls outside its own quartiles.

    Args:
        mixture: the predictive judged.
        reference: the reference predictive, over the same test points.

    Returns:
        A float in ``[0, 1]``.
    """
    _point_pair(mixture, reference)
    mean = mixture_mean(mixture)
    lower, upper = mixture_quantile(reference, 0.25), mixture_quantile(reference, 0.75)
    return float(np.mean((lower <= mean) & (mean <= upper)))


def classification_reference_metrics(probs: ArrayLike, reference: ArrayLike) -> dict[str, float]:
    """Agreement and total variation of class probabilities against a reference's.

    Returns:
        ``{"reference_agreement", "reference_tv"}`` (:func:`agreement`,
        :func:`total_variation`).
    """
    return {"reference_agreement": agreement(probs, reference), "reference_tv": total_variation(probs, reference)}


def regression_reference_metrics(mixture: GaussianMixture, reference: GaussianMixture) -> dict[str, float]:
    """Agreement and total variation of a Gaussian-mixture predictive against a reference's.

    Returns:
        ``{"reference_agreement", "reference_tv"}`` (:func:`mixture_agreement`, our
        definition; :func:`mixture_total_variation`).
    """
    return {"reference_agreement": mixture_agreement(mixture, reference),
            "reference_tv": mixture_total_variation(mixture, reference)}
