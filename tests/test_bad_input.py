"""Hostile input at the edges: bad configs, data files and saved prior fits.

Every case is built in a temporary folder in the real formats (a YAML config, a UCI
folder as ``conftest.write_uci_folder`` writes it, a prior-cache JSON file as
``experiments.prior_fit`` writes it) and handed to ``posterior run``, which must refuse it
with exit status 2 and one line on stderr naming the key or file and the problem, never a
traceback, and before any sampling. Every case goes through the CLI's entry
point in this process (``experiments.cli.main``, which maps errors to exit statuses as the
console script does); those in :data:`SUBPROCESS` also through the real ``posterior``
script in a fresh process.
"""

import copy
import dataclasses
import json
import pathlib
from typing import Callable, NamedTuple

import jax
import numpy as np
import pytest
import yaml

from conftest import run_posterior, write_lines, write_uci_folder
from experiments import cli, prior_fit, reference, runs
from experiments import config as configs
from posterior import data, models
from priors import weight
import samplers.mesh

NUM_ROWS = 40
GOOD = {
    "name": "hostile",
    "data": {"name": "yacht", "split": 0},  # root: the generated folder
    "model": {"width": 4, "depth": 1},
    "sampling": {"num_chains": 2, "num_steps": 20, "burn_in": 0, "thin": 10, "batch_size": 8},
}
# No data set in the environment: the config's data.root is the one read.
ENV = {"POSTERIOR_DATA": ""}


@dataclasses.dataclass
class Setup:
    """One case's inputs, good until a case's steps break one of them.

    Attributes:
        config: the config as plain data, written to ``config_path`` unless a step has
            written that file itself.
        overrides: ``key=value`` arguments after the config path.
        config_path: the YAML file given to ``posterior run``.
        folder: the generated UCI folder (yacht, ``NUM_ROWS`` rows, 2 splits).
        results: the results folder given to ``posterior run``.
    """

    config: dict
    overrides: list[str]
    config_path: pathlib.Path
    folder: pathlib.Path
    results: pathlib.Path


Step = Callable[[Setup], None]


class Case(NamedTuple):
    steps: tuple[Step, ...]
    message: str | tuple[str, ...]  # distinctive parts of the one-line error


def make_setup(tmp_path: pathlib.Path) -> Setup:
    """A good config and UCI folder: 3 inputs, a linear target in column 3, 2 splits of 4 test rows."""
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(NUM_ROWS, 3))
    table = np.column_stack([inputs, 10.0 + 3.0 * inputs[:, 0] - inputs[:, 1] + 0.3 * rng.normal(size=NUM_ROWS)])
    splits = [(order[4:], order[:4]) for order in (rng.permutation(NUM_ROWS) for _ in range(2))]
    folder = write_uci_folder(tmp_path / "uci", "yacht", table, features=[0, 1, 2], target=3, splits=splits)
    config = copy.deepcopy(GOOD)
    config["data"]["root"] = str(tmp_path / "uci")
    return Setup(config, [], tmp_path / "config.yaml", folder, tmp_path / "results")


# --- steps that break one input ---------------------------------------------------------

def setting(key: str, value) -> Step:
    """Set the dotted ``key`` in the config file's contents."""
    def step(setup):
        *sections, leaf = key.split(".")
        node = setup.config
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
    return step


def dropping(key: str) -> Step:
    return lambda setup: setup.config.pop(key)


def override(text: str) -> Step:
    return lambda setup: setup.overrides.append(text)


def config_text(text: str | bytes) -> Step:
    """Write the config file as it stands (``ROOT``: the data folder), not as YAML of ``setup.config``."""
    def step(setup):
        if isinstance(text, bytes):
            setup.config_path.write_bytes(text)
        else:
            setup.config_path.write_text(text.replace("ROOT", setup.config["data"]["root"]))
    return step


def missing_config(setup):
    """Point at a config file that is not there."""
    setup.config_path = setup.config_path.with_name("absent.yaml")


def data_file(name: str, content: str | bytes) -> Step:
    """Replace the UCI file ``name`` by ``content``."""
    def step(setup):
        path = setup.folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return step


def index_file(name: str, values) -> Step:
    return lambda setup: write_lines(setup.folder / name, values)


def removed(name: str) -> Step:
    return lambda setup: (setup.folder / name).unlink()


def data_cell(row: int, column: int, text: str) -> Step:
    """Replace one number of data.txt by ``text``."""
    def step(setup):
        lines = (setup.folder / "data.txt").read_text().splitlines()
        cells = lines[row].split()
        cells[column] = text
        lines[row] = " ".join(cells)
        (setup.folder / "data.txt").write_text("\n".join(lines) + "\n")
    return step


def truncated_data(setup):
    """data.txt cut off in the middle of its last row, as by an interrupted download."""
    path = setup.folder / "data.txt"
    text = path.read_text()
    path.write_text(text[:len(text) - len(text.splitlines()[-1]) // 2 - 1])


def overlapping_split(setup):
    """Two training rows of split 0 listed as test rows too."""
    train = np.loadtxt(setup.folder / "index_train_0.txt", dtype=int)
    write_lines(setup.folder / "index_test_0.txt", train[:2])


def duplicate_training_row(setup):
    train = np.loadtxt(setup.folder / "index_train_0.txt", dtype=int)
    write_lines(setup.folder / "index_train_0.txt", [*train, train[0]])


def template_for(depth: int, input_dim: int = 3):
    """Network parameters like those of the config's 4-wide regression MLP (of ``depth`` layers)."""
    return models.mlp(width=4, depth=depth, output_dim=1).init(jax.random.key(0), input_dim)


def saved_fit_record(setup: Setup) -> tuple[pathlib.Path, dict]:
    """Where the config's gpig fit is cached, and a record as ``prior_fit`` would save it."""
    config = configs.from_dict(setup.config)
    dataset = data.load("yacht", root=config.data.root, split=0)
    family = weight.family_from_kind("gpig")
    phi = family.init(template_for(depth=1))
    digest = prior_fit.fit_hash(config, dataset)
    record = {"hash": digest, "prior": weight.prior_to_dict(family.prior(phi)),
              "report": {"w1_initial": 1.0, "w1_final": 0.5, "w1_initial_error": 0.1, "w1_final_error": 0.1,
                         "judge_steps": 200, "judge_seconds": 0.1, "iterations": 2, "seconds": 0.1},
              "hyperparameters": family.hyperparameters(phi), "trace": [1.0, 0.5]}
    return setup.results / prior_fit.CACHE / f"{digest}.json", record


def saved_fit(change: Callable[[dict], dict | str]) -> Step:
    """Use a gpig prior and save, as its cached fit, ``change`` of a good record (a str: the file's text)."""
    def step(setup):
        setup.config["prior"] = {"kind": "gpig"}
        path, record = saved_fit_record(setup)
        content = change(record)
        path.parent.mkdir(parents=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return step


def replaced(record: dict, **fields) -> dict:
    return {**record, **fields}


def another_models_prior(record: dict) -> dict:
    family = weight.family_from_kind("gpig")
    return replaced(record, prior=weight.prior_to_dict(family.prior(family.init(template_for(depth=2)))))


def another_familys_prior(record: dict) -> dict:
    family = weight.family_from_kind("gpih")
    return replaced(record, prior=weight.prior_to_dict(family.prior(family.init(template_for(depth=1)))))


def negative_scale(record: dict) -> dict:
    scales = dict(record["prior"]["scales"])
    scales[next(iter(scales))] = -1.0
    return replaced(record, prior={**record["prior"], "scales": scales})


def reference_record(setup: Setup) -> dict[str, np.ndarray]:
    """A good reference predictive for split 0 of the generated data (2 chains x 3 draws), as a run writes it."""
    dataset = data.load("yacht", root=setup.config["data"]["root"], split=0)
    num_test = len(dataset.y_test)
    return reference.of_run(dataset, split=0, summary={}, test_predictions=np.zeros((2, 3, num_test)),
                            noise_stds=np.full((2, 3), 0.3), weights=np.ones((2, 3)))


def saved_reference(change: Callable[[dict], dict | bytes]) -> Step:
    """Point eval.reference at a run directory whose predictive.npz is ``change`` of a good one (bytes: its
    contents; None: no file)."""
    def step(setup):
        folder = setup.results.parent / "reference-run"
        folder.mkdir()
        setup.config["eval"] = {"reference": str(folder)}
        content = change(reference_record(setup))
        if isinstance(content, bytes):
            (folder / reference.FILE).write_bytes(content)
        elif content is not None:
            reference.write(folder / reference.FILE, content)
    return step


def pickled_object(record: dict) -> dict:
    return replaced(record, means=np.array([{"means": 1.0}], dtype=object))


# A chain of YAML aliases, each level naming the previous one ten times: 10**6 values
# from a few hundred bytes.
ALIAS_BOMB = ("name: hostile\ndata: {name: yacht, root: ROOT}\nprior: {fit: {measurement: {kind: grid,\n"
              "  a0: &a0 [x, x, x, x, x, x, x, x, x, x],\n"
              + "".join(f"  a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 10)}],\n" for k in range(1, 6))
              + "}}}\n")

CASES = {
    # The config file itself.
    "config-missing": Case((missing_config,), "cannot read config"),
    "config-not-yaml": Case((config_text("name: [unclosed\n"),), "is not valid YAML (line 2)"),
    "config-not-utf8": Case((config_text(b"name: caf\xe9\n"),), "is not UTF-8 text (byte 9)"),
    "config-runs-no-code": Case((config_text("name: !!python/object/apply:os.system ['echo run']\n"),),
                                "is not valid YAML (line 1)"),
    "config-not-a-mapping": Case((config_text("- name\n- data\n"),), "the config must be a mapping"),
    "config-alias-bomb": Case((config_text(ALIAS_BOMB),),
                              "'prior.fit.measurement' is nested deeper than 32 levels or holds more"),
    "config-nested-too-deep": Case((config_text("name: " + "[" * 5000),), "is nested too deeply to read"),
    # Keys and types.
    "unknown-key": Case((setting("sampler.stepsize", 0.1),),
                        "unknown config key 'sampler.stepsize' (known in 'sampler'"),
    "unknown-key-override": Case((override("model.widht=3"),), "unknown config key 'model.widht'"),
    "unknown-key-with-line-break": Case((setting("a\nb", 1),), r"unknown config key 'a\nb'"),
    "missing-key": Case((dropping("name"),), "config key 'name' is required"),
    "string-for-integer": Case((setting("sampling.num_steps", "many"),),
                               "'sampling.num_steps' must be an integer, got 'many'"),
    "bool-for-integer": Case((setting("sampling.num_chains", True),),
                             "'sampling.num_chains' must be an integer, got True"),
    "date-for-string": Case((config_text("name: 2024-01-01\ndata: {name: yacht}\n"),),
                            "'name' must be a string, got datetime.date(2024, 1, 1)"),
    "integer-beyond-float": Case((setting("sampler.step_size", 10**400),),
                                 "'sampler.step_size' must be a number, got 1000"),
    "override-without-value": Case((override("data.split"),), "'data.split' must look like key=value"),
    "override-into-a-value": Case((override("data.name.x=1"),),
                                  "cannot set 'data.name.x': 'data.name' is not a section"),
    # Ranges.
    "zero-chains": Case((setting("sampling.num_chains", 0),),
                        "'sampling.num_chains' must be an integer in [1, 2**31), got 0"),
    "steps-beyond-int32": Case((override(f"sampling.num_steps={2**31}"),),
                               "'sampling.num_steps' must be an integer in [1, 2**31)"),
    "zero-batch": Case((setting("sampling.batch_size", 0),),
                       "'sampling.batch_size' must be an integer in [1, 2**31), got 0"),
    "burn-in-whole-run": Case((setting("sampling.burn_in", 20),),
                              "'sampling.burn_in' must be in [0, sampling.num_steps=20), got 20"),
    "thin-beyond-run": Case((setting("sampling.thin", 21),),
                            "'sampling.thin' must be in [1, 20] (the steps after burn-in)"),
    "negative-step-size": Case((override("sampler.step_size=-1e-3"),),
                               "'sampler.step_size' must be finite and > 0, got -0.001"),
    "nan-step-size": Case((setting("sampler.step_size", float("nan")),),
                          "'sampler.step_size' must be finite and > 0, got nan"),
    "infinite-temperature": Case((override("sampler.temperature=inf"),),
                                 "'sampler.temperature' must be finite and >= 0, got inf"),
    "friction-above-one": Case((setting("sampler.friction", 2.0),), "'sampler.friction' must be in (0, 1], got 2.0"),
    "zero-eta": Case((setting("sampler.name", "entropy_mcmc"), setting("sampler.eta", 0.0)),
                     "'sampler.eta' must be finite and > 0, got 0.0"),
    "zero-cycles": Case((setting("sampler.schedule", {"kind": "cyclical_cosine", "num_cycles": 0}),),
                        "'sampler.schedule.num_cycles' must be in [1, sampling.num_steps=20], got 0"),
    "clock-upside-down": Case((setting("sampler.clock", {"smallest": 2.0, "largest": 1.0}),),
                              "'sampler.clock.smallest' must be below sampler.clock.largest=1.0"),
    "zero-noise": Case((setting("likelihood.noise_std", 0),), "'likelihood.noise_std' must be finite and > 0, got 0.0"),
    "zero-fit-iterations": Case((setting("prior.fit.num_iterations", 0),),
                                "'prior.fit.num_iterations' must be an integer in [1"),
    "negative-split": Case((override("data.split=-1"),), "'data.split' must be an integer in [0, 2**31), got -1"),
    "seed-beyond-32-bits": Case((setting("seed", 2**32),), "'seed' must be an integer in [0, 2**32), got 4294967296"),
    "name-outside-results": Case((setting("name", "../elsewhere"),), "'name' must be a plain folder name"),
    "unknown-data-set": Case((setting("data.name", "imagenet"),), "'data.name' must be one of bostonHousing"),
    "unknown-activation": Case((setting("model.activation", "relu6"),), "'model.activation' must be one of tanh"),
    # Combinations.
    "hierarchical-prior-with-sa-sgld": Case((setting("prior.kind", "fh"), setting("sampler.name", "sa_sgld")),
                                            "sampler.name=sa_sgld cannot sample the hierarchical prior.kind=fh"),
    "mesh-not-dividing-chains": Case((setting("mesh.chain", 3),),
                                     "'mesh.chain' must be a divisor of sampling.num_chains=2"),
    # The UCI folder.
    "data-folder-missing": Case((setting("data.name", "energy"),),
                                ("UCI data set folder not found: ", "the config's data.root", "$POSTERIOR_DATA")),
    "target-overflows-standardising": Case((data_cell(5, 3, "1e308"),),
                                           ("data.txt: column 3 overflows when standardised", "rescale it")),
    "data-file-missing": Case((removed("data.txt"),), ("missing file: ", "/yacht/data.txt")),
    "index-file-missing": Case((removed("index_test_0.txt"),), ("missing file: ", "/yacht/index_test_0.txt")),
    "data-empty": Case((data_file("data.txt", ""),), "data.txt: it is empty"),
    "data-truncated": Case((truncated_data,), "data.txt: the number of columns changed from 4 to 2"),
    "data-short-row": Case((data_cell(7, 3, ""),), "data.txt: the number of columns changed from 4 to 3 at row 8"),
    "data-not-numeric": Case((data_cell(5, 1, "abc"),), "data.txt: could not convert string 'abc'"),
    "data-binary": Case((data_file("data.txt", bytes(range(256))),), "data.txt: byte 128 is not ASCII"),
    # numpy 2.4's integer parser reads out of bounds on this character, and often crashes.
    "index-not-ascii": Case((data_file("index_features.txt", "0\n1\n\U0010ffff\n"),),
                            "index_features.txt: byte 4 is not ASCII"),
    "data-nan": Case((data_cell(5, 1, "nan"),), "data.txt holds NaN or infinite values (1 entries; first nan at row 5"),
    "data-infinite": Case((data_cell(9, 3, "1e999"),), "data.txt holds NaN or infinite values (1 entries; first inf"),
    "split-out-of-range": Case((override("data.split=2"),), "yacht: split 2 out of range (must be in 0..1)"),
    "n-splits-not-a-number": Case((data_file("n_splits.txt", "twenty\n"),),
                                  "n_splits.txt: could not convert string 'twenty'"),
    "row-index-out-of-range": Case((index_file("index_train_0.txt", [0, NUM_ROWS]),),
                                   f"index_train_0.txt: row index {NUM_ROWS} out of range"),
    "negative-row-index": Case((index_file("index_test_0.txt", [-1]),), "index_test_0.txt: row index -1 out of range"),
    "column-index-out-of-range": Case((index_file("index_features.txt", [0, 9]),),
                                      "index_features.txt: column index 9 out of range"),
    "fractional-index": Case((index_file("index_test_0.txt", [1.5]),),
                             "index_test_0.txt: could not convert string '1.5'"),
    "two-indices-a-line": Case((data_file("index_test_0.txt", "1 2\n3 4\n"),),
                               "index_test_0.txt: expected one index per line"),
    "empty-index-file": Case((index_file("index_test_0.txt", []),), "index_test_0.txt: it is empty"),
    "row-listed-twice": Case((duplicate_training_row,), "index_train_0.txt: row index"),
    "train-test-overlap": Case((overlapping_split,), "malformed split 0 of yacht: 2 rows are both train and test"),
    "target-among-features": Case((index_file("index_features.txt", [0, 3]),),
                                  "index_features.txt: it lists the target column 3"),
    "two-target-columns": Case((index_file("index_target.txt", [2, 3]),),
                               "index_target.txt: expected one column index, got 2"),
    # The prior cache.
    "saved-fit-not-json": Case((saved_fit(lambda record: '{"hash": "'),),
                               ".json is not valid JSON; delete it to fit again"),
    "saved-fit-nested-too-deep": Case((saved_fit(lambda record: "[" * 100_000),), ".json is not valid JSON"),
    "saved-fit-not-an-object": Case((saved_fit(lambda record: "[1, 2]"),), ".json is not a JSON object"),
    "saved-fit-without-trace": Case((saved_fit(lambda record: {k: v for k, v in record.items() if k != "trace"}),),
                                    ".json lacks 'trace' (a list)"),
    "saved-fit-trace-of-strings": Case((saved_fit(lambda record: replaced(record, trace=["1.0"])),),
                                       ".json has a 'trace' that is not a list of numbers"),
    "saved-fit-report-without-numbers": Case((saved_fit(lambda record: replaced(record, report={"w1_final": None})),),
                                             ".json has a 'report' without the numbers w1_initial, w1_final"),
    "saved-fit-of-another-config": Case((saved_fit(lambda record: replaced(record, hash="0123456789abcdef")),),
                                        ".json holds the fit for hash '0123456789abcdef'"),
    "saved-fit-of-another-model": Case((saved_fit(another_models_prior),),
                                       "holds an unusable prior: layerwise_gaussian prior does not fit these "
                                       "parameters"),
    "saved-fit-of-another-family": Case((saved_fit(another_familys_prior),),
                                        "holds a GammaPrecision prior, not a LayerwiseGaussian"),
    "saved-fit-negative-scale": Case((saved_fit(negative_scale),), "must be a finite number > 0, got -1.0"),
    # The reference predictive (eval.reference), read before anything is sampled.
    "reference-missing": Case((setting("eval.reference", "/nonexistent/run"),),
                              "eval.reference: /nonexistent/run does not exist"),
    "reference-not-a-run": Case((saved_reference(lambda record: None),),
                                ("reference-run holds no predictive.npz", "(not the directory of a finished run)")),
    "reference-not-npz": Case((saved_reference(lambda record: b"means,stds\n1,2\n"),),
                              "reference-run/predictive.npz is unreadable (not an .npz archive)"),
    "reference-pickled": Case((saved_reference(pickled_object),),
                              "predictive.npz is unreadable (Object arrays cannot be loaded when allow_pickle=False)"),
    "reference-of-another-data-set": Case(
        (saved_reference(lambda record: replaced(record, dataset=np.array("toy1d"))),),
        "is the predictive of data set 'toy1d', this run's data set is 'yacht'"),
    "reference-of-another-split": Case((saved_reference(lambda record: replaced(record, split=np.array(1))),),
                                       "is the predictive of split 1, this run's split is 0"),
    "reference-of-another-task": Case(
        (saved_reference(lambda record: replaced(record, task=np.array("classification"))),),
        "is the predictive of task 'classification', this run's task is 'regression'"),
    "reference-of-another-test-set": Case((saved_reference(lambda record: replaced(record, test_hash=np.array("0"))),),
                                          "is the predictive of another test set (4 points, hash 0; this run's: 4"),
    "reference-without-task": Case((saved_reference(lambda record: {k: v for k, v in record.items() if k != "task"}),),
                                   "predictive.npz is not a run's predictive.npz (no scalar 'task')"),
    "reference-zero-noise": Case((saved_reference(lambda record: replaced(record, stds=np.zeros(6))),),
                                 "malformed predictive (stds of shape (6,), needs (6,) or (6, 4) of numbers > 0)"),
    "reference-too-few-points": Case((saved_reference(lambda record: replaced(record, means=np.zeros((6, 3)))),),
                                     "holds a malformed predictive (means of shape (6, 3), this run needs (draws, 4))"),
}
# Cases also run through the console script, one or more of each kind of input.
SUBPROCESS = ("config-not-yaml", "unknown-key-with-line-break", "burn-in-whole-run", "nan-step-size",
              "hierarchical-prior-with-sa-sgld", "data-nan", "index-not-ascii", "train-test-overlap",
              "saved-fit-not-json", "saved-fit-of-another-model", "reference-of-another-data-set")


def prepare(tmp_path: pathlib.Path, case: Case) -> tuple[Setup, list[str]]:
    """Build the case's inputs; returns them and the ``posterior`` arguments.

    ``config.yaml`` is written from ``setup.config`` unless a step wrote it or pointed
    the run at another file.
    """
    setup = make_setup(tmp_path)
    for step in case.steps:
        step(setup)
    if setup.config_path.name == "config.yaml" and not setup.config_path.exists():
        setup.config_path.write_text(yaml.safe_dump(setup.config))
    arguments = ["run", str(setup.config_path), *setup.overrides, "--results", str(setup.results)]
    return setup, arguments


def saved_fits(setup: Setup) -> dict[str, bytes]:
    """The prior cache's files and contents (a refused run must leave them as they were)."""
    folder = setup.results / prior_fit.CACHE
    return {path.name: path.read_bytes() for path in folder.iterdir()} if folder.is_dir() else {}


def check_refusal(setup: Setup, before: dict[str, bytes], status: int, stderr: str,
                  message: str | tuple[str, ...]) -> None:
    """Exit status 2, one line holding ``message``, no traceback, nothing written."""
    assert status == 2, stderr
    assert stderr.startswith("posterior: error: ") and stderr.count("\n") == 1, stderr
    for part in (message,) if isinstance(message, str) else message:
        assert part in stderr, stderr
    assert "Traceback" not in stderr
    written = sorted(path.name for path in setup.results.iterdir()) if setup.results.is_dir() else []
    assert written in ([], [prior_fit.CACHE]), written  # no run directory
    assert saved_fits(setup) == before  # a bad saved fit is neither refitted nor replaced


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_refused_in_one_line(tmp_path, monkeypatch, capsys, name):
    case = CASES[name]
    setup, arguments = prepare(tmp_path, case)
    before = saved_fits(setup)
    monkeypatch.setattr(samplers.mesh, "use_cpu_cores", lambda count: count)  # JAX already runs in this process
    monkeypatch.setattr(runs, "use_compilation_cache", lambda: None)  # conftest chose the cache
    monkeypatch.setenv("POSTERIOR_DATA", ENV["POSTERIOR_DATA"])
    status = cli.main(arguments)
    check_refusal(setup, before, status, capsys.readouterr().err, case.message)


@pytest.mark.parametrize("name", SUBPROCESS)
def test_bad_input_is_refused_by_the_console_script(tmp_path, name):
    case = CASES[name]
    setup, arguments = prepare(tmp_path, case)
    before = saved_fits(setup)
    done = run_posterior(*arguments, env=ENV, timeout=120)
    check_refusal(setup, before, done.returncode, done.stderr, case.message)


def test_the_good_inputs_are_accepted(tmp_path):
    """The cases fail for what they break: unbroken, the config, the data and a saved fit load."""
    setup = make_setup(tmp_path)
    setup.config["prior"] = {"kind": "gpig"}
    path, record = saved_fit_record(setup)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record))
    config = configs.from_dict(setup.config)
    dataset = data.load("yacht", root=config.data.root, split=1)
    assert dataset.x_train.shape == (NUM_ROWS - 4, 3)
    choice = prior_fit.choose_prior(configs.from_dict(setup.config), data.load("yacht", root=config.data.root),
                                    models.mlp(width=4, depth=1, output_dim=1), cache=path.parent,
                                    log=lambda _: None)
    assert choice.cached and choice.fit == record and isinstance(choice.prior, weight.LayerwiseGaussian)
    saved_reference(lambda record: record)(setup)
    located = reference.locate(setup.config["eval"]["reference"], split=0, seed=0)
    assert reference.load(located, dataset=data.load("yacht", root=config.data.root),
                          split=0)["means"].shape == (6, 4)
