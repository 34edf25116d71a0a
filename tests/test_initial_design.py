"""Initial designs (random | sobol | lhs) of the GP and TPE searchers: validation,
determinism, spread on a continuous space, no repeats on a finite table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simtune.blackboxes.synthetic import BraninCurves
from simtune.core.schedulers import make_scheduler
from simtune.core.schedulers.bo import GPSearcher
from simtune.core.schedulers.tpe import TPESearcher
from simtune.core.space import Space, choice, loguniform, randint, uniform
from tests.helpers import context, simulate, toy_table

QMC = ["sobol", "lhs"]
SPACE = Space(
    {"a": uniform(-5.0, 10.0), "b": loguniform(1e-4, 1.0), "c": uniform(0.0, 1.0), "k": 7}
)


def searcher(kind: str, design: str, space: Space, seed: int, n: int, candidates=None):
    """A GP or TPE searcher whose initial phase is `n` configurations of `design`."""
    rng = np.random.default_rng(seed)
    if kind == "bo":
        return GPSearcher(
            space, mode="min", rng=rng, n_init=n, initial_design=design, candidates=candidates
        )
    return TPESearcher(
        space, mode="min", rng=rng, min_points=n, initial_design=design, candidates=candidates
    )


def suggestions(s, n: int) -> list[dict | None]:
    """n suggestions, each started (pending) and none reported: all in the initial phase."""
    out = []
    for trial in range(n):
        config = s.suggest()
        out.append(config)
        if config is not None:
            s.on_start(trial, config)
    return out


@pytest.mark.parametrize("name", ["bo", "tpe"])
def test_an_unknown_design_gets_one_line_naming_the_argument_and_the_values(name):
    with pytest.raises(ValueError) as err:
        make_scheduler(
            name, context(BraninCurves(), np.random.default_rng(0)), initial_design="halton"
        )
    message = str(err.value)
    assert "\n" not in message
    assert "initial_design must be one of random, sobol, lhs, got 'halton'" in message


@pytest.mark.parametrize("kind", ["bo", "tpe"])
@pytest.mark.parametrize("design", QMC)
def test_same_seed_same_suggestions_other_seed_other_ones(kind, design):
    a, b, c = (suggestions(searcher(kind, design, SPACE, seed, 6), 10) for seed in (0, 0, 1))
    assert a == b
    assert a != c
    assert all(config["k"] == 7 for config in a)
    for config in a:
        SPACE.validate(config)


def _eighths(values: np.ndarray) -> int:
    """How many of the 8 equal bins of [0, 1) the values fall in."""
    return len(set(np.minimum((values * 8).astype(int), 7).tolist()))


def _projections(configs: list[dict]) -> list[int]:
    """Distinct eighths hit by each coordinate (b on its log scale)."""
    a = np.array([(c["a"] + 5.0) / 15.0 for c in configs])
    b = np.array([np.log(c["b"] / 1e-4) / np.log(1e4) for c in configs])
    c = np.array([c["c"] for c in configs])
    return [_eighths(v) for v in (a, b, c)]


@pytest.mark.parametrize("kind", ["bo", "tpe"])
@pytest.mark.parametrize("design", QMC)
@pytest.mark.parametrize("seed", range(5))
def test_qmc_designs_stratify_every_coordinate(kind, design, seed):
    """The first 8 points of a scrambled Sobol' sequence (a net: each 1-D projection
    stratified) and a Latin hypercube of 8 points put one point in each eighth of every
    coordinate, on the coordinate's own scale (log for b)."""
    configs = suggestions(searcher(kind, design, SPACE, seed, 8), 8)
    assert _projections(configs) == [8, 8, 8]


@pytest.mark.parametrize("kind", ["bo", "tpe"])
def test_random_points_do_not_stratify(kind):
    """The property above discriminates: 8 uniform draws hit all 8 eighths of all three
    coordinates with probability (8!/8^8)^3, about 1e-8."""
    for seed in range(5):
        configs = suggestions(searcher(kind, "random", SPACE, seed, 8), 8)
        assert min(_projections(configs)) < 8


def test_categories_and_integers_get_equal_shares():
    """A categorical's u picks category floor(u * c), a randint's value floor(u * n):
    8 Sobol' points over 4 categories and 4 integers give each one exactly twice."""
    space = Space({"opt": choice(["sgd", "adam", "rms", "ada"]), "layers": randint(1, 4)})
    configs = suggestions(searcher("bo", "sobol", space, 3, 8), 8)
    for name in ("opt", "layers"):
        counts = pd.Series([c[name] for c in configs]).value_counts()
        assert sorted(counts.tolist()) == [2, 2, 2, 2], (name, counts)


@pytest.mark.parametrize("kind", ["bo", "tpe"])
@pytest.mark.parametrize("design", QMC)
def test_on_a_finite_table_no_row_is_suggested_twice(kind, design):
    """6 rows, a design of 6 points: points falling on a used row are snapped to the
    nearest unused one, so the 6 suggestions are the 6 rows, then the table is done."""
    table = toy_table()
    out = suggestions(searcher(kind, design, table.space, 0, 6, table.configs()), 7)
    assert sorted(c["i"] for c in out[:6]) == list(range(6))
    assert out[6] is None


@pytest.mark.parametrize("design", QMC)
def test_a_finite_space_is_searched_without_repeats(design):
    """A finite space enumerated by the pool (2 x 3 x 4 = 24 points), a design of 16."""
    space = Space({"x": choice([0, 1]), "y": choice(["p", "q", "r"]), "z": randint(0, 3)})
    out = suggestions(searcher("bo", design, space, 1, 16), 16)
    keys = [space.key(c) for c in out]
    assert len(set(keys)) == 16


@pytest.mark.parametrize("name", ["bo", "tpe"])
@pytest.mark.parametrize("design", QMC)
def test_whole_runs_repeat_with_the_seed_and_leave_the_initial_phase(tmp_path, name, design):
    """Through the Tuner, 8 workers (more pending trials than the design has points):
    same seed, same results.csv; another seed, another; configurations stay in the space."""
    params = {"initial_design": design}
    for run, seed in [("a", 0), ("b", 0), ("c", 1)]:
        simulate(
            BraninCurves(max_fidelity=3),
            name,
            seed,
            tmp_path / run,
            n_workers=8,
            params=params,
            max_trials=40,
        )
    a, b, c = (pd.read_csv(tmp_path / r / "results.csv") for r in "abc")
    assert (tmp_path / "a" / "results.csv").read_bytes() == (
        tmp_path / "b" / "results.csv"
    ).read_bytes()
    assert not a.equals(c)
    assert a["trial_id"].nunique() == 40
    space = BraninCurves().space
    for row in a.itertuples():
        space.validate({"x1": row.config_x1, "x2": row.config_x2})
