import numpy as np
import pytest

from simtune.blackboxes.synthetic import BraninCurves
from simtune.core.schedulers.pasha import PASHA, grow, rankings_disagree
from simtune.core.schedulers.random import RandomSearcher
from simtune.core.space import Space, uniform
from simtune.core.trial import Decision, Report, Resume, Start, Trial
from tests.helpers import reports, simulate


def test_rankings_disagree():
    lower = {1: 0.1, 2: 0.2, 3: 0.3, 4: 0.9}
    assert not rankings_disagree(lower, {1: 0.05, 2: 0.06, 3: 0.07}, 0.0)
    assert rankings_disagree(lower, {1: 0.05, 2: 0.04}, 0.0)
    assert not rankings_disagree(lower, {1: 0.05, 2: 0.04}, 0.02)  # within epsilon: a tie
    assert not rankings_disagree(lower, {1: 0.05}, 0.0)  # one trial has no ranking
    assert not rankings_disagree(lower, {7: 0.05, 8: 0.01}, 0.0)  # not at the lower rung


def test_grow_stops_at_the_last_rung():
    assert grow(1, 3) == 2
    assert grow(3, 3) == 3


def _pasha():
    return PASHA(searcher=RandomSearcher(Space({"x": uniform(0, 1)}), rng=np.random.default_rng(0)),
                 metric="loss", mode="min", fidelities=list(range(1, 28)))


def _report(p, t, fidelity, loss):
    return p.on_report(Trial(t, {"x": 0.5}), Report(t, 0.0, fidelity, {"loss": loss}))


def test_top_rung_pauses_until_rankings_disagree():
    p = _pasha()  # rungs 1, 3, 9; starts with max resource 3
    assert p.rung_levels == [1, 3, 9] and p.n_open == 1
    for t in range(6):
        assert isinstance(p.suggest(t), Start)
    for t in range(6):
        assert _report(p, t, 1, 0.1 * (t + 1)) == Decision.PAUSE  # trial 0 best, then 1, ...
    assert p.suggest(6) == Resume(0)
    assert p.suggest(6) == Resume(1)
    assert _report(p, 0, 3, 0.05) == Decision.PAUSE  # the top rung: no promotion yet
    assert _report(p, 1, 3, 0.06) == Decision.PAUSE  # same order as at rung 1
    assert p.n_open == 1
    assert p.metadata()["derived"]["max_resource_reached"] == 3
    for t in range(6, 12):  # 6 more trials at rung 1, worse than all
        assert isinstance(p.suggest(t), Start)
    for t in range(6, 12):
        _report(p, t, 1, 1.0 + t)
    assert p.suggest(12) == Resume(2)  # 12 at rung 1: top 4
    assert _report(p, 2, 3, 0.01) == Decision.CONTINUE  # order flips: rung 9 opens; promoted
    assert p.n_open == 2
    assert p.metadata()["derived"]["max_resource_reached"] == 9


@pytest.mark.slow
def test_end_to_end_no_trial_trains_past_the_reached_resource(tmp_path):
    tuner = simulate(BraninCurves(), "pasha", 0, tmp_path, max_wallclock=3000)
    df = reports(tmp_path / "results.csv")
    reached = tuner.scheduler.metadata()["derived"]["max_resource_reached"]
    levels = tuner.scheduler.rung_levels + [81]
    assert reached in levels
    beyond = levels[levels.index(reached) + 1] if reached < 81 else 81
    assert df.epoch.max() <= beyond
    assert (df[df.decision == "pause"].epoch.isin(levels)).all()
    for _, rows in df.groupby("trial_id"):
        assert (np.diff(rows.epoch.to_numpy()) == 1).all()
