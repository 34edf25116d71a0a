"""Closed-form synthetic benchmarks: known optima, curve construction, registration."""

import math

import moocore
import numpy as np
import pytest

from simtune.blackboxes import repository
from simtune.blackboxes.synthetic import (
    BRANIN_MIN,
    HARTMANN3_ARGMIN,
    HARTMANN3_MIN,
    HARTMANN6_ARGMIN,
    HARTMANN6_MIN,
    TASKS,
    branin,
    gramacy_c1,
    gramacy_c2,
    hartmann,
    load_synthetic,
    zdt1,
    zdt1_front,
    zdt1_front_hypervolume,
)
from simtune.core.constraints import feasible
from simtune.core.schedulers.pareto import nondominated_sort


def test_hartmann_optima():
    # published optima (Dixon & Szegoe; SFU library), argmins given to 6 digits
    assert hartmann(np.array(HARTMANN3_ARGMIN)) == pytest.approx(HARTMANN3_MIN, abs=1e-5)
    assert hartmann(np.array(HARTMANN6_ARGMIN)) == pytest.approx(HARTMANN6_MIN, abs=1e-5)
    rng = np.random.default_rng(0)
    for d, low in ((3, HARTMANN3_MIN), (6, HARTMANN6_MIN)):
        values = [hartmann(x) for x in rng.random((5000, d))]
        assert min(values) > low  # random points never beat the optimum
        assert max(values) <= 0.0  # a negated sum of positive terms


def test_hartmann6_by_hand_at_the_origin():
    # f(0) = -sum_i alpha_i exp(-sum_j A_ij P_ij^2), computed term by term for row 1
    a1 = [10, 3, 17, 3.5, 1.7, 8]
    p1 = [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886]
    term1 = 1.0 * math.exp(-sum(a * p * p for a, p in zip(a1, p1, strict=True)))
    value = hartmann(np.zeros(6))
    assert value < -term1  # the other three terms are negative too
    assert value == pytest.approx(-term1, abs=0.01)  # and tiny at the origin


@pytest.mark.parametrize("task", sorted(TASKS))
def test_curves_end_at_the_function_and_never_undercut_it(task):
    bb = load_synthetic(task, max_fidelity=9)
    rng = np.random.default_rng(1)
    for config in bb.space.sample(rng, 50):
        curve = bb.curve(config, 0)
        assert curve.fidelities == list(range(1, 10))
        assert np.all(np.diff(curve.elapsed) > 0)
        for values in curve.metrics.values():
            assert np.all(np.diff(values) <= 1e-12)  # offsets shrink to 0
        x = np.array([config[k] for k in bb.space])
        if task == "branin":
            final = (branin(*x),)
        elif task == "zdt1":
            final = zdt1(x)
        elif task == "gramacy":  # the loss, then its constraints c1 and c2
            final = (x.sum(), gramacy_c1(x), gramacy_c2(x))
        else:
            final = (hartmann(x),)
        assert [v[-1] for v in curve.metrics.values()] == pytest.approx(list(final))
        if not feasible({k: v[-1] for k, v in curve.metrics.items()}, bb.constraints):
            continue  # a constrained optimum bounds the feasible values only
        for name, value in bb.optimum.items():
            assert curve.metrics[name][-1] >= value - 1e-9
    with pytest.raises(ValueError, match="only seed 0"):
        bb.curve(bb.space.sample(rng), 1)


def test_branin_optimum_unchanged():
    bb = load_synthetic("branin")
    assert bb.optimum == {"loss": BRANIN_MIN}
    assert bb.evaluate({"x1": math.pi, "x2": 2.275}, fidelity=81)["loss"] == pytest.approx(
        BRANIN_MIN, abs=1e-6
    )


def test_zdt1_front():
    bb = load_synthetic("zdt1")
    assert bb.objectives == {"f1": "min", "f2": "min"}
    on_front = {f"x{i}": (0.36 if i == 0 else 0.0) for i in range(6)}
    out = bb.evaluate(on_front, fidelity=81)
    assert (out["f1"], out["f2"]) == pytest.approx((0.36, 0.4))  # 1 - sqrt(0.36)
    rng = np.random.default_rng(2)
    points = np.array([zdt1(x) for x in rng.random((2000, 6))])
    assert np.all(points[:, 1] >= 1 - np.sqrt(points[:, 0]) - 1e-12)  # never beyond the front
    front = zdt1_front(101)
    assert len(nondominated_sort(front)) == 1  # the front is mutually non-dominated


def test_zdt1_front_hypervolume_closed_form():
    assert zdt1_front_hypervolume((1.0, 1.0)) == pytest.approx(2 / 3)
    for ref in ((1.0, 1.0), (1.1, 11.0)):
        staircase = moocore.hypervolume(zdt1_front(20001), ref=ref)
        assert staircase == pytest.approx(zdt1_front_hypervolume(ref), abs=1e-3)
        assert staircase < zdt1_front_hypervolume(ref)  # a staircase under the curve
    with pytest.raises(ValueError, match="ref >= \\(1, 1\\)"):
        zdt1_front_hypervolume((0.5, 1.0))


def test_registered_as_synthetic_tasks():
    assert repository.BENCHMARKS["synthetic"].tasks == tuple(TASKS)
    for task in TASKS:
        bb = repository.load("synthetic", task)
        assert (bb.name, bb.task) == ("synthetic", task)
        assert bb.fidelities[-1] == 81 and bb.optimum
    with pytest.raises(ValueError, match="has no task 'rosenbrock'; tasks: branin, hartmann3"):
        repository.load("synthetic", "rosenbrock")
    with pytest.raises(ValueError, match="unknown synthetic task"):
        load_synthetic("rosenbrock")
