import numpy as np
import pytest

from simtune.blackboxes.synthetic import BraninCurves
from simtune.core.schedulers.hyperband import Hyperband
from simtune.core.schedulers.random import RandomSearcher
from simtune.core.schedulers.rungs import bracket_probabilities, bracket_sizes
from simtune.core.space import Space, uniform
from simtune.core.trial import Start
from tests.helpers import reports, simulate

# Li et al. (2018), Table 1: R = 81, eta = 3; (n_i, r_i) per bracket s = 4..0
LI_TABLE_1 = [
    [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
    [(34, 3), (11, 9), (3, 27), (1, 81)],
    [(15, 9), (5, 27), (1, 81)],
    [(8, 27), (2, 81)],
    [(5, 81)],
]


def test_bracket_sizes_match_li_et_al_table_1():
    levels = [1, 3, 9, 27, 81]
    sizes = bracket_sizes(4, 3)
    table = [list(zip(n, levels[len(levels) - len(n):], strict=True)) for n in sizes]
    assert table == LI_TABLE_1


def test_bracket_sizes_other_eta():
    # eta = 2, R = 8 (s_max = 3): n = ceil(4 / (s + 1) * 2^s) -> 8, 6, 4, 4
    assert bracket_sizes(3, 2) == [[8, 4, 2, 1], [6, 3, 1], [4, 2], [4]]


def test_bracket_probabilities_proportional_to_first_rung():
    p = bracket_probabilities(4, 3)
    np.testing.assert_allclose(p, np.array([81, 34, 15, 8, 5]) / 143)


def _hb(**kw):
    rng = np.random.default_rng(0)
    return Hyperband(searcher=RandomSearcher(Space({"x": uniform(0, 1)}), rng=rng),
                     metric="loss", mode="min", fidelities=list(range(1, 82)), rng=rng, **kw)


def test_each_bracket_is_a_rung_system_with_its_own_grace_period():
    hb = _hb()
    assert [b.levels for b in hb.rung_systems] == [[1, 3, 9, 27], [3, 9, 27], [9, 27], [27], []]
    assert [b.levels for b in _hb(brackets=2).rung_systems] == [[1, 3, 9, 27], [3, 9, 27]]


def test_brackets_drawn_with_the_hyperband_distribution():
    hb = _hb()
    n = 6000
    for t in range(n):
        assert isinstance(hb.suggest(t), Start)
    counts = np.bincount(list(hb._bracket_of.values()), minlength=5) / n
    # binomial standard error at n=6000 is at most 0.0065; allow 4 of them
    np.testing.assert_allclose(counts, bracket_probabilities(4, 3), atol=0.026)


def test_bad_brackets():
    with pytest.raises(ValueError, match="brackets must be a positive integer"):
        _hb(brackets=0)


@pytest.mark.slow
def test_trials_pause_only_at_their_bracket_rungs(tmp_path):
    tuner = simulate(BraninCurves(), "hyperband", 0, tmp_path, max_wallclock=4000)
    df = reports(tmp_path / "results.csv")
    bracket_of = tuner.scheduler._bracket_of
    pauses = df[df.decision == "pause"]
    firsts = pauses.groupby("trial_id").epoch.min()
    assert len(firsts) > 50
    levels = [1, 3, 9, 27]
    for row in pauses.itertuples():  # pauses only at the rung levels of the trial's bracket
        assert row.epoch in levels[bracket_of[row.trial_id]:]
    # and every bracket with rungs had trials pausing at its grace period
    assert {bracket_of[t] for t, e in firsts.items() if e == levels[bracket_of[t]]} == {0, 1, 2, 3}
    # the top bracket has no rung: its trials never pause
    top = [t for t, b in bracket_of.items() if b == 4]
    assert top and not set(top) & set(firsts.index)
    for _, rows in df.groupby("trial_id"):
        assert (np.diff(rows.epoch.to_numpy()) == 1).all()
