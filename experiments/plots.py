"""The pictures of a run: predictive bands (1-D inputs), log-posterior trace, R-hat/ESS,
and for a fitted prior its Wasserstein trace and function draws; for classification a
reliability diagram, per-class accuracy and the predictive entropy of in-distribution and
OOD test points; and the toy benchmark's sweep of samplers over step sizes.

Each function draws one figure from arrays and saves it to the path it is given
(matplotlib's non-interactive backend, so it works without a display).
"""

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen first)
import numpy as np  # noqa: E402

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


def logdensity_trace(path: pathlib.Path, logdensity: np.ndarray, *, title: str, full_batch: bool) -> None:
    """The log posterior (a minibatch estimate unless ``full_batch``) at each kept draw, one line per chain."""
    figure, axes = plt.subplots(figsize=(7, 3.5))
    for chain, values in enumerate(logdensity):
        axes.plot(values, linewidth=1, label=f"chain {chain}")
    ylabel = "log posterior" if full_batch else "log posterior (minibatch estimate)"
    axes.set(xlabel="kept draw", ylabel=ylabel, title=title)
    if len(logdensity) <= 8:
        axes.legend(fontsize=8)
    _save(figure, path)


def rhat_ess_summary(path: pathlib.Path, rhat: np.ndarray, ess: np.ndarray, *, num_draws: int, title: str) -> None:
    """Histograms of split R-hat and ESS over the test predictions."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.hist(np.ravel(rhat)[np.isfinite(np.ravel(rhat))], bins=30, color="C0")
    left.axvline(1.01, color="k", linestyle="--", linewidth=1, label="1.01")
    left.set(xlabel="split R-hat", ylabel="test predictions")
    left.legend(fontsize=8)
    right.hist(np.ravel(ess)[np.isfinite(np.ravel(ess))], bins=30, color="C1")
    right.axvline(num_draws, color="k", linestyle="--", linewidth=1, label=f"draws ({num_draws})")
    right.set(xlabel="effective sample size")
    right.legend(fontsize=8)
    figure.suptitle(title)
    _save(figure, path)


def wasserstein_trace(path: pathlib.Path, trace: np.ndarray, *, title: str) -> None:
    """The critic's W1 estimate at each outer iteration of a prior fit."""
    figure, axes = plt.subplots(figsize=(7, 3.5))
    axes.plot(np.arange(1, len(trace) + 1), trace, linewidth=1)
    axes.axhline(0.0, color="k", linewidth=0.6)
    axes.set(xlabel="outer iteration", ylabel="W1 estimate (fitting critic)", title=title)
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
    """Accuracy per top-1 confidence bin against the diagonal, the gap to each bin's mean
    confidence shaded and the ECE written on; beneath, the histogram of confidences with
    the mean confidence and the accuracy marked."""
    table = metrics.reliability(probs, y, num_bins=num_bins)
    occupied = table.count > 0  # an empty bin has no accuracy to draw
    left, width = table.edges[:-1][occupied], np.diff(table.edges)[occupied]
    accuracy, confidence = table.accuracy[occupied], table.confidence[occupied]
    figure, (diagram, histogram) = plt.subplots(2, 1, figsize=(5, 6.5), sharex=True,
                                                gridspec_kw={"height_ratios": (3, 1)})
    diagram.bar(left, accuracy, width=width, align="edge", color="C0", edgecolor="k", linewidth=0.5,
                label="accuracy")
    diagram.bar(left, np.abs(confidence - accuracy), width=width, bottom=np.minimum(confidence, accuracy),
                align="edge", color="C3", alpha=0.3, hatch="//", edgecolor="C3", linewidth=0.5,
                label="gap to mean confidence")
    diagram.plot([0, 1], [0, 1], color="k", linestyle="--", linewidth=1, label="perfect calibration")
    diagram.text(0.97, 0.03, f"ECE {metrics.ece(probs, y, num_bins=num_bins):.4f}", transform=diagram.transAxes,
                 ha="right", va="bottom", bbox={"facecolor": "white", "edgecolor": "0.7"})
    diagram.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy", title=title)
    diagram.legend(fontsize=8, loc="upper left")
    histogram.bar(table.edges[:-1], table.count / max(table.count.sum(), 1), width=np.diff(table.edges),
                  align="edge", color="C0", edgecolor="k", linewidth=0.5)
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
    """Accuracy per class as bars; a class with no test points (NaN) is marked with an x."""
    accuracy = np.asarray(accuracy, np.float64)
    classes = np.arange(len(accuracy))
    absent = np.isnan(accuracy)
    figure, axes = plt.subplots(figsize=(min(max(6.0, 0.3 * len(accuracy)), 16.0), 3.8))
    axes.bar(classes[~absent], accuracy[~absent], color="C0")
    if absent.any():
        axes.plot(classes[absent], np.zeros(absent.sum()), "x", color="C3", clip_on=False, label="no test points")
    if not absent.all():
        axes.axhline(np.mean(accuracy[~absent]), color="k", linestyle="--", linewidth=1, label="mean over classes")
    axes.legend(fontsize=8, loc="best", framealpha=0.9)
    axes.set(xlabel="class", ylabel="accuracy", ylim=(0, 1.02), title=title)
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
