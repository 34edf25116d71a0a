import numpy as np
import pandas as pd
import pytest

from simtune.blackboxes.synthetic import BraninCurves
from simtune.core.schedulers import make_scheduler
from simtune.core.schedulers.median_stopping import below_median
from simtune.core.trial import Decision, Report, Start, Trial
from tests.helpers import context, simulate


def test_below_median():
    assert not below_median(5.0, [1.0, 2.0], 3)  # too few others
    assert below_median(2.5, [1.0, 2.0, 3.0], 3)  # median 2.0
    assert not below_median(2.0, [1.0, 2.0, 3.0], 3)  # equal to the median: keep
    assert below_median(2.6, [1.0, 2.0, 3.0, 4.0], 3)  # median 2.5
    assert not below_median(2.5, [1.0, 2.0, 3.0, 4.0], 3)


def _median(**params):
    return make_scheduler("median_stopping", context(BraninCurves(max_fidelity=9),
                                                     np.random.default_rng(0)), **params)


def test_stops_a_trial_worse_than_the_running_averages():
    sched = _median()
    report = lambda t, f, y: sched.on_report(Trial(t, {}), Report(t, 0.0, f, {"loss": y}))  # noqa: E731
    for t in range(3):
        assert isinstance(sched.suggest(t), Start)
        assert report(t, 1, 10.0 + t) == Decision.CONTINUE  # averages at 1: 10, 11, 12
        assert report(t, 2, 2.0 + t) == Decision.CONTINUE  # averages at 2: 6, 7, 8
    assert report(3, 1, 11.5) == Decision.STOP  # 11.5 > median 11
    assert report(4, 1, 10.5) == Decision.CONTINUE
    assert report(4, 2, 6.9) == Decision.CONTINUE  # best 6.9 <= median of 6, 7, 7.5, 8 = 7.25
    assert report(5, 1, 1.0) == Decision.CONTINUE
    assert report(5, 2, 9.0) == Decision.CONTINUE  # its best so far is 1.0


def test_wraps_any_scheduler_and_keeps_its_decisions():
    sched = _median(scheduler="asha", scheduler_args={"type": "promotion"})
    assert sched.metadata()["inner"]["args"]["type"] == "promotion"
    assert isinstance(sched.suggest(0), Start)
    assert sched.on_report(Trial(0, {"x1": 0.0, "x2": 0.0}),
                           Report(0, 0.0, 1, {"loss": 3.0})) == Decision.PAUSE


def test_bad_parameters():
    with pytest.raises(ValueError, match="must name another scheduler"):
        _median(scheduler="median_stopping")
    with pytest.raises(ValueError, match="unknown scheduler 'nope'"):
        _median(scheduler="nope")


@pytest.mark.slow
def test_end_to_end_stops_below_median_trials_early(tmp_path):
    simulate(BraninCurves(), "median_stopping", 0, tmp_path, max_wallclock=3000)
    df = pd.read_csv(tmp_path / "results.csv")
    stopped = df[df.decision == "stop"]
    assert len(stopped) > 20
    # random search alone never stops a trial: every stop is the median rule, and a
    # stopped trial's best value was worse than the median of earlier trials at that epoch
    for row in stopped.head(40).itertuples():
        earlier = df[(df.epoch == row.epoch) & (df.time < row.time)]
        averages = [
            df[(df.trial_id == t) & (df.epoch <= row.epoch)].loss.mean()
            for t in earlier.trial_id
        ]
        best = df[(df.trial_id == row.trial_id) & (df.epoch <= row.epoch)].loss.min()
        assert best > np.median(averages)
