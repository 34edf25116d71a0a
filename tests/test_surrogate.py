"""Surrogate wrapper: exact hits, nearest neighbour, regression models, the Hydra switch."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from simtune.blackboxes.blackbox import TIME, TabularBlackbox
from simtune.blackboxes.surrogate import SurrogateBlackbox, with_surrogate
from simtune.core.encoding import encode
from simtune.core.space import Space, choice, uniform

SEEDS = [0, 1, 2]
FIDS = [1, 2, 3, 4, 5]


@pytest.fixture(scope="module")
def table() -> TabularBlackbox:
    """A 30-config table: loss = (x - 0.3)^2 + opt offset, shrinking with fidelity; seed 2
    is missing for configs 0..9 and config 5 has only 3 fidelities for seed 0."""
    rng = np.random.default_rng(0)
    space = Space({"x": uniform(0.0, 1.0), "opt": choice(["sgd", "adam"]), "epochs": 5})
    xs = np.linspace(0.0, 1.0, 15)
    configs = [{"x": float(x), "opt": o, "epochs": 5} for o in ("sgd", "adam") for x in xs]
    shape = (len(configs), len(SEEDS), len(FIDS))
    base = np.array([(c["x"] - 0.3) ** 2 + (0.1 if c["opt"] == "sgd" else 0.0) for c in configs])
    loss = base[:, None, None] + 1.0 / np.array(FIDS)[None, None, :] + rng.normal(0, 0.01, shape)
    per_epoch = 1.0 + np.array([c["x"] for c in configs])
    elapsed = per_epoch[:, None, None] * np.array(FIDS)[None, None, :] * np.ones(shape)
    loss[:10, 2, :] = np.nan
    elapsed[:10, 2, :] = np.nan
    loss[5, 0, 3:] = np.nan
    elapsed[5, 0, 3:] = np.nan
    return TabularBlackbox.from_arrays(
        name="toy",
        task="t",
        space=space,
        configs=configs,
        seeds=SEEDS,
        fidelities=FIDS,
        objectives={"loss": "min"},
        values={"loss": loss, TIME: elapsed},
    )


def test_without_surrogate_the_error_suggests_it(table: TabularBlackbox) -> None:
    with pytest.raises(ValueError, match="not in the table.*surrogate.*benchmark.surrogate="):
        table.curve({"x": 0.31, "opt": "adam", "epochs": 5}, 0)


@pytest.mark.parametrize("model", ["nearest", "knn", "random_forest"])
def test_exact_hits_return_the_table(table: TabularBlackbox, model: str) -> None:
    bb = SurrogateBlackbox(table, model=model)
    for config in table.configs()[::7]:
        for seed in table.seeds_of(config):
            assert bb.curve(config, seed) == table.curve(config, seed)
        assert bb.seeds_of(config) == table.seeds_of(config)
    assert bb.curve(table.configs()[5], 0).fidelities == [1, 2, 3]  # the table's short curve


def test_nearest_neighbour(table: TabularBlackbox) -> None:
    bb = SurrogateBlackbox(table)
    off = {"x": 0.31, "opt": "adam", "epochs": 5}  # nearest: x = 2/7 ~ 0.2857 with adam
    enc = np.stack([encode(table.space, c) for c in table.configs()])
    d = ((enc - encode(table.space, off)) ** 2).sum(axis=1)
    want = table.configs()[int(np.argmin(d))]
    assert want["opt"] == "adam" and want["x"] == pytest.approx(2 / 7)
    assert bb.curve(off, 1) == table.curve(want, 1)
    # seed 2 is missing for rows 0..9 (sgd, x <= 9/14): the nearest row WITH seed 2 answers
    off_sgd = {"x": 0.02, "opt": "sgd", "epochs": 5}
    assert bb.curve(off_sgd, 2) == table.curve(table.configs()[10], 2)
    assert bb.seeds_of(off) == SEEDS
    assert bb.evaluate(off, fidelity=5, seed=1)["loss"] == table.curve(want, 1).metrics["loss"][-1]


@pytest.mark.parametrize("model", ["knn", "random_forest"])
def test_regression_models(table: TabularBlackbox, model: str) -> None:
    bb = SurrogateBlackbox(table, model=model)
    off = {"x": 0.3, "opt": "adam", "epochs": 5}  # not a table x (multiples of 1/14)
    curve = bb.curve(off, 0)
    assert curve.fidelities == FIDS
    assert np.all(np.diff(curve.elapsed) >= 0) and curve.elapsed[0] > 0
    loss = np.array(curve.metrics["loss"])
    # the true loss at x = 0.3 (adam) is 1/f; the neighbours' losses are within 0.02 of it
    assert loss == pytest.approx(1.0 / np.array(FIDS), abs=0.03)
    assert curve.elapsed[-1] == pytest.approx(5 * 1.3, abs=0.4)
    again = SurrogateBlackbox(table, model=model).curve(off, 0)
    assert again == curve  # deterministic


def test_regression_time_is_monotone_even_if_the_model_is_not(table: TabularBlackbox) -> None:
    bb = SurrogateBlackbox(table, model="knn")

    class Decreasing:  # a fitted model that predicts a decreasing time curve
        def predict(self, x):
            return np.concatenate([np.ones(5), [3.0, 2.0, 4.0, 1.0, 5.0]])[None, :]

    bb._fitted[0] = Decreasing()
    curve = bb.curve({"x": 0.3, "opt": "adam", "epochs": 5}, 0)
    assert curve.elapsed == [3.0, 3.0, 4.0, 4.0, 5.0]


def test_bad_input(table: TabularBlackbox) -> None:
    with pytest.raises(ValueError, match="unknown surrogate model 'gp'"):
        SurrogateBlackbox(table, model="gp")
    bb = SurrogateBlackbox(table)
    with pytest.raises(ValueError, match="'x'.*outside"):
        bb.curve({"x": 1.5, "opt": "adam", "epochs": 5}, 0)
    with pytest.raises(ValueError, match="no seed 7"):
        bb.curve({"x": 0.3, "opt": "adam", "epochs": 5}, 7)


def test_hydra_switch() -> None:
    from simtune.experiments.assemble import load_benchmark

    cfg = OmegaConf.create(
        {"benchmark": {"name": "synthetic", "task": "branin", "surrogate": None}}
    )
    plain = load_benchmark(cfg)
    assert not isinstance(plain, SurrogateBlackbox)
    cfg.benchmark.surrogate = "nearest"
    with pytest.raises(ValueError, match="already answers every configuration"):
        load_benchmark(cfg)
    assert with_surrogate(plain, None) is plain


def test_hydra_switch_on_a_table(tmp_path, monkeypatch) -> None:
    from simtune.experiments.assemble import load_benchmark
    from tests.test_lcbench import write_lcbench

    monkeypatch.setenv("SIMTUNE_CACHE", str(tmp_path / "cache"))
    raw = write_lcbench(tmp_path / "raw").parent
    cfg = OmegaConf.create(
        {
            "benchmark": {
                "name": "lcbench",
                "task": "credit-g",
                "raw_dir": str(raw),
                "surrogate": "knn",
            }
        }
    )
    bb = load_benchmark(cfg)
    assert isinstance(bb, SurrogateBlackbox) and bb.model == "knn"
    off = bb.space.sample(np.random.default_rng(0))
    assert len(bb.curve(off, 0).fidelities) == 52  # a table alone would raise here
