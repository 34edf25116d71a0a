import numpy as np
import pytest

from simtune.blackboxes.synthetic import BraninCurves
from simtune.core.schedulers.random import RandomSearcher
from simtune.core.schedulers.rungs import rung_complete, top_trials
from simtune.core.schedulers.sync_hyperband import SyncHyperband, SyncSuccessiveHalving
from simtune.core.space import Space, uniform
from simtune.core.trial import Decision, Report, Resume, Start, Trial
from tests.helpers import reports, simulate


def test_rung_complete_waits_for_every_member():
    assert not rung_complete([1, 2, 3], {1: 0.5, 2: 0.1}, set())
    assert rung_complete([1, 2, 3], {1: 0.5, 2: 0.1}, {3})  # a failed member does not block
    assert rung_complete([1, 2, 3], {1: 0.5, 2: 0.1, 3: 0.2}, set())


def test_top_trials_by_loss_then_id():
    assert top_trials({4: 0.3, 1: 0.1, 2: 0.3, 7: 0.2}, 3) == [1, 7, 2]
    assert top_trials({4: 0.3}, 3) == [4]


def _sh(searcher=None, **kw):
    space = Space({"x": uniform(0, 1)})
    searcher = searcher or RandomSearcher(space, rng=np.random.default_rng(0))
    kw = {"parallel_brackets": 1, **kw}  # one bracket at a time, as published
    return SyncSuccessiveHalving(searcher=searcher, metric="loss", mode="min",
                                 fidelities=list(range(1, 10)), **kw)


def _report(s, t, fidelity, loss, last=False):
    return s.on_report(Trial(t, {"x": 0.5}), Report(t, 0.0, fidelity, {"loss": loss}, last))


def test_successive_halving_rung_by_rung():
    sh = _sh()  # levels 1, 3, 9; sizes 9, 3, 1
    assert sh.schedule == [[9, 3, 1]]
    for t in range(9):
        assert isinstance(sh.suggest(t), Start)
    assert sh.suggest(9) is None  # all 9 started: wait
    losses = [0.9, 0.2, 0.8, 0.1, 0.7, 0.6, 0.3, 0.5, 0.4]
    for t in range(8):
        assert _report(sh, t, 1, losses[t]) == Decision.PAUSE
        assert sh.suggest(9) is None  # the rung is not complete yet
    sh.on_error(Trial(8, {"x": 0.5}))  # the ninth fails: the rung completes without it
    assert [sh.suggest(9) for _ in range(3)] == [Resume(3), Resume(1), Resume(6)]
    assert sh.suggest(9) is None
    for t in (3, 1):
        assert _report(sh, t, 2, 0.0) == Decision.CONTINUE  # between rungs
        assert _report(sh, t, 3, {3: 0.3, 1: 0.05}[t]) == Decision.PAUSE
    assert sh.suggest(9) is None  # trial 6 still runs
    assert _report(sh, 6, 3, 0.2) == Decision.PAUSE
    assert sh.suggest(9) == Resume(1)
    assert sh.suggest(9) is None
    assert _report(sh, 1, 9, 0.01, last=True) == Decision.CONTINUE
    sh.on_complete(Trial(1, {"x": 0.5}), Report(1, 0.0, 9, {"loss": 0.01}, True))
    assert isinstance(sh.suggest(9), Start)  # the next bracket begins


def test_hyperband_cycles_through_brackets():
    hb = SyncHyperband(searcher=RandomSearcher(Space({"x": uniform(0, 1)}),
                                               rng=np.random.default_rng(0)),
                       metric="loss", mode="min", fidelities=list(range(1, 82)),
                       parallel_brackets=1)
    assert hb.levels == [1, 3, 9, 27, 81]
    assert [s[0] for s in hb.schedule] == [81, 34, 15, 8, 5]
    t = 0
    while isinstance(hb.suggest(t), Start):
        t += 1
    assert t == 81  # the first bracket starts 81 configurations, then waits


@pytest.mark.slow
def test_end_to_end_rungs_wait_and_resumed_trials_continue(tmp_path):
    tuner = simulate(BraninCurves(), "sync_hyperband", 0, tmp_path, max_wallclock=4000)
    df = reports(tmp_path / "results.csv")
    first = list(range(81))  # bracket s=4: trials 0..80 at rung 1
    rung1 = df[(df.epoch == 1) & df.trial_id.isin(first)]
    assert len(rung1) == 81
    # no trial of the bracket trains epoch 2 before all 81 have reported epoch 1
    epoch2 = df[(df.epoch == 2) & df.trial_id.isin(first)]
    assert len(epoch2) == 27
    assert epoch2.time.min() > rung1.time.max()
    # the 27 promoted are exactly the 27 best at rung 1
    best = rung1.nsmallest(27, "loss").trial_id
    assert set(epoch2.trial_id) == set(best)
    for _, rows in df.groupby("trial_id"):
        assert (np.diff(rows.epoch.to_numpy()) == 1).all()
    assert len(tuner.trials) > 81


def test_parallel_brackets_fill_idle_workers_but_each_rung_still_waits():
    sh = _sh(parallel_brackets=2)
    for t in range(18):  # bracket 1: trials 0-8; while it waits, bracket 2: trials 9-17
        assert isinstance(sh.suggest(t), Start)
    assert sh.suggest(18) is None  # both brackets wait for their first rung
    for t in range(9):
        assert _report(sh, t, 1, 0.1 * t) == Decision.PAUSE
    assert [sh.suggest(18) for _ in range(3)] == [Resume(0), Resume(1), Resume(2)]
    assert sh.suggest(18) is None  # bracket 2's rung 1 is still incomplete
    for bad in (0, 1.5, float("nan"), float("inf"), "2", True):
        with pytest.raises(ValueError, match="parallel_brackets must be a positive integer"):
            _sh(parallel_brackets=bad)
    assert _sh(parallel_brackets=2.0).parallel_brackets == 2


def test_searcher_by_name_is_built_and_told_the_rung_levels():
    from simtune.core.schedulers import create
    from simtune.core.schedulers.tpe import TPESearcher

    class Recording(RandomSearcher):
        def set_fidelities(self, levels, fidelities):
            self.levels = list(levels)

    rec = Recording(Space({"x": uniform(0, 1)}), rng=np.random.default_rng(0))
    assert _sh(searcher=rec).searcher.levels == [1, 3, 9]

    def sh(**kw):
        return create("sync_sh", space={"x": uniform(0, 1)}, metric="loss", max_fidelity=9,
                      **kw)

    by_name = sh(searcher="tpe", searcher_args={"gamma": 0.3})
    assert isinstance(by_name.searcher, TPESearcher) and by_name.searcher.gamma == 0.3
    assert by_name.metadata()["searcher"]["name"] == "tpe"
    assert isinstance(by_name.suggest(0), Start)
    with pytest.raises(ValueError, match="searcher 'random' has no parameter 'gamma'"):
        sh(searcher_args={"gamma": 0.3})
    with pytest.raises(ValueError, match="unknown searcher 'nope'"):
        sh(searcher="nope")
