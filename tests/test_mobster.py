from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from scipy.stats import norm

from simtune.blackboxes.synthetic import BraninCurves, branin
from simtune.core.schedulers import make_scheduler
from simtune.core.schedulers.bo import GPSearcher
from simtune.core.trial import Report, Start, Trial
from tests.helpers import context, simulate


def _make(name, **params):
    bb = BraninCurves(max_fidelity=27)
    return make_scheduler(name, context(bb, np.random.default_rng(0)), **params)


def test_mobster_is_asha_with_a_fidelity_aware_gp():
    m = _make("mobster")
    assert isinstance(m.searcher, GPSearcher) and m.searcher.fidelity_aware
    assert m.searcher.warp_outputs is True
    assert m.rung_levels == [1, 3, 9] and m.searcher._levels == {1, 3, 9, 27}
    assert m.metadata()["searcher"]["name"] == "bo"


@pytest.mark.parametrize("kind", ["stopping", "promotion"])
def test_rung_decisions_are_asha_s(kind):
    """Fed the same configs and reports, MOBSTER decides exactly as ASHA: the rung logic
    is shared, only the searcher differs."""
    asha, mobster = _make("asha", type=kind), _make("mobster", type=kind)
    rng = np.random.default_rng(3)
    for t in range(40):
        s1, s2 = asha.suggest(t), mobster.suggest(t)
        if not isinstance(s1, Start):
            assert s1 == s2  # the same paused trial is resumed
            continue
        assert isinstance(s2, Start)
        trial = Trial(t, {"x1": 0.0, "x2": 0.0})
        mobster.on_start(trial)
        asha.on_start(trial)
        for f in (1, 2, 3):
            report = Report(t, 0.0, f, {"loss": float(rng.uniform())})
            d1, d2 = asha.on_report(trial, report), mobster.on_report(trial, report)
            assert d1 == d2
            if d1.value != "continue":
                break


@pytest.mark.slow
def test_gp_suggestions_beat_random_draws(tmp_path):
    """After 5 random configurations, the GP's are near Branin's minima: the median
    Branin value of the last third is below 3 (random draws have a median near 25;
    observed 0.9-1.9 over seeds 0-2 with mobster.yaml's GP, 37-65 trials), while ASHA's
    random configs stay above 10."""
    for name, bound in [("mobster", lambda m: m < 3.0), ("asha", lambda m: m > 10.0)]:
        tuner = simulate(BraninCurves(max_fidelity=27), name, 0, tmp_path / name,
                         max_wallclock=250)
        values = [branin(t.config["x1"], t.config["x2"]) for t in tuner.trials.values()]
        assert len(values) > 20
        assert bound(np.median(values[-len(values) // 3:])), name


def _gp_targets(m, values):
    """Feed trial t the value values[t] + 1 at rung 1 and values[t] at rung 3; the GP's
    targets (per trial: rung 1, then rung 3)."""
    s = m.searcher
    for t, v in enumerate(values):
        s.on_start(t, {"x1": float(t % 5), "x2": float(t)})
        s.observe(t, 1, v + 1.0)
        s.observe(t, 3, v)
    return s._update_model().y


@pytest.mark.parametrize("source", ["class", "yaml"])
def test_a_diverged_run_does_not_set_the_gp_scale(source):
    """MOBSTER's GP fits normal scores of the values (as conf/scheduler/mobster.yaml and
    the class set): one diverged trial (loss 1000 among losses near 1) gets the largest
    normal scores and the others keep a spread of ~3 sd; on the raw scale it sits 3.6 sd
    above them and squeezes their 22 targets into 0.01 sd."""
    params = {}
    if source == "yaml":
        conf = Path(__file__).resolve().parents[1] / "conf" / "scheduler" / "mobster.yaml"
        params = OmegaConf.to_container(OmegaConf.load(conf), resolve=True)
        assert params.pop("name") == "mobster"
    values = [1.0 + 0.01 * t for t in range(11)] + [1000.0]
    y = _gp_targets(_make("mobster", **params), values)
    n = len(y)
    np.testing.assert_allclose(np.sort(y), norm.ppf((np.arange(n) + 0.5) / n))
    assert set(np.argsort(y)[-2:]) == {n - 2, n - 1} and y.max() < 2.1
    assert np.ptp(y[:-2]) > 2.5
    raw = _gp_targets(_make("mobster", searcher_args={"warp_outputs": False}), values)
    assert raw[-1] > 3.0 and np.ptp(raw[:-2]) < 0.01
