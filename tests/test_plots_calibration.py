"""The classification figures write a PNG from small synthetic inputs, edge cases included."""

import numpy as np
import pytest

from experiments import plots
from posterior import metrics

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_SIGNATURE)


def synthetic_predictive(seed: int, size: int = 200, classes: int = 10):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(classes, 0.3), size=size)
    return probs, rng.integers(0, classes, size=size)


def test_reliability_diagram(tmp_path):
    probs, labels = synthetic_predictive(0)
    plots.reliability_diagram(tmp_path / "reliability.png", probs=probs, y=labels, title="synthetic")
    assert_png(tmp_path / "reliability.png")


def test_reliability_diagram_with_empty_bins(tmp_path):
    """Three points fill 3 of 15 bins; all confident and right, or all in one bin."""
    probs = np.array([[0.95, 0.05], [0.6, 0.4], [0.3, 0.7]])
    assert (metrics.reliability(probs, [0, 1, 1]).count == 0).sum() == 12
    plots.reliability_diagram(tmp_path / "sparse.png", probs=probs, y=[0, 1, 1], title="sparse")
    plots.reliability_diagram(tmp_path / "one-hot.png", probs=np.eye(3), y=np.arange(3), num_bins=5, title="one-hot")
    for name in ["sparse.png", "one-hot.png"]:
        assert_png(tmp_path / name)


@pytest.mark.parametrize("entropy_in, entropy_out", [
    (np.random.default_rng(1).gamma(2.0, 0.3, size=300), np.random.default_rng(2).gamma(6.0, 0.3, size=100)),
    (np.full(50, 0.7), np.full(20, 0.7)),  # all equal: no spread to bin
    (np.zeros(10), np.full(5, np.log(10))),  # one-hot against uniform
])
def test_ood_entropy_histogram(tmp_path, entropy_in, entropy_out):
    auroc = metrics.auroc(entropy_in, entropy_out)
    plots.ood_entropy_histogram(tmp_path / "ood.png", entropy_in=entropy_in, entropy_out=entropy_out, auroc=auroc,
                                title="synthetic")
    assert_png(tmp_path / "ood.png")


@pytest.mark.parametrize("accuracy", [
    np.linspace(0.2, 0.95, 10),
    np.array([1.0, 0.0, 0.5, np.nan]),  # a class with no test points
    np.full(3, np.nan),  # none with test points
    np.random.default_rng(3).uniform(size=100),  # too many classes for a tick each
])
def test_per_class_accuracy_bars(tmp_path, accuracy):
    plots.per_class_accuracy_bars(tmp_path / "classes.png", accuracy=accuracy, title="synthetic")
    assert_png(tmp_path / "classes.png")


def test_figures_from_one_predictive(tmp_path):
    """The three figures from the metrics functions' outputs, as a run would draw them."""
    probs, labels = synthetic_predictive(4)
    probs_out, _ = synthetic_predictive(5, size=50)
    plots.per_class_accuracy_bars(tmp_path / "classes.png", accuracy=metrics.per_class_accuracy(probs, labels, 12),
                                  title="12 classes, 2 absent")
    ood = metrics.ood_metrics(probs, probs_out)
    plots.ood_entropy_histogram(tmp_path / "ood.png", entropy_in=metrics.predictive_entropy(probs),
                                entropy_out=metrics.predictive_entropy(probs_out), auroc=ood["test_ood_auroc"],
                                title="synthetic")
    for name in ["classes.png", "ood.png"]:
        assert_png(tmp_path / name)
