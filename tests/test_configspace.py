"""ConfigSpace in and out (core/configspace.py): the YAHPO LCBench config_space.json in
$SIMTUNE_DATA, a conditional space built with ConfigSpace itself, ConfigSpace 0.x's JSON,
what is refused, and benchmark.space reading a ConfigSpace file."""

from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from simtune.core.configspace import (
    from_configspace,
    read_configspace,
    to_configspace,
    to_configspace_dict,
    write_configspace,
)
from simtune.core.problem import problem_from_config
from simtune.core.space import (
    Space,
    choice,
    finrange,
    lograndint,
    loguniform,
    ordinal,
    randint,
    uniform,
)


def _same(a: Space, b: Space) -> bool:
    """The same space up to orders (a ConfigurationSpace sorts its hyperparameters by name,
    parents first, and keeps its forbidden clauses in an order of its own)."""
    (ca, fa), (cb, fb) = a.structure.to_dict(), b.structure.to_dict()
    return (dict(a) == dict(b) and ca == cb
            and sorted(map(_key, fa)) == sorted(map(_key, fb)))


def _key(clause: dict) -> str:
    return json.dumps(clause, sort_keys=True)


def _valid_samples(space: Space, n: int = 500) -> list[dict]:
    configs = space.sample(np.random.default_rng(0), n)
    for config in configs:
        space.validate(config)
    return configs


# -- the YAHPO LCBench file (ConfigSpace 0.4.18's JSON) ------------------------------------------
@pytest.fixture(scope="module")
def lcbench_file(data_dir: Path) -> Path:
    return data_dir / "yahpo" / "lcbench" / "config_space.json"


def test_yahpo_lcbench_file_reads_as_its_space_and_writes_back(lcbench_file, tmp_path):
    space = read_configspace(lcbench_file)
    raw = json.loads(lcbench_file.read_text())
    assert list(space) == [h["name"] for h in raw["hyperparameters"]]
    assert space["OpenML_task_id"] == choice(raw["hyperparameters"][0]["choices"])
    assert len(space["OpenML_task_id"].values()) == 34
    assert space["batch_size"] == lograndint(16, 512)
    assert space["epoch"] == randint(1, 52)
    assert space["learning_rate"] == loguniform(0.00010000000000000009, 0.10000000000000002)
    assert space["momentum"] == uniform(0.1, 0.99)
    assert not space.conditions and not space.forbidden
    _valid_samples(space)
    back = read_configspace(write_configspace(space, tmp_path / "back.json"))
    assert back == space and list(back) == list(space)


def test_yahpo_lcbench_through_a_configurationspace_object(lcbench_file):
    ConfigSpace = pytest.importorskip("ConfigSpace", reason="the configspace extra")
    space = read_configspace(lcbench_file)
    with warnings.catch_warnings():  # 0.4.18's "default" and "probabilities" keys
        warnings.simplefilter("ignore")
        theirs = ConfigSpace.ConfigurationSpace.from_json(lcbench_file)
    ours = to_configspace(space)
    # ConfigSpace rounds float bounds to 13 decimals: 0.00010000000000000009 -> 0.0001
    assert from_configspace(ours) == from_configspace(theirs)
    assert from_configspace(ours)["learning_rate"] == loguniform(1e-4, 0.1)
    assert set(ours) == set(space) and len(ours.conditions) == 0


# -- a conditional space built with ConfigSpace -------------------------------------------------
@pytest.fixture(scope="module")
def cs():
    """optimizer -> momentum (EQ) / beta1 (IN and AND), layers -> units3 (GT), the forbidden
    adam & cyclic (AND), and mappings that are exact on finite parents: NEQ, LT, OR."""
    CS = pytest.importorskip("ConfigSpace", reason="the configspace extra")
    space = CS.ConfigurationSpace(seed=0)
    opt = CS.Categorical("optimizer", ["sgd", "adam", "rmsprop"])
    sched = CS.Categorical("sched", ["const", "cyclic", "cosine"])
    layers = CS.Integer("layers", (1, 3))
    width = CS.OrdinalHyperparameter("width", ["s", "m", "l"])
    momentum, beta1 = CS.Float("momentum", (0.0, 0.99)), CS.Float("beta1", (0.8, 0.999))
    units3 = CS.Integer("units3", (8, 512), log=True)
    warmup, dropout = CS.Integer("warmup", (0, 5)), CS.Float("dropout", (0.0, 0.5))
    space.add([opt, sched, layers, width, CS.Float("lr", (1e-4, 1e-1), log=True),
               momentum, beta1, units3, warmup, dropout, CS.Constant("epochs", 10)])
    space.add(
        CS.EqualsCondition(momentum, opt, "sgd"),
        CS.AndConjunction(CS.InCondition(beta1, opt, ["adam", "rmsprop"]),
                          CS.NotEqualsCondition(beta1, sched, "cosine")),
        CS.GreaterThanCondition(units3, layers, 2),
        CS.OrConjunction(CS.EqualsCondition(warmup, sched, "cyclic"),
                         CS.EqualsCondition(warmup, sched, "cosine")),
        CS.LessThanCondition(dropout, width, "l"),
    )
    space.add(
        CS.ForbiddenAndConjunction(CS.ForbiddenEqualsClause(opt, "adam"),
                                   CS.ForbiddenEqualsClause(sched, "cyclic")),
        CS.ForbiddenOrConjunction(
            CS.ForbiddenAndConjunction(CS.ForbiddenInClause(width, ["m", "l"]),
                                       CS.ForbiddenGreaterThanClause(units3, 256)),
            CS.ForbiddenEqualsClause(warmup, 5)),
    )
    return space


EXPECTED_CONDITIONS = {
    "momentum": {"optimizer": "sgd"},
    "beta1": {"optimizer": ["adam", "rmsprop"], "sched": ["const", "cyclic"]},
    "units3": {"layers": 3},
    "warmup": {"sched": ["cyclic", "cosine"]},
    "dropout": {"width": ["s", "m"]},
}


def test_a_configspace_space_reads_with_its_conditions_and_forbiddens(cs):
    import ConfigSpace as CS

    space = from_configspace(cs)
    assert space["units3"] == lograndint(8, 512) and space["width"] == ordinal(["s", "m", "l"])
    assert space["epochs"] == 10 and space["lr"] == loguniform(1e-4, 1e-1)
    conditions, forbidden = space.structure.to_dict()
    assert conditions == EXPECTED_CONDITIONS
    assert forbidden[0] == {"optimizer": "adam", "sched": "cyclic"}
    assert forbidden[1] == {"width": ["m", "l"], "units3": list(range(257, 513))}
    assert forbidden[2] == {"warmup": 5}
    # the same configurations are valid on both sides
    ours = _valid_samples(space, 1000)
    for config in ours:
        CS.Configuration(cs, values=config)  # raises on an inactive, missing or forbidden value
    for config in cs.sample_configuration(1000):
        space.validate(dict(config))
    assert {"momentum", "beta1"} <= {k for c in ours for k in c}
    assert not any("momentum" in c and "beta1" in c for c in ours)
    with pytest.raises(ValueError, match="forbidden"):
        space.validate({"optimizer": "adam", "sched": "cyclic", "layers": 1, "width": "s",
                        "lr": 0.01, "beta1": 0.9, "warmup": 1, "dropout": 0.1, "epochs": 10})


def test_a_space_survives_configspace_and_back(cs, tmp_path):
    import ConfigSpace as CS

    space = from_configspace(cs)
    again = to_configspace(space)
    assert len(again.conditions) == 5 and len(again.forbidden_clauses) == 3
    assert _same(from_configspace(again), space)
    path = write_configspace(space, tmp_path / "cs.json")
    assert read_configspace(path) == space and list(read_configspace(path)) == list(space)
    assert _same(from_configspace(CS.ConfigurationSpace.from_json(path)), space)


def test_a_simtune_space_survives_configspace_and_back(tmp_path):
    CS = pytest.importorskip("ConfigSpace", reason="the configspace extra")
    space = Space(
        {"opt": choice(["sgd", "adam"]), "lr": loguniform(1e-3, 0.1), "m": uniform(0, 0.99),
         "grid": finrange(0, 1, 5), "k": ordinal([1, 2, 4]), "n": randint(1, 8), "tag": "x"},
        conditions={"m": {"opt": "sgd", "k": [2, 4]}},
        # ConfigSpace's defaults (sgd, k=1) are forbidden: the writer picks a valid default
        forbidden=[{"opt": "sgd", "k": 1}, {"n": [7, 8], "grid": 1.0}],
    )
    obj = to_configspace(space)
    assert isinstance(obj["grid"], CS.OrdinalHyperparameter)
    assert _same(from_configspace(obj), space)
    back = from_configspace(json.loads(json.dumps(to_configspace_dict(space))))
    assert back == space and list(back) == list(space)
    for config in _valid_samples(back):
        CS.Configuration(obj, values=config)


# -- ConfigSpace 0.x's JSON, without the package -----------------------------------------------
OLD = {
    "hyperparameters": [
        {"name": "opt", "type": "categorical", "choices": ["sgd", "adam"], "default": "sgd",
         "probabilities": None},
        {"name": "lr", "type": "uniform_float", "log": True, "lower": 1e-4, "upper": 0.1,
         "default": 0.01, "q": None},
        {"name": "n", "type": "uniform_int", "log": False, "lower": 1, "upper": 4,
         "default": 2, "q": None},
        {"name": "m", "type": "uniform_float", "log": False, "lower": 0.0, "upper": 0.9,
         "default": 0.5, "q": None},
        {"name": "size", "type": "ordinal", "sequence": [16, 32, 64], "default": 16},
        {"name": "seed", "type": "unparametrized", "value": 7},
    ],
    "conditions": [
        {"child": "m", "type": "AND", "conditions": [
            {"child": "m", "parent": "opt", "type": "EQ", "value": "sgd"},
            {"child": "m", "parent": "n", "type": "IN", "values": [2, 3]}]},
    ],
    "forbiddens": [
        {"name": "opt", "type": "AND", "clauses": [
            {"name": "opt", "type": "EQUALS", "value": "adam"},
            {"name": "size", "type": "IN", "values": [64]}]},
    ],
    "python_module_version": "0.4.18",
    "json_format_version": 0.2,
}


def test_configspace_0x_json_reads_without_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "ConfigSpace", None)  # as if it were not installed
    space = from_configspace(OLD)
    assert space == Space(
        {"opt": choice(["sgd", "adam"]), "lr": loguniform(1e-4, 0.1), "n": randint(1, 4),
         "m": uniform(0.0, 0.9), "size": ordinal([16, 32, 64]), "seed": 7},
        conditions={"m": {"opt": "sgd", "n": [2, 3]}},
        forbidden=[{"opt": "adam", "size": 64}],
    )
    _valid_samples(space)
    with pytest.raises(ValueError, match=r"pip install 'simtune\[configspace\]'"):
        to_configspace(space)


# -- what is refused: one line each --------------------------------------------------------------
def _hp(**spec) -> dict:
    return {"hyperparameters": [{"name": "x", **spec}]}


def _cond(*conditions) -> dict:
    return {"hyperparameters": [
        {"name": "a", "type": "categorical", "choices": ["p", "q"]},
        {"name": "f", "type": "uniform_float", "lower": 0.0, "upper": 1.0},
        {"name": "x", "type": "uniform_float", "lower": 0.0, "upper": 1.0}],
        "conditions": list(conditions), "forbiddens": []}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (_hp(type="uniform_float", lower=0, upper=1, q=0.1), "quantization q=0.1"),
        (_hp(type="normal_float", mu=0, sigma=1, lower=-3, upper=3), "drop_priors=True"),
        (_hp(type="normal_float", mu=0, sigma=1), "without bounds"),
        (_hp(type="categorical", choices=["a", "b"], weights=[1, 3]), "unequal weights"),
        (_hp(type="beta_int", alpha=2, beta=2, lower=1, upper=9), "beta_int prior"),
        (_hp(type="uniform_float", upper=1), "lacks the key 'lower'"),
        (_cond({"type": "OR", "child": "x", "conditions": [
            {"type": "EQ", "child": "x", "parent": "a", "value": "p"},
            {"type": "LT", "child": "x", "parent": "f", "value": 0.5}]}), "< 0.5 on uniform"),
        (_cond({"type": "OR", "child": "x", "conditions": [
            {"type": "EQ", "child": "x", "parent": "a", "value": "p"},
            {"type": "IN", "child": "x", "parent": "x", "values": [0.5]}]}),
         "an OR over several parents"),
        (_cond({"type": "GT", "child": "x", "parent": "f", "value": 0.5}),
         "> 0.5 on uniform(0.0, 1.0) has no simtune equivalent"),
        (_cond({"type": "EQ", "child": "x", "parent": "a", "value": "p"},
               {"type": "EQ", "child": "x", "parent": "a", "value": "q"}),
         "'x' has two conditions"),
        (_cond({"type": "EQ", "child": "x", "parent": "a", "value": "r"}), "a='r' can never hold"),
        ({**_cond(), "forbiddens": [{"type": "RELATION_LT", "left": "f", "right": "x"}]},
         "a relation between two hyperparameters"),
        (_cond({"type": "EQ", "child": "x", "parent": "a"}), "type EQ needs the key 'value'"),
        ({**_cond(), "forbiddens": [{"type": "AND", "clauses": [{"name": "a"}]}]},
         "ConfigSpace forbiddens: expected a list of entries with a 'type'"),
    ],
)
def test_what_has_no_simtune_equivalent_is_one_line(spec, expected):
    with pytest.raises(ValueError) as info:
        from_configspace(spec)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_drop_priors_keeps_the_bounds_and_a_callable_does_not_write():
    spec = {"hyperparameters": [
        {"name": "x", "type": "normal_float", "mu": 0, "sigma": 1, "lower": -3, "upper": 3},
        {"name": "c", "type": "categorical", "choices": ["a", "b"], "weights": [1, 3]}]}
    assert from_configspace(spec, drop_priors=True) == Space(
        {"x": uniform(-3, 3), "c": choice(["a", "b"])})
    space = Space({"x": uniform(0, 1)}, forbidden=[lambda c: c["x"] > 0.5])
    with pytest.raises(ValueError, match="forbidden clause 1 is a Python callable"):
        to_configspace_dict(space)


# -- benchmark.space ------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_benchmark_space_reads_a_configspace_file(suffix, tmp_path):
    space = from_configspace(OLD)
    text = (json.dumps if suffix == ".json" else yaml.safe_dump)(to_configspace_dict(space))
    (tmp_path / f"cs{suffix}").write_text(text)
    problem = problem_from_config(
        {"name": "custom", "training": "t.py:f", "space": f"cs{suffix}", "metric": "acc",
         "mode": "max", "fidelity": "epoch", "max_fidelity": 3}, base=tmp_path)
    assert problem.space == space
    (tmp_path / "bad.json").write_text(json.dumps(_hp(type="uniform_float", lower=0,
                                                       upper=1, q=0.5)))
    with pytest.raises(ValueError, match=r"^benchmark.space=bad.json: ConfigSpace hyper"):
        problem_from_config({"name": "custom", "training": "t.py:f", "space": "bad.json"},
                            base=tmp_path)


def test_the_docs_example_runs():
    doc = Path(__file__).parent.parent / "docs" / "configspace.md"
    (block,) = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    exec(compile(block, str(doc), "exec"), {})
