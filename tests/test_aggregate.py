"""analysis.aggregate and analysis.tables: IQM, bootstrap CI, regret scaling, ranks, tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simtune.analysis.aggregate import (
    aggregate,
    average_rank,
    bootstrap_ci,
    centre,
    iqm,
    normalized_regret,
    ranks,
    resample,
)
from simtune.analysis.tables import (
    BETTER,
    WORSE,
    compare_to_baseline,
    per_task_table,
    regret_table,
    to_latex,
    to_markdown,
)


def test_iqm_hand_computed() -> None:
    # n=8: drop 2 at each end -> mean(2, 3, 4, 5); the outlier 100 has no effect
    assert iqm(np.array([6.0, 0.0, 100.0, 1.0, 5.0, 2.0, 3.0, 4.0])) == pytest.approx(3.5)
    # n=5: floor(5/4) = 1 cut at each end -> mean(2, 3, 4)
    assert iqm(np.array([50.0, 1.0, 2.0, 3.0, 4.0])) == pytest.approx(3.0)
    # n=3: nothing cut -> the mean
    assert iqm(np.array([1.0, 2.0, 9.0])) == pytest.approx(4.0)
    # columns are independent: runs on axis 0
    x = np.array([[1.0, 10.0], [2.0, 40.0], [3.0, 20.0], [4.0, 30.0]])
    np.testing.assert_allclose(iqm(x), [2.5, 25.0])


def test_bootstrap_ci_two_point_sample() -> None:
    # resample means of [0, 1] are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4, so the
    # 2.5% and 97.5% quantiles of 4,000 resamples are 0 and 1
    x = np.array([[0.0], [1.0]])
    lo, hi = bootstrap_ci(x, np.mean, np.random.default_rng(0), n_boot=4000)
    assert (lo[0], hi[0]) == (0.0, 1.0)
    # an 40% interval lies strictly inside: the middle 40% of the resamples is all 0.5
    lo, hi = bootstrap_ci(x, np.mean, np.random.default_rng(0), n_boot=4000, level=0.4)
    assert (lo[0], hi[0]) == (0.5, 0.5)


def test_bootstrap_ci_constant_seeded_and_bounded() -> None:
    const = np.full((7, 3), 2.5)
    lo, hi = bootstrap_ci(const, iqm, np.random.default_rng(1))
    np.testing.assert_array_equal(lo, 2.5)
    np.testing.assert_array_equal(hi, 2.5)
    x = np.random.default_rng(3).normal(size=(12, 4))
    a = bootstrap_ci(x, iqm, np.random.default_rng(5))
    b = bootstrap_ci(x, iqm, np.random.default_rng(5))
    c = bootstrap_ci(x, iqm, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)  # same seed, same interval
    assert not np.array_equal(a, c)
    assert (a[0] <= iqm(x)).all() and (iqm(x) <= a[1]).all()
    assert (a[0] >= x.min(axis=0)).all() and (a[1] <= x.max(axis=0)).all()


def test_aggregate_mean_sem_and_median_quartiles() -> None:
    x = np.array([[1.0], [2.0], [3.0], [4.0]])
    mid, lo, hi = aggregate(x, "mean", np.random.default_rng(0))
    sem = np.std([1, 2, 3, 4], ddof=1) / 2  # 0.6455
    np.testing.assert_allclose([mid[0], lo[0], hi[0]], [2.5, 2.5 - sem, 2.5 + sem])
    mid, lo, hi = aggregate(np.array([[5.0], [1.0], [3.0], [2.0], [4.0]]), "median",
                            np.random.default_rng(0))
    assert (mid[0], lo[0], hi[0]) == (3.0, 2.0, 4.0)
    assert centre(x, "iqm")[0] == pytest.approx(2.5)
    with pytest.raises(ValueError, match="unknown aggregation 'mode'; choose one of iqm"):
        aggregate(x, "mode", np.random.default_rng(0))


def test_normalized_regret_values_and_bounds() -> None:
    got = normalized_regret(np.array([np.nan, 50.0, 75.0, 95.0, 99.0]), 95.0, 55.0, "max")
    np.testing.assert_allclose(got, [1.0, 1.0, 0.5, 0.0, 0.0])  # clipped at both ends
    got = normalized_regret(np.array([3.0, 2.0, 1.0]), 1.0, 3.0, "min")
    np.testing.assert_allclose(got, [1.0, 0.5, 0.0])
    best = np.random.default_rng(0).normal(size=1000) * 10
    best[::7] = np.nan
    got = normalized_regret(best, -5.0, 5.0, "min")
    assert ((got >= 0) & (got <= 1)).all()
    assert (got[::7] == 1.0).all()
    # reference equal to the optimum: every reported value is optimal
    np.testing.assert_array_equal(normalized_regret(np.array([np.nan, 1.0]), 1.0, 1.0, "min"),
                                  [1.0, 0.0])


def test_ranks_average_ties_and_absent_scheduler() -> None:
    got = ranks(np.array([[0.1, 0.5], [0.3, np.nan], [0.1, 0.2]]))
    np.testing.assert_array_equal(got[:, 0], [1.5, 3.0, 1.5])
    assert got[0, 1] == 2.0 and np.isnan(got[1, 1]) and got[2, 1] == 1.0
    # 3 schedulers x 2 tasks x 1 grid point: task ranks (1, 2.5, 2.5) and (3, 1, 2)
    scores = np.array([[[0.0], [0.9]], [[0.4], [0.1]], [[0.4], [0.5]]])
    np.testing.assert_allclose(average_rank(scores)[:, 0], [2.0, 1.75, 2.25])


def test_resample_step_function() -> None:
    times = np.array([1.0, 3.0, 3.0, 6.0])
    got = resample(times, np.array([10.0, 8.0, 7.0, 5.0]), np.array([0.5, 1.0, 3.0, 5.9, 9.0]))
    np.testing.assert_array_equal(got, [np.nan, 10.0, 7.0, 7.0, 5.0])


def _scores(columns: dict[str, list[float]]) -> pd.DataFrame:
    """tasks x schedulers scores, as tables.task_scores returns them."""
    n = len(next(iter(columns.values())))
    idx = pd.MultiIndex.from_tuples([("b", f"t{i}") for i in range(n)], names=["benchmark", "task"])
    return pd.DataFrame(columns, index=idx)


def test_against_baseline_over_tasks_with_holm() -> None:
    base = [0.5 + 0.01 * i for i in range(10)]
    scores = _scores({"random": base,
                      "good": [b - 0.1 - 0.001 * i for i, b in enumerate(base)],  # all lower
                      "bad": [b + 0.2 for b in base],  # all higher
                      "same": base})  # no difference at all
    got, note = compare_to_baseline(scores, "random")
    assert note == ""
    # exact test, all 10 differences one way: p = 2 / 2**10; Holm over 3 comparisons:
    # the two smallest p (equal) get 3p and 2p -> both max(3p, 2p) = 3p; "same" gets 1
    assert got["good"] == (pytest.approx(3 * 2 / 2**10), BETTER)
    assert got["bad"] == (pytest.approx(3 * 2 / 2**10), WORSE)
    assert got["same"] == (1.0, "")
    # three tasks can never give p < 0.05 (smallest exact two-sided p is 0.25)
    got, note = compare_to_baseline(scores.iloc[:3], "random")
    assert got == {} and note == "n too small: 3 task(s)"


def _at(offsets: dict[str, float], n_tasks: int, n_seeds: int) -> pd.DataFrame:
    rows = []
    for sched, offset in offsets.items():
        for t in range(n_tasks):
            for seed in range(n_seeds):
                for frac in (0.5, 1.0):
                    rows.append({"benchmark": "b", "task": f"t{t}", "scheduler": sched,
                                 "seed": seed, "fraction": frac,
                                 "norm_regret": offset + 0.01 * seed + 0.02 * t})
    return pd.DataFrame(rows)


def test_regret_table_markdown_and_latex() -> None:
    at = _at({"random": 0.5, "my_bo": 0.1}, n_tasks=10, n_seeds=3)
    table, tests = regret_table(at, "mean", "random", np.random.default_rng(0))
    row = table[(table.scheduler == "my_bo") & (table.fraction == 1.0)].iloc[0]
    # mean over tasks 0..9 and seeds 0..2 of 0.1 + 0.01 seed + 0.02 task = 0.1 + 0.01 + 0.09
    assert row.value == pytest.approx(0.2) and row.marker == BETTER
    assert (row.n_runs, row.n_tasks) == (30, 10)
    assert row.p_value == pytest.approx(2 / 2**10)  # one comparison: Holm changes nothing
    assert tests.set_index("fraction").loc[1.0, "n_tasks"] == 10
    assert tests["friedman_note"].tolist() == ["needs >= 3 schedulers, got 2"] * 2
    md = to_markdown(table, tests, "random", "note")
    assert "| scheduler | 50% budget | 100% budget |" in md
    assert f"| my_bo | **0.200**{BETTER} [" in md
    assert "| random | 0.600 [" in md
    assert "| *vs random* | Wilcoxon-Holm over 10 tasks |" in md
    tex = to_latex(table, tests, "random", "x < 1 at 50%")
    assert r"my\_bo & \textbf{0.200}$^{*}$" in tex
    assert r"\caption{x $<$ 1 at 50\%}" in tex


def test_regret_table_says_n_too_small_with_three_tasks() -> None:
    at = _at({"random": 0.5, "a": 0.1, "b": 0.3}, n_tasks=3, n_seeds=4)
    table, tests = regret_table(at, "iqm", "random", np.random.default_rng(0))
    assert (table["marker"] == "").all() and table["p_value"].isna().all()
    md = to_markdown(table, tests, "random", "note")
    assert "| *vs random* | n too small: 3 task(s) | n too small: 3 task(s) |" in md
    # Friedman still runs on 3 tasks x 3 schedulers: ranks (1, 2, 3) in every task
    # -> chi2 = 12 / (3 * 3 * 4) * (3^2 + 6^2 + 9^2) - 3 * 3 * 4 = 6, p = exp(-3)
    assert tests["friedman_statistic"].tolist() == [pytest.approx(6.0)] * 2
    assert tests["friedman_p"].tolist() == [pytest.approx(np.exp(-3))] * 2


def test_per_task_table_seeds_as_units() -> None:
    at = _at({"random": 0.5, "a": 0.1}, n_tasks=2, n_seeds=10)
    md = per_task_table(at, "iqm", "random")
    assert "### 50% of the budget" in md and "### 100% of the budget" in md
    assert md.count("| scheduler | b/t0 | b/t1 |") == 2
    # IQM of 0.1 + 0.01 * seed over seeds 2..7 (n=10 cuts 2 each end) = 0.145 on task 0
    assert "| a | 0.145< | 0.165< |" in md and "| random | 0.545 | 0.565 |" in md
    few = per_task_table(_at({"random": 0.5, "a": 0.1}, n_tasks=1, n_seeds=3), "iqm", "random")
    assert "b/t0 (n too small)" in few and "| a | 0.110 |" in few
