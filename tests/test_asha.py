import numpy as np
import pytest

from simtune.blackboxes.synthetic import BraninCurves
from simtune.core.schedulers import make_scheduler
from simtune.core.schedulers.asha import ASHA
from simtune.core.schedulers.bo import GPSearcher
from simtune.core.schedulers.random import RandomSearcher
from simtune.core.schedulers.rungs import continues, n_promotable, promotable, rung_levels
from simtune.core.space import Space, choice, uniform
from simtune.core.trial import Decision, Report, Resume, Start, Trial
from tests.helpers import context, reports, simulate


def test_rung_levels_geometric():
    assert rung_levels(list(range(1, 201)), 1, 3, 200) == [1, 3, 9, 27, 81]
    assert rung_levels(list(range(1, 82)), 1, 3, 81) == [1, 3, 9, 27]
    assert rung_levels(list(range(1, 101)), 2, 2, 100) == [2, 4, 8, 16, 32, 64]


def test_rung_levels_snap_to_available_fidelities():
    # 3 -> 4 and 9 -> 16; 27 would snap to 32 = max_resource, which is not a rung
    assert rung_levels([1, 2, 4, 8, 16, 32], 1, 3, 32) == [1, 4, 16]
    assert rung_levels([200], 200, 3, 200) == []  # final-epoch-only table: no rung


def test_continues_keeps_top_fraction():
    rung: list[float] = []
    assert continues(rung, 5.0, 3)  # first at the rung always continues
    assert not continues(rung, 6.0, 3)  # 2nd of 2: top max(1, 2//3)=1 is 5.0
    assert continues(rung, 1.0, 3)  # best so far
    assert not continues(rung, 3.0, 3)  # rank 1 of 4, keep 1
    assert rung == [1.0, 3.0, 5.0, 6.0]
    # with 6 values, the top 2 continue
    assert continues(rung, 2.0, 3) is False  # rank 1 of 5, keep max(1, 5//3)=1
    assert continues(rung, 0.5, 3) is True


def _asha(mode="min", **kw):
    space = Space({"x": uniform(0, 1)})
    kw = {"eta": 3, **kw}
    return ASHA(
        searcher=RandomSearcher(space, rng=np.random.default_rng(0)),
        metric="loss",
        mode=mode,
        fidelities=list(range(1, 28)),
        **kw,
    )


def _report(asha, trial_id, fidelity, loss):
    trial = Trial(trial_id, {"x": 0.5})
    return asha.on_report(trial, Report(trial_id, 0.0, fidelity, {"loss": loss}))


def test_below_top_third_is_stopped_above_continues():
    asha = _asha()
    for i, loss in enumerate([0.5, 0.6, 0.7, 0.8, 0.9]):
        _report(asha, i, 1, loss)
    assert _report(asha, 10, 1, 0.75) == Decision.STOP  # rank 3 of 6: only the top 2 continue
    assert _report(asha, 11, 1, 0.55) == Decision.CONTINUE  # rank 1 of 7: top 2 continue
    assert _report(asha, 13, 1, 0.1) == Decision.CONTINUE
    assert _report(asha, 12, 2, 99.0) == Decision.CONTINUE  # epoch 2 is not a rung


def test_mode_max_flips_ranking():
    asha = _asha(mode="max")
    _report(asha, 0, 1, 0.9)
    assert _report(asha, 1, 1, 0.1) == Decision.STOP
    _report(asha, 2, 1, 0.8)
    assert _report(asha, 3, 1, 0.95) == Decision.CONTINUE


def test_max_resource_stops_trial():
    asha = _asha(max_resource=9)
    assert asha.rung_levels == [1, 3]
    assert _report(asha, 0, 9, 0.1) == Decision.STOP


def test_missing_metric_is_a_clear_error():
    asha = _asha()
    with pytest.raises(ValueError, match="lacks metric 'loss'"):
        asha.on_report(Trial(0, {"x": 0.1}), Report(0, 0.0, 1, {"acc": 1.0}))


def test_bad_eta():
    with pytest.raises(ValueError, match="eta must be a finite number > 1"):
        _asha(eta=1)


# -- promotion variant -------------------------------------------------------------------


def test_promotable_is_best_unpromoted_in_top_fraction():
    rung = [(0.1, 7), (0.2, 3), (0.3, 5), (0.4, 1), (0.5, 2), (0.6, 4), (0.7, 0)]
    assert n_promotable(7, 3) == 2
    assert promotable(rung, set(), 3) == 7
    assert promotable(rung, {7}, 3) == 3
    assert promotable(rung, {7, 3}, 3) is None  # 0.3 is third: outside the top 7 // 3 = 2
    assert promotable(rung[:2], set(), 3) is None  # top 2 // 3 = 0: nobody yet
    assert promotable(rung, set(), 3, allowed={3, 5}) == 3


def _report_p(asha, trial_id, fidelity, loss, last=False):
    return asha.on_report(Trial(trial_id, {"x": 0.5}),
                          Report(trial_id, 0.0, fidelity, {"loss": loss}, last))


def test_promotion_pauses_then_resumes_the_top_third():
    asha = _asha(type="promotion")
    for t in range(3):
        assert isinstance(asha.suggest(t), Start)
    assert _report_p(asha, 0, 1, 0.5) == Decision.PAUSE  # 1 at the rung: top 1 // 3 = 0
    assert _report_p(asha, 1, 1, 0.9) == Decision.PAUSE
    assert _report_p(asha, 2, 1, 0.7) == Decision.PAUSE  # top 1 of 3 is trial 0
    assert asha.suggest(3) == Resume(0)
    assert isinstance(asha.suggest(3), Start)  # nothing else promotable: a new config
    assert _report_p(asha, 3, 1, 0.1) == Decision.CONTINUE  # top 4 // 3 = 1: it is the best
    assert _report_p(asha, 3, 2, 0.1) == Decision.CONTINUE  # epoch 2 is no rung
    assert _report_p(asha, 0, 3, 0.4) == Decision.PAUSE  # first at rung 3
    assert _report_p(asha, 3, 27, 0.05, last=True) == Decision.CONTINUE  # the end
    capped = _asha(type="promotion", max_resource=9)
    assert _report_p(capped, 5, 9, 0.05) == Decision.STOP  # max_resource below the last epoch


def test_promotion_bad_type():
    with pytest.raises(ValueError, match="type must be one of"):
        _asha(type="pausing")


def test_promotion_resumes_every_paused_trial_once_the_space_is_exhausted():
    space = Space({"x": choice([0, 1, 2, 3, 4])})
    asha = ASHA(searcher=RandomSearcher(space, rng=np.random.default_rng(0)), metric="loss",
                mode="min", fidelities=[1, 2, 3, 4, 5, 6, 7, 8, 9], type="promotion")
    paused, done, epoch = set(), set(), {}
    for t in range(5):
        assert isinstance(asha.suggest(t), Start)
        epoch[t] = 0
    queue = list(range(5))
    while queue:
        t = queue.pop(0)
        epoch[t] += 1
        last = epoch[t] == 9
        decision = _report_p(asha, t, epoch[t], 1.0 / (t + 1) + 1.0 / epoch[t], last)
        if last:
            done.add(t)
        elif decision == Decision.PAUSE:
            paused.add(t)
        else:
            queue.append(t)
        if not queue:
            s = asha.suggest(99)
            if s is not None:
                assert isinstance(s, Resume) and s.trial_id in paused
                paused.discard(s.trial_id)
                queue.append(s.trial_id)
    assert done == {0, 1, 2, 3, 4} and not paused
    assert asha.suggest(99) is None


@pytest.mark.slow
def test_promotion_end_to_end_resumed_trials_continue_their_epochs(tmp_path):
    simulate(BraninCurves(), "asha", 0, tmp_path, params={"type": "promotion"},
             max_wallclock=3000)
    df = reports(tmp_path / "results.csv")
    paused = df[df.decision == "pause"]
    assert len(paused) > 100
    assert set(paused.epoch) <= {1, 3, 9, 27}  # pauses happen at rung levels only
    n_resumed = 0
    for trial_id, rows in df.groupby("trial_id"):
        epochs = rows.epoch.to_numpy()
        assert (np.diff(epochs) == 1).all(), f"trial {trial_id} skipped or repeated epochs"
        assert (np.diff(rows.time.to_numpy()) > 0).all()
        n_resumed += int((rows.decision.to_numpy()[:-1] == "pause").sum())
    assert n_resumed > 30
    # each promotion from rung 1 (when its epoch-2 training began: epoch-2 report time minus
    # the config's epoch cost 1 + (x1 + 5) / 5) ranked in the top third of rung 1 so far
    rung1 = df[df.epoch == 1]
    second = df[df.epoch == 2]
    assert len(second) > 50
    for row in second.itertuples():
        promoted_at = row.time - (1.0 + (row.config_x1 + 5.0) / 5.0)
        seen = rung1[rung1.time <= promoted_at + 1e-9]
        own = rung1[rung1.trial_id == row.trial_id].loss.iloc[0]
        assert (seen.loss < own).sum() < len(seen) // 3, f"trial {row.trial_id}"


def test_searcher_by_name_is_told_the_rung_levels():
    """searcher="bo" with searcher_args builds the GP searcher, which learns the rung
    levels from ASHA (MOBSTER is exactly this); unknown names and stray args are refused."""
    bb = BraninCurves(max_fidelity=27)
    ctx = context(bb, np.random.default_rng(0))
    asha = make_scheduler("asha", ctx, searcher="bo", searcher_args={"fidelity_aware": True})
    assert isinstance(asha.searcher, GPSearcher)
    assert asha.searcher._levels == {*asha.rung_levels, 27} == {1, 3, 9, 27}
    mobster = make_scheduler("mobster", ctx, searcher_args={"n_init": 7})
    assert mobster.searcher.n_init == 7 and mobster.searcher.fidelity_aware
    with pytest.raises(ValueError, match="unknown searcher 'tpee'; available: bo, .*de, .*tpe"):
        make_scheduler("asha", ctx, searcher="tpee")
    with pytest.raises(ValueError, match="searcher 'tpe' has no parameter 'gama'"):
        make_scheduler("bohb", ctx, searcher_args={"gama": 0.2})
    with pytest.raises(ValueError, match="searcher 'random' has no parameter 'gamma'"):
        make_scheduler("asha", ctx, searcher_args={"gamma": 0.2})  # asha's searcher: random
