"""simtune.core.schedulers.create: a scheduler by name from keywords, as run.py would build it."""

from __future__ import annotations

import numpy as np
import pytest

from simtune.blackboxes.synthetic import BraninCurves
from simtune.core.schedulers import create, make_scheduler
from simtune.core.seeds import run_rngs
from simtune.core.trial import Report, Start, Trial
from tests.helpers import context


def _decisions(sched, bb, n=40):
    """Drive `sched` sequentially for n trials; its (config, decision) sequence."""
    out = []
    for trial_id in range(n):
        s = sched.suggest(trial_id)
        if not isinstance(s, Start):
            break
        trial = Trial(trial_id, s.config)
        sched.on_start(trial)
        curve = bb.curve(s.config)
        for i, f in enumerate(curve.fidelities):
            last = i + 1 == len(curve.fidelities)
            report = Report(trial_id, 0.0, f, {"loss": curve.metrics["loss"][i]}, last)
            decision = sched.on_report(trial, report).value
            out.append((tuple(s.config.values()), f, decision))
            if last:
                sched.on_complete(trial, report)
            if decision != "continue" or last:
                break
    return out


def test_create_decides_as_run_py_with_the_same_seed():
    bb = BraninCurves(max_fidelity=9)
    rng = run_rngs(3)[0]  # the scheduler's stream of a run with seed=3
    expected = _decisions(make_scheduler("asha", context(bb, rng), eta=3), bb)
    made = create("asha", space=bb.space, metric="loss", mode="min", max_fidelity=9, seed=3, eta=3)
    assert _decisions(made, bb) == expected
    again = create("asha", space=bb.space, metric="loss", fidelities=list(range(1, 10)),
                   rng=run_rngs(3)[0], eta=3)
    assert _decisions(again, bb) == expected


def test_create_fills_metric_and_objectives():
    bb = BraninCurves(max_fidelity=9)
    sched = create("bo", space=bb.space, objectives={"loss": "max", "other": "min"})
    assert (sched.metric, sched.mode) == ("loss", "max")
    mo = create("morea", space=bb.space, objectives={"a": "min", "test_b": "min", "c": "max"})
    assert mo.objectives == {"a": "min", "c": "max"}
    first = create("tpe", space=bb.space, metric="loss", points_to_evaluate=[{"x1": 2.0}])
    assert first.suggest(0).config == {"x1": 2.0, "x2": 7.5}


def test_create_rejects_bad_keywords():
    space = BraninCurves().space
    with pytest.raises(ValueError, match="give metric"):
        create("asha", space=space, max_fidelity=9)
    with pytest.raises(ValueError, match="fidelities or max_fidelity, not both"):
        create("asha", space=space, metric="loss", fidelities=[1, 2], max_fidelity=2)
    with pytest.raises(ValueError, match="max_fidelity must be a positive integer, got 0"):
        create("asha", space=space, metric="loss", max_fidelity=0)
    with pytest.raises(ValueError, match="seed or rng, not both"):
        create("bo", space=space, metric="loss", seed=1, rng=np.random.default_rng(1))
    with pytest.raises(ValueError, match="scheduler 'asha' has no parameter 'etaa'"):
        create("asha", space=space, metric="loss", max_fidelity=9, etaa=3)
    with pytest.raises(ValueError, match="unknown scheduler 'ashaa'"):
        create("ashaa", space=space, metric="loss")


def test_points_must_be_rows_of_the_table():
    bb = BraninCurves(max_fidelity=9)
    rows = [{"x1": 0.0, "x2": 1.0}, {"x1": 2.0, "x2": 3.0}]
    with pytest.raises(ValueError, match=r"points_to_evaluate\[0\]: .* not a configuration"):
        create("random", space=bb.space, metric="loss", candidates=rows,
               points_to_evaluate=[{"x1": 0.5, "x2": 1.0}])
    with pytest.raises(ValueError, match="must be a list of configurations"):
        create("random", space=bb.space, metric="loss", points_to_evaluate={"x1": 0.5})


MULTI_FIDELITY = ["asha", "bohb", "dehb", "hyperband", "hypertune", "hypertune_hyperband",
                  "median_stopping", "mobster", "pasha", "pbt", "sync_hyperband", "sync_sh"]


@pytest.mark.parametrize("name", MULTI_FIDELITY)
def test_a_multi_fidelity_scheduler_needs_its_fidelities(name):
    """Without max_fidelity it would see one fidelity, 1: a single rung, nothing stopped."""
    space = BraninCurves().space
    with pytest.raises(ValueError, match=rf"create\('{name}'\): {name} is a multi-fidelity "
                                         r"scheduler: give max_fidelity"):
        create(name, space=space, metric="loss")
    assert create(name, space=space, metric="loss", max_fidelity=9).metric == "loss"


def test_moasha_and_fidelity_aware_bo_need_fidelities_single_fidelity_ones_do_not():
    space = BraninCurves().space
    with pytest.raises(ValueError, match="moasha is a multi-fidelity scheduler"):
        create("moasha", space=space, objectives={"loss": "min", "f": "min"})
    with pytest.raises(ValueError, match="bo is a multi-fidelity scheduler"):
        create("bo", space=space, metric="loss", fidelity_aware=True)
    for name in ("random", "bo", "tpe", "rea", "grid"):
        assert create(name, space=space, metric="loss").metric == "loss"
