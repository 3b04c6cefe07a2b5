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
