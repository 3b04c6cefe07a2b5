"""Fuzzing the input edges: whatever a config, a UCI file, a saved prior fit or a checkpoint
holds, loading it either succeeds or raises the documented error with a one-line message.

The documented errors are :class:`experiments.config.ConfigError` (configs),
:class:`posterior.data.DataError` (data files), ``ValueError`` (saved prior fits) and
:class:`samplers.checkpoint.CheckpointError` (checkpoints): the
``ValueError`` family the ``posterior`` CLI turns into one line and exit status 2.
Anything else (a ``KeyError``, ``OverflowError``, ``RecursionError``, ...) would be a
traceback. What is accepted must be usable: a config that loads writes a ``config.yaml``
that loads to the same config, data that loads is finite, with disjoint splits, and a
checkpoint that loads holds what was saved.

Inputs start from good ones and are broken by hypothesis, so that the search reaches past
the first check. The profile is derandomized, so CI sees the same examples every run.
"""

import io
import json
import pathlib
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import samplers
from conftest import write_uci_folder
from experiments import config as configs
from experiments import prior_fit
from posterior import data, models
from priors import weight
from samplers import checkpoint

FUZZ = settings(derandomize=True, database=None, max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

GOOD_CONFIG = {
    "name": "fuzz",
    "data": {"name": "diabetes", "split": 0},  # more than one input: no prior-draws plot to compute
    "model": {"width": 4, "depth": 1},
    "prior": {"kind": "gpig"},
    "sampling": {"num_chains": 2, "num_steps": 20, "burn_in": 0, "thin": 10, "batch_size": 8},
}


def dotted_keys(values: dict, prefix: str = "") -> list[str]:
    """Every key of a nested mapping, sections and leaves, as ``a.b.c``."""
    keys = []
    for key, value in values.items():
        keys.append(prefix + key)
        if isinstance(value, dict):
            keys.extend(dotted_keys(value, f"{prefix}{key}."))
    return keys


KEYS = dotted_keys(configs.to_dict(configs.from_dict(GOOD_CONFIG)))
NAMES = sorted({key.rsplit(".", 1)[-1] for key in KEYS})


def mostly(common: st.SearchStrategy, rare: st.SearchStrategy) -> st.SearchStrategy:
    """``common`` about three times in four, else ``rare``."""
    return st.one_of(common, common, common, rare)


# Values that sit on the edges of what the schema accepts, and words it knows.
EDGES = [0, 1, -1, 2**31, 2**32, 2**64, 10**400, 0.0, -0.0, 1e-300, 1e300, float("nan"), float("inf"),
         float("-inf"), True, False, None, "", ".", "..", "a/b", "\0", "\n", "1e-3", "nan",
         "sghmc", "sgld", "sa_sgld", "entropy_mcmc", "gpig", "gpih", "fh", "fg", "isotropic", "yacht",
         "toy1d", "digits", "categorical", "gaussian_gamma", "cyclical_cosine", "tanh", "both", "grid"]

# The edges twice as often as anything else; values a config could well hold, so that
# some mutated configs are accepted.
scalars = st.one_of(st.sampled_from(EDGES), st.sampled_from(EDGES), st.integers(0, 50), st.floats(1e-4, 1.0),
                    st.integers(), st.floats(), st.text(max_size=8))
values = st.recursive(scalars, lambda children: st.lists(children, max_size=3)
                      | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=4), children, max_size=3),
                      max_leaves=12)


def put(tree: dict, key: str, value) -> None:
    """Set the dotted ``key``, replacing whatever is in the way by sections."""
    *sections, leaf = key.split(".")
    for section in sections:
        if not isinstance(tree.get(section), dict):
            tree[section] = {}
        tree = tree[section]
    tree[leaf] = value


@st.composite
def config_trees(draw) -> dict:
    """The good config with some keys set to anything, some removed, some unknown ones added."""
    tree = json.loads(json.dumps(GOOD_CONFIG))
    for key in draw(st.lists(mostly(st.sampled_from(KEYS), st.text(max_size=6)), max_size=3)):
        put(tree, key, draw(mostly(scalars, values)))
    for key in draw(st.lists(st.sampled_from(list(tree)), max_size=1)):
        tree.pop(key, None)
    return tree


overrides = st.lists(mostly(
    st.builds(lambda key, value: f"{key}={value}", st.sampled_from(KEYS), st.sampled_from(EDGES).map(str)),
    st.text(max_size=12)), max_size=2)


def check_config_error(error: configs.ConfigError) -> None:
    assert str(error) and "\n" not in str(error), str(error)


def check_round_trip(config: configs.Config) -> None:
    """The config.yaml a run writes loads to the same config."""
    written = yaml.safe_dump(configs.to_dict(config), sort_keys=False)
    assert yaml.safe_dump(configs.to_dict(configs.from_dict(yaml.safe_load(written))), sort_keys=False) == written


@FUZZ
@given(tree=config_trees(), overrides=overrides)
def test_from_dict_accepts_or_refuses_in_one_line(tree, overrides):
    try:
        config = configs.from_dict(tree, overrides)
    except configs.ConfigError as error:
        check_config_error(error)
    else:
        check_round_trip(config)


@FUZZ
@given(values=values)
def test_from_dict_of_anything(values):
    try:
        configs.from_dict(values)
    except configs.ConfigError as error:
        check_config_error(error)


# YAML's own syntax, for text that is nearly a config.
YAML_TOKENS = ["name: fuzz\n", "data:\n", "  name: toy1d\n", "sampling: {num_steps: 5}\n", "- ", ": ", "&a ", "*a ",
               "[", "]", "{", "}", "!!python/object/apply:os.system ['true']", "!!binary aGk=", "!!set {a}", "? ",
               "'", '"', "#", "\t", "\n", "  ", ".nan", ".inf", "1e400", "0x1f", "~", "2024-01-01", "<<: *a\n", "---\n",
               "...\n", "%YAML 1.1\n", "\ufeff", "\x85", "\x00"]


@FUZZ
@given(text=st.text() | st.lists(st.sampled_from(YAML_TOKENS) | st.text(max_size=3)).map("".join)
       | config_trees().map(yaml.safe_dump) | st.binary())
def test_load_accepts_or_refuses_in_one_line(text):
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "config.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        try:
            config = configs.load(path)
        except configs.ConfigError as error:
            check_config_error(error)
        else:
            check_round_trip(config)


NUM_ROWS = 12
UCI_FILES = ["data.txt", "index_features.txt", "index_target.txt", "index_train_0.txt", "index_test_0.txt",
             "n_splits.txt"]
NUMBER_TOKENS = ["0", "1", "2", "3", "4", "11", "12", "-1", "2.5", "1e3", "nan", "inf", "-inf", "1e999", "abc",
                 "99999999999999999999", "0x1F", "+3", "#", ",", "1,2", "\x00", "é"]


def number_text(separators: list[str]):
    """Text of tokens that are numbers or nearly, between ``separators``."""
    return st.lists(st.tuples(st.sampled_from(NUMBER_TOKENS), st.sampled_from(separators)), max_size=40).map(
        lambda pairs: "".join(token + separator for token, separator in pairs))


contents = (st.binary(max_size=200) | st.text(max_size=200) | number_text([" ", "\n"])
            | number_text(["\n", "\n", "\n", " ", "\t", "\r\n"])
            | st.lists(st.integers(-2, NUM_ROWS + 1), max_size=NUM_ROWS + 2).map(
                lambda rows: "".join(f"{row}\n" for row in rows)))


@FUZZ
@given(name=st.sampled_from(UCI_FILES), content=contents, split=st.integers(-1, 2), cut=st.booleans())
def test_uci_loader_accepts_or_refuses_in_one_line(name, content, split, cut):
    """One file of a good 12-row UCI folder replaced by anything (or, with ``cut``, cut short)."""
    rng = np.random.default_rng(0)
    table = rng.normal(size=(NUM_ROWS, 4))
    with tempfile.TemporaryDirectory() as root:
        splits = [(np.arange(3, NUM_ROWS), np.arange(3)), (np.arange(9), np.arange(9, NUM_ROWS))]
        folder = write_uci_folder(pathlib.Path(root), "yacht", table, features=[0, 1, 2], target=3, splits=splits)
        path = folder / name
        if cut:
            path.write_bytes(path.read_bytes()[:len(content) % (path.stat().st_size + 1)])
        else:
            path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
        try:
            dataset = data.load("yacht", root=root, split=split)
        except data.DataError as error:
            assert str(error) and "\n" not in str(error), str(error)
        else:
            arrays = (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test)
            assert all(np.all(np.isfinite(array)) for array in arrays)
            assert len(dataset.x_train) == len(dataset.y_train) > 0 and len(dataset.x_test) == len(dataset.y_test) > 0
            assert len(dataset.x_train) + len(dataset.x_test) <= NUM_ROWS  # disjoint rows of the table


@pytest.fixture(scope="module")
def saved_fit_setting():
    """The gpig config, its data and network, and a good saved fit for them."""
    config = configs.from_dict(GOOD_CONFIG)
    dataset = data.load("diabetes")
    network = models.mlp(width=4, depth=1, output_dim=1)
    family = weight.family_from_kind("gpig")
    phi = family.init(network.init(jax.random.key(0), dataset.input_dim))
    record = {"hash": prior_fit.fit_hash(config, dataset), "prior": weight.prior_to_dict(family.prior(phi)),
              "report": {"w1_initial": 1.0, "w1_final": 0.5, "w1_initial_error": 0.1, "w1_final_error": 0.1,
                         "judge_steps": 200, "judge_seconds": 0.1, "iterations": 2, "seconds": 0.1},
              "hyperparameters": family.hyperparameters(phi), "trace": [1.0, 0.5]}
    return config, dataset, network, record


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda children: st.lists(children, max_size=3)
                           | st.dictionaries(st.text(max_size=6), children, max_size=3), max_leaves=10)


@st.composite
def saved_fit_texts(draw, record: dict) -> str:
    """A good saved fit with a field (or a prior's field, or one leaf's value) replaced, or any text."""
    record = json.loads(json.dumps(record))
    leaf = next(iter(record["prior"]["scales"]))
    for _ in range(draw(st.integers(1, 3))):
        prior = record.get("prior")
        parts = [record, prior, prior.get("scales") if isinstance(prior, dict) else None, record.get("report")]
        target = draw(st.sampled_from([part for part in parts if isinstance(part, dict)]))
        key = draw(st.sampled_from([*target, "kind", "scales", "shape", leaf]) | st.text(max_size=4))
        if draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = draw(json_values)
    return draw(st.just(json.dumps(record)) | st.text(max_size=40) | st.binary(max_size=40).map(
        lambda raw: raw.decode("latin-1")))


@settings(FUZZ, max_examples=100)
@given(data_=st.data())
def test_a_saved_fit_is_reused_or_refused_in_one_line(saved_fit_setting, data_):
    config, dataset, network, record = saved_fit_setting
    text = data_.draw(saved_fit_texts(record))
    with tempfile.TemporaryDirectory() as cache:
        path = pathlib.Path(cache) / f"{record['hash']}.json"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            choice = prior_fit.choose_prior(config, dataset, network, cache=pathlib.Path(cache),
                                            log=lambda _: None)
        except ValueError as error:
            assert str(path) in str(error) and "\n" not in str(error), str(error)
        else:
            assert choice.cached and isinstance(choice.prior, weight.LayerwiseGaussian)


@pytest.fixture(scope="module")
def saved_checkpoint(tmp_path_factory):
    """A finished run's checkpoint folder, and what its resume asks ``checkpoint.load`` for."""
    folder = tmp_path_factory.mktemp("checkpoint")
    rows = np.random.default_rng(0).normal(size=(32, 2))
    alg = samplers.sgld(lambda w, batch: -0.5 * w @ w - 0.5 * jnp.sum((batch @ w) ** 2), 1e-3)
    arguments = dict(num_chains=2, num_steps=40, burn_in=10, thin=5, batch_size=8, chunk_size=10,
                     checkpoint_dir=folder, checkpoint_every=10, progress=False)
    samplers.sample(alg, jax.random.key(0), jnp.zeros(2), rows, **arguments)
    asked = {}
    real_load = checkpoint.load

    def load(directory, **kwargs):
        asked.update(kwargs)
        return real_load(directory, **kwargs)

    checkpoint.load = load
    try:
        samplers.sample(alg, jax.random.key(0), jnp.zeros(2), rows, **arguments)
    finally:
        checkpoint.load = real_load
    return folder, asked, real_load(folder, **asked)


def rewritten_metadata(content: bytes, change) -> bytes:
    """The ``.npz`` ``content`` with its JSON metadata replaced by ``change(metadata)``."""
    with np.load(io.BytesIO(content), allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    metadata = change(json.loads(arrays["metadata"].tobytes()))
    arrays["metadata"] = np.frombuffer(json.dumps(metadata).encode(), np.uint8)
    written = io.BytesIO()
    np.savez(written, **arrays)
    return written.getvalue()


@st.composite
def damaged_files(draw, folder: pathlib.Path) -> tuple[str, bytes]:
    """One file of the checkpoint, with bytes changed, cut short, or its metadata rewritten."""
    name = draw(st.sampled_from(sorted(path.name for path in folder.glob("*.npz"))))
    content = (folder / name).read_bytes()
    how = draw(st.sampled_from(["bytes", "cut", "metadata"]))
    if how == "bytes":
        changed = bytearray(content)
        for _ in range(draw(st.integers(1, 4))):
            changed[draw(st.integers(0, len(content) - 1))] = draw(st.integers(0, 255))
        return name, bytes(changed)
    if how == "cut":
        return name, content[: draw(st.integers(0, len(content) - 1))]

    def change(metadata):
        parts = [metadata, *[entry for entry in metadata.get("layout", []) if isinstance(entry, dict)]]
        for _ in range(draw(st.integers(1, 3))):
            target = draw(st.sampled_from(parts))
            key = draw(st.sampled_from(sorted(target)) | st.text(max_size=4))
            if draw(st.booleans()):
                target.pop(key, None)
            else:
                target[key] = draw(json_values | st.just("../elsewhere.npz") | st.just(["draws-x.npz"]))
        return metadata

    return name, rewritten_metadata(content, change)


@settings(FUZZ, max_examples=150)
@given(data_=st.data())
def test_a_checkpoint_is_resumed_whole_or_refused_in_one_line(saved_checkpoint, data_):
    folder, asked, good = saved_checkpoint
    name, content = data_.draw(damaged_files(folder))
    with tempfile.TemporaryDirectory() as copy:
        copy = pathlib.Path(copy)
        for path in folder.iterdir():
            (copy / path.name).write_bytes(path.read_bytes())
        (copy / name).write_bytes(content)
        try:
            saved = checkpoint.load(copy, **asked)
        except checkpoint.CheckpointError as error:
            assert f"checkpoint file {copy}/" in str(error) and "\n" not in str(error), str(error)
        else:
            # Accepted only when the change did not touch what it holds (zip's CRCs guard the arrays).
            assert (saved.step, saved.num_kept, saved.draw_files) == (good.step, good.num_kept, good.draw_files)
            for leaf, good_leaf in zip(jax.tree.leaves((saved.state, saved.draws)),
                                       jax.tree.leaves((good.state, good.draws))):
                leaf, good_leaf = (jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
                                   else x for x in (leaf, good_leaf))
                np.testing.assert_array_equal(np.asarray(leaf), np.asarray(good_leaf))
