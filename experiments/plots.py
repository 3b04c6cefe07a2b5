"""The pictures of a run: predictive bands (1-D inputs), log-posterior trace, R-hat/ESS,
and for a fitted prior its Wasserstein trace and function draws; for classification a
reliability diagram, per-class accuracy and the predictive entropy of in-distribution and
OOD test points; and the toy benchmark's sweep of samplers over step sizes.

Each function draws one figure from arrays and saves it to the path it is given
(matplotlib's non-interactive backend, so it works without a display).
"""

import pathlib
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen first)
import numpy as np  # noqa: E402

from experiments import convergence  # noqa: E402
from posterior import metrics  # noqa: E402


def _save(figure, path: pathlib.Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=120, format="png")  # the path may be a temporary name
    plt.close(figure)


def predictive_bands(path: pathlib.Path, *, x_train, y_train, x_test, y_test, mean, std, title: str) -> None:
    """Predictive mean with 1 and 2 standard-deviation bands over 1-D test inputs."""
    order = np.argsort(x_test[:, 0])
    x, mean, std = x_test[order, 0], mean[order], std[order]
    figure, axes = plt.subplots(figsize=(7, 4))
    for width, alpha in ((2, 0.2), (1, 0.35)):
        axes.fill_between(x, mean - width * std, mean + width * std, color="C0", alpha=alpha, linewidth=0,
                          label=f"±{width} sd")
    axes.plot(x, mean, color="C0", label="predictive mean")
    axes.plot(x, y_test[order], color="k", linewidth=0.8, alpha=0.6, label="test targets")
    axes.scatter(x_train[:, 0], y_train, s=12, color="C3", zorder=3, label="training data")
    axes.set(xlabel="input (standardised)", ylabel="target", title=title)
    axes.legend(fontsize=8, loc="best")
    _save(figure, path)


def logdensity_trace(path: pathlib.Path, logdensity: np.ndarray, *, burn_in: int, thin: int, title: str,
                     full_batch: bool) -> None:
    """The log posterior (a minibatch estimate unless ``full_batch``) at each kept draw, one
    line per chain, against the sampler step that produced the draw.

    Only kept draws are traced: draw ``k`` (from 1) follows step ``burn_in + k * thin``
    (``samplers.sample``), so the burn-in is shaded as steps that ran but were not recorded.

    Args:
        path: where the PNG goes.
        logdensity: ``(chain, kept draw)`` log posterior values.
        burn_in: steps run before the first kept draw.
        thin: steps between kept draws.
        title: the figure's title.
        full_batch: whether the values are exact rather than minibatch estimates.
    """
    figure, axes = plt.subplots(figsize=(7, 3.5))
    steps = burn_in + thin * np.arange(1, np.shape(logdensity)[1] + 1)
    labelled = len(logdensity) <= 8  # beyond that a legend of chains says nothing
    for chain, values in enumerate(logdensity):
        axes.plot(steps, values, linewidth=1, label=f"chain {chain}" if labelled else "_nolegend_")
    if burn_in:
        axes.axvspan(0, burn_in, color="0.88", label=f"burn-in ({burn_in} steps, not traced)")
    axes.set_xlim(left=0)
    ylabel = "log posterior" if full_batch else "log posterior (minibatch estimate)"
    every = "every step" if thin == 1 else f"every {thin} steps"
    axes.set(xlabel=f"sampler step (kept draws only: {every} after burn-in)", ylabel=ylabel, title=title)
    if labelled or burn_in:
        axes.legend(fontsize=8)
    _save(figure, path)


def rhat_ess_summary(path: pathlib.Path, rhat: np.ndarray, ess: np.ndarray, *, num_draws: int, title: str) -> None:
    """Histograms of split R-hat and ESS over the test predictions, each with its reference line."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.hist(np.ravel(rhat)[np.isfinite(np.ravel(rhat))], bins=30, color="C0")
    left.axvline(1.01, color="k", linestyle="--", linewidth=1,
                 label=f"R-hat = 1.01 (converged below;\nthe run warns above {convergence.RHAT_LIMIT})")
    left.set(xlabel="split R-hat", ylabel="test predictions")
    left.legend(fontsize=8)
    right.hist(np.ravel(ess)[np.isfinite(np.ravel(ess))], bins=30, color="C1")
    right.axvline(num_draws, color="k", linestyle="--", linewidth=1,
                  label=f"ESS = {num_draws}, the draws judged\n(as many as independent draws)")
    right.set(xlabel="effective sample size", ylabel="test predictions")
    right.legend(fontsize=8)
    figure.suptitle(title)
    _save(figure, path)


def wasserstein_trace(path: pathlib.Path, trace: np.ndarray, *, judged: dict, warm_critic: bool, title: str) -> None:
    """The fitting critic's W1 estimate of the prior after each step on its hyperparameters,
    beside the judged W1 of the initial and the fitted prior, with a caption on how to read it.

    Args:
        path: where the PNG goes.
        trace: the estimate at each outer iteration (``priors.wasserstein.FitResult.trace``),
            taken before that iteration's step on the prior.
        judged: the fit's report (``w1_initial``, ``w1_final`` and their ``_error``), from
            fresh critics trained until their objective settled.
        warm_critic: whether the fitting critic was carried across iterations.
        title: the figure's title.
    """
    if warm_critic:
        # On toy1d-gpig with the prior held fixed (learning rate 0) the estimate still climbs,
        # from 4 to 31 over 30 iterations: the early rise is the critic learning, not the fit.
        reading = ("The fitting critic is kept across iterations and starts untrained: its first estimates are "
                   "low and climb while it learns, then fall as the prior nears the GP.")
    else:
        reading = ("A fresh critic every iteration, trained only for the iteration's steps: a noisy estimate "
                   "that can be negative.")
    caption = textwrap.fill(f"{reading} Compare priors by the judged W1 (fresh critics trained to convergence).",
                            100)
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.plot(np.arange(len(trace)), trace, linewidth=1, color="C0", label="fitting critic's estimate")
    axes.errorbar([0, len(trace)], [judged["w1_initial"], judged["w1_final"]],
                  yerr=[judged["w1_initial_error"], judged["w1_final_error"]], fmt="o", color="C3", capsize=3,
                  label="judged W1: initial and fitted prior")
    axes.axhline(0.0, color="k", linewidth=0.6)
    axes.set(xlabel="steps taken on the prior's hyperparameters", ylabel="W1 estimate (prior to GP)")
    axes.set_title(caption, fontsize=8, loc="left")
    axes.legend(fontsize=8)
    figure.suptitle(title)
    _save(figure, path)


def prior_functions(path: pathlib.Path, *, x, gp, initial, fitted, title: str) -> None:
    """Function draws of the GP target beside the network prior before and after fitting."""
    figure, panels = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    for axes, (label, draws, color) in zip(panels, (("GP target", gp, "C2"), ("prior before fitting", initial, "C1"),
                                                     ("fitted prior", fitted, "C0"))):
        axes.plot(x, np.asarray(draws).T, color=color, linewidth=0.9, alpha=0.7)
        axes.set(title=label, xlabel="input (standardised)")
    panels[0].set_ylabel("f(x)")
    figure.suptitle(title)
    _save(figure, path)


def reliability_diagram(path: pathlib.Path, *, probs, y, num_bins: int = 15, title: str) -> None:
    """Accuracy per top-1 confidence bin against the diagonal, each bin's mean confidence
    and its gap to the accuracy marked and the ECE written on; beneath, the histogram of
    confidences with the mean confidence and the accuracy marked."""
    table = metrics.reliability(probs, y, num_bins=num_bins)
    occupied = table.count > 0  # an empty bin has no accuracy to draw
    left, width = table.edges[:-1][occupied], np.diff(table.edges)[occupied]
    accuracy, confidence = table.accuracy[occupied], table.confidence[occupied]
    figure, (diagram, histogram) = plt.subplots(2, 1, figsize=(5, 6.5), sharex=True,
                                                gridspec_kw={"height_ratios": (3, 1)})
    diagram.bar(left, accuracy, width=width, align="edge", color="C0", edgecolor="k", linewidth=0.5,
                label="accuracy")
    # Opaque lines over the bars, not a translucent fill: a fill over a bar blends into a
    # colour the legend lacks, and the bar's top no longer reads as the accuracy.
    diagram.hlines(confidence, left, left + width, color="C3", linewidth=2.5, label="mean confidence in the bin")
    diagram.vlines(left + width / 2, accuracy, confidence, color="C3", linewidth=1.0, label="gap to accuracy")
    diagram.plot([0, 1], [0, 1], color="k", linestyle="--", linewidth=1, label="perfect calibration")
    diagram.text(0.97, 0.03, f"ECE {metrics.ece(probs, y, num_bins=num_bins):.4f}", transform=diagram.transAxes,
                 ha="right", va="bottom", bbox={"facecolor": "white", "edgecolor": "0.7"})
    diagram.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy in the confidence bin", title=title)
    diagram.legend(fontsize=8, loc="upper left")
    histogram.bar(table.edges[:-1], table.count / max(table.count.sum(), 1), width=np.diff(table.edges),
                  align="edge", color="0.6", edgecolor="k", linewidth=0.5)
    histogram.axvline(np.max(probs, axis=-1).mean(), color="C1", linestyle="--", label="mean confidence")
    histogram.axvline(metrics.accuracy(probs, y), color="k", label="accuracy")
    histogram.set(xlabel="top-1 confidence", ylabel="fraction of points", title="confidence histogram")
    histogram.legend(fontsize=8, loc="upper left")
    _save(figure, path)


def ood_entropy_histogram(path: pathlib.Path, *, entropy_in, entropy_out, auroc: float, title: str) -> None:
    """Histograms (as densities, on shared bins) of the predictive entropy of in-distribution
    and OOD test points, with the AUROC of telling them apart by it."""
    entropy_in, entropy_out = np.ravel(entropy_in), np.ravel(entropy_out)
    edges = np.histogram_bin_edges(np.concatenate([entropy_in, entropy_out]), bins=30)
    figure, axes = plt.subplots(figsize=(7, 3.8))
    for entropy, label, color in ((entropy_in, "in-distribution", "C0"), (entropy_out, "OOD", "C3")):
        axes.hist(entropy, bins=edges, density=True, alpha=0.5, color=color, label=f"{label} ({len(entropy)} points)")
    axes.set(xlabel="predictive entropy (nats)", ylabel="density", title=title)
    axes.legend(fontsize=8, title=f"AUROC {auroc:.4f}", title_fontsize=8)
    _save(figure, path)


def per_class_accuracy_bars(path: pathlib.Path, *, accuracy, title: str) -> None:
    """Accuracy per class as bars on an axis from a little below the lowest, the legend
    beside the axes; a class with no test points (NaN) is marked with an x."""
    accuracy = np.asarray(accuracy, np.float64)
    classes = np.arange(len(accuracy))
    absent = np.isnan(accuracy)
    lowest = np.min(accuracy[~absent]) if not absent.all() else 0.0
    # From 0 the differences between accuracies near 1 would not show.
    bottom = max(0.0, lowest - 0.1 * (1.0 - lowest) - 0.01)
    figure, axes = plt.subplots(figsize=(min(max(7.5, 0.3 * len(accuracy) + 1.5), 17.5), 3.8))
    axes.bar(classes[~absent], accuracy[~absent], color="C0")
    if absent.any():  # on the axis's lower edge, wherever the axis starts
        axes.plot(classes[absent], np.zeros(absent.sum()), "x", color="C3", clip_on=False, label="no test points",
                  transform=axes.get_xaxis_transform())
    if not absent.all():
        axes.axhline(np.mean(accuracy[~absent]), color="k", linestyle="--", linewidth=1, label="mean over classes")
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ylabel = "accuracy" if bottom == 0.0 else "accuracy (axis not from 0)"
    axes.set(xlabel="class", ylabel=ylabel, ylim=(bottom, 1.0 + 0.02 * (1.0 - bottom)), title=title)
    if len(accuracy) <= 20:  # a tick per class while the labels still fit
        axes.set_xticks(classes)
    _save(figure, path)


def toy_sweep(path, *, panels: list[dict]) -> None:
    """For each 2-D target a row: each sampler's draws at its best step size over the
    log-density contours (time-weighted draws sized by weight), and the squared MMD
    against step size.

    Each panel is ``{"name", "x", "y", "logdensity" (len(y), len(x)), "best": {sampler:
    (step_size, draws (n, 2), weights (n,)) or None}, "sweep": {sampler: (step_sizes,
    squared MMD, its standard error; NaN where it diverged)}, "floor": the squared MMD
    of exact draws}``.
    """
    columns = 1 + max(len(panel["best"]) for panel in panels)
    figure, axes = plt.subplots(len(panels), columns, figsize=(4.3 * columns, 3.8 * len(panels)), squeeze=False)
    for row, panel in zip(axes, panels):
        levels = np.max(panel["logdensity"]) - np.array([12.0, 8.0, 5.0, 3.0, 2.0, 1.0, 0.5])
        for index, (axes_, sampler) in enumerate(zip(row[:-1], panel["best"])):
            axes_.contour(panel["x"], panel["y"], panel["logdensity"], levels=levels, colors="0.5", linewidths=0.7)
            best = panel["best"][sampler]
            if best is None:
                axes_.set_title(f"{panel['name']}: {sampler}\ndiverged at every step size", fontsize=9)
                continue
            step_size, draws, weights = best
            axes_.scatter(draws[:, 0], draws[:, 1], s=4.0 * weights / np.mean(weights), alpha=0.3,
                          color=f"C{index}", linewidths=0)
            axes_.set(xlim=(panel["x"][0], panel["x"][-1]), ylim=(panel["y"][0], panel["y"][-1]))
            axes_.set_title(f"{panel['name']}: {sampler}\nat its best step {step_size:.3g}", fontsize=9)
        for axes_ in row[len(panel["best"]):-1]:
            axes_.axis("off")
        sweep = row[-1]
        for index, (sampler, (step_sizes, squared, se)) in enumerate(panel["sweep"].items()):
            sweep.errorbar(step_sizes, squared, yerr=se, fmt="o-", color=f"C{index}", label=sampler, capsize=2)
            diverged = np.isnan(squared)
            if diverged.any():
                top = np.nanmax(squared) if (~diverged).any() else 1.0
                sweep.plot(step_sizes[diverged], np.full(diverged.sum(), top), "x", color=f"C{index}", markersize=9)
        sweep.axhline(panel["floor"], color="0.4", linestyle=":", label="exact draws")
        # symlog: the unbiased estimate is near zero, or a little below, for good samplers.
        sweep.set_yscale("symlog", linthresh=1e-4)
        sweep.set(xscale="log", xlabel="step size (SA-SGLD: base step)", ylabel="squared MMD to the truth (unbiased)")
        sweep.set_title(f"{panel['name']}: x = diverged", fontsize=9)
        sweep.legend(fontsize=7)
    _save(figure, path)
