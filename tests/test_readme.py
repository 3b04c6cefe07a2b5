"""The README's notebook example runs as written."""

import re

from conftest import REPO


def test_readme_python_example_runs():
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README has a python example"
    namespace = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    mean = namespace["result"].samples.mean(axis=(0, 1))
    assert abs(mean - [1.0, -2.0, 0.5]).max() < 0.05, mean
    assert namespace["again"].timings["compilations"] == 0  # the sweep the example claims compiles nothing


def test_readme_bnn_example_runs():
    text = (REPO / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "posterior.data" in b)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    summary = namespace["predictive"].summarise(namespace["accumulated"])
    data = namespace["data"]
    assert summary["mean"].shape == data.y_test.shape
    # Untrained networks miss by about the spread of the targets (1.25 here).
    assert namespace["metrics"].regression_metrics(summary, data.y_test, y_scale=data.y_std)["test_rmse"] < 1.0
