"""The classification figures write a PNG from small synthetic inputs, edge cases included,
and say what they mean: read from their matplotlib artists, not their pixels."""

import numpy as np
import pytest
from matplotlib import colors
from matplotlib.collections import LineCollection
from matplotlib.container import BarContainer
from matplotlib.patches import Rectangle

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


def colour(artist) -> tuple:
    """The RGBA colour an artist, or the legend handle standing for it, is seen in."""
    if isinstance(artist, BarContainer):
        return colors.to_rgba(artist.patches[0].get_facecolor())
    if isinstance(artist, Rectangle):
        return colors.to_rgba(artist.get_facecolor())
    if isinstance(artist, LineCollection):
        [rgba] = artist.get_color()  # one colour for every segment
        return colors.to_rgba(rgba)
    return colors.to_rgba(artist.get_color())


def test_reliability_diagram_marks_accuracy_and_gap_as_its_legend_says(tmp_path, saved_figures):
    probs, labels = synthetic_predictive(6, size=500)
    plots.reliability_diagram(tmp_path / "reliability.png", probs=probs, y=labels, title="synthetic")
    diagram, histogram = saved_figures[0].axes
    artists, labels_drawn = diagram.get_legend_handles_labels()
    legend = diagram.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == labels_drawn
    assert set(labels_drawn) == {"accuracy", "mean confidence in the bin", "gap to accuracy", "perfect calibration"}
    for artist, handle in zip(artists, legend.legend_handles):
        assert colour(handle) == colour(artist), artist.get_label()
    # Nothing translucent over the bars, where it would blend into a colour the legend lacks.
    for patch in diagram.patches:
        assert patch.get_facecolor()[3] == 1.0
    table = metrics.reliability(probs, labels)
    occupied = table.count > 0
    drawn = dict(zip(labels_drawn, artists))
    np.testing.assert_allclose([bar.get_height() for bar in drawn["accuracy"]], table.accuracy[occupied])
    confidence_marks = drawn["mean confidence in the bin"].get_segments()
    np.testing.assert_allclose([segment[0, 1] for segment in confidence_marks], table.confidence[occupied])
    assert diagram.get_ylabel() and histogram.get_xlabel() and histogram.get_ylabel()


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


def test_per_class_accuracy_shows_high_accuracies_apart_with_the_legend_off_the_bars(tmp_path, saved_figures):
    accuracy = np.array([0.99, 0.95, 0.97, 0.92, np.nan, 1.0])
    plots.per_class_accuracy_bars(tmp_path / "classes.png", accuracy=accuracy, title="synthetic")
    figure = saved_figures[0]
    axes = figure.axes[0]
    bottom, top = axes.get_ylim()
    assert 0.85 < bottom < 0.92 and top >= 1.0  # the differences of a few points fill the axis
    assert axes.get_xlabel() and "not from 0" in axes.get_ylabel()
    renderer = figure.canvas.get_renderer()
    legend = axes.get_legend().get_window_extent(renderer)
    assert not legend.overlaps(axes.get_window_extent(renderer))
    assert figure.bbox.contains(legend.x1 - 1, legend.y0 + 1)  # beside the axes, still in the figure
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["no test points", "mean over classes"]
    [absent] = [line for line in axes.lines if line.get_label() == "no test points"]
    assert absent.get_xdata()[0] == 4 and absent.get_transform() == axes.get_xaxis_transform()


def test_per_class_accuracy_starts_at_0_for_low_accuracies(tmp_path, saved_figures):
    plots.per_class_accuracy_bars(tmp_path / "classes.png", accuracy=np.array([0.05, 0.5, 0.9]), title="synthetic")
    axes = saved_figures[0].axes[0]
    assert axes.get_ylim()[0] == 0.0 and axes.get_ylabel() == "accuracy"


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
