import numpy as np
import pandas as pd
import pytest

from simtune.blackboxes.synthetic import BraninCurves
from simtune.core.schedulers.pbt import PBT, explore, perturb, quantiles
from simtune.core.schedulers.random import RandomSearcher
from simtune.core.space import Space, choice, loguniform, ordinal, randint, uniform
from simtune.core.trial import Decision, Report, Start, Trial
from tests.helpers import simulate


def test_quantiles_split_bottom_and_top():
    scores = {t: float(t) for t in range(10)}  # trial t has loss t
    assert quantiles(scores, 0.25) == ([8, 9], [0, 1])
    assert quantiles({1: 0.3, 2: 0.1, 3: 0.2, 4: 0.4}, 0.25) == ([4], [2])
    assert quantiles({1: 0.3, 2: 0.1, 3: 0.2}, 0.25) == ([], [])  # fewer than 1 / 0.25


SPACE = Space({
    "lr": loguniform(1e-4, 1.0), "x": uniform(-5.0, 10.0), "n": randint(1, 100),
    "opt": choice(["sgd", "adam", "rmsprop"]), "size": ordinal([8, 16, 32, 64]), "c": 7,
})


def test_explore_multiplies_numbers_and_keeps_categories():
    rng = np.random.default_rng(0)
    config = {"lr": 0.01, "x": 2.0, "n": 50, "opt": "adam", "size": 16, "c": 7}
    for _ in range(200):
        new = explore(config, SPACE, rng, resample_probability=0.0)
        SPACE.validate(new)
        assert new["lr"] in (pytest.approx(0.008), pytest.approx(0.012))
        assert new["x"] in (pytest.approx(1.6), pytest.approx(2.4))
        assert new["n"] in (40, 60)
        assert new["opt"] == "adam" and new["size"] in (8, 32) and new["c"] == 7


def test_perturb_clips_to_bounds():
    rng = np.random.default_rng(1)
    assert {perturb(1.0, SPACE["lr"], rng) for _ in range(50)} == {0.8, 1.0}
    assert {perturb(10.0, SPACE["x"], rng) for _ in range(50)} == {8.0, 10.0}
    assert {perturb(100, SPACE["n"], rng) for _ in range(50)} == {80, 100}
    assert {perturb(64, SPACE["size"], rng) for _ in range(50)} == {32, 64}


def test_explore_resamples_with_its_probability():
    rng = np.random.default_rng(2)
    config = {"lr": 0.01, "x": 2.0, "n": 50, "opt": "adam", "size": 16, "c": 7}
    changed = [explore(config, SPACE, rng, resample_probability=0.5)["opt"] != "adam"
               for _ in range(2000)]
    # resampled half the time, and then a different category 2 times in 3: 1/3
    assert abs(np.mean(changed) - 1 / 3) < 0.04


def _new(space, **kw):
    rng = np.random.default_rng(0)
    return PBT(searcher=RandomSearcher(space, rng=rng, allow_duplicates=True), space=space,
               metric="loss", mode="min", rng=rng, **kw)


def _pbt(**kw):
    return _new(Space({"x": uniform(0.0, 10.0)}), fidelities=list(range(1, 10)),
                population_size=4, perturbation_interval=3, **kw)


def test_exploit_stops_the_worst_and_copies_a_top_checkpoint():
    pbt = _pbt(resample_probability=0.0)
    for t, x in enumerate([1.0, 2.0, 3.0, 4.0]):
        pbt.on_start(Trial(t, {"x": x}))
    report = lambda t, f, y: pbt.on_report(Trial(t, {}), Report(t, 0.0, f, {"loss": y}))  # noqa: E731
    assert report(0, 2, 9.0) == Decision.CONTINUE  # not a perturbation point
    for t, y in [(0, 0.1), (1, 0.2), (2, 0.3)]:
        assert report(t, 3, y) == Decision.CONTINUE  # fewer than 4 ranked at epoch 3
    assert report(3, 3, 0.9) == Decision.STOP  # the worst of 4: bottom quarter
    s = pbt.suggest(4)
    assert isinstance(s, Start) and s.checkpoint_of == 0  # the top quarter is trial 0
    assert s.config["x"] in (pytest.approx(0.8), pytest.approx(1.2))  # explored from x=1
    assert isinstance(pbt.suggest(5), Start) and pbt.suggest(5).checkpoint_of is None


def test_population_too_small():
    with pytest.raises(ValueError, match="population_size 2 is too small"):
        _new(Space({"x": uniform(0, 1)}), fidelities=[1, 2], population_size=2)


@pytest.mark.slow
def test_end_to_end_new_trials_continue_from_the_checkpoint(tmp_path):
    tuner = simulate(BraninCurves(), "pbt", 0, tmp_path, max_wallclock=4000)
    df = pd.read_csv(tmp_path / "results.csv")
    first = df.groupby("trial_id").epoch.min()
    copies = {t: tr.checkpoint_of for t, tr in tuner.trials.items()
              if tr.checkpoint_of is not None}
    assert len(copies) > 10
    for trial_id, source in copies.items():
        # the copy starts where its source had trained to (its latest checkpoint), which
        # is at or after the perturbation point where the copy was decided
        start = first[trial_id]
        t0 = df[df.trial_id == trial_id].time.min()
        assert start - 1 >= 9
        src = df[(df.trial_id == source) & (df.epoch == start - 1)]
        assert len(src) == 1 and src.time.iloc[0] < t0
        copy, original = tuner.trials[trial_id].config, tuner.trials[source].config
        assert copy != original
    fresh = [t for t in tuner.trials if t not in copies and t in first.index]
    assert (first[fresh] == 1).all()
    stops = df[df.decision == "stop"]
    assert set(stops.epoch) <= {9, 18, 27, 36, 45, 54, 63, 72, 81}
