import numpy as np
import pytest

from core.schedulers.asha import ASHA, continues, rung_levels
from core.space import Space, uniform
from core.trial import Decision, Report, Trial


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
        space=space,
        metric="loss",
        mode=mode,
        fidelities=list(range(1, 28)),
        rng=np.random.default_rng(0),
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
    with pytest.raises(ValueError, match="eta must be > 1"):
        _asha(eta=1)
