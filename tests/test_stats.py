"""simtune.analysis.stats, the stratified bootstrap and analysis.cd: small arrays, known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from simtune.analysis import stats
from simtune.analysis.aggregate import aggregate, bootstrap_ci, iqm, stratified_indices
from simtune.analysis.cd import critical_difference, plot_critical_difference


def test_holm_by_hand() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running
    # max 0.02, 0.03, 0.06, 0.06, back in the input order
    got = stats.holm(np.array([0.01, 0.04, 0.03, 0.005]))
    np.testing.assert_allclose(got, [0.03, 0.06, 0.06, 0.02])
    assert stats.holm(np.array([0.5, 0.9])).tolist() == [1.0, 1.0]  # capped at 1
    assert stats.holm(np.array([])).size == 0


def test_friedman_known_statistic() -> None:
    # 4 tasks, 3 schedulers ranked (1, 2, 3) on every task: rank sums 4, 8, 12 ->
    # 12 / (4 * 3 * 4) * (16 + 64 + 144) - 3 * 4 * 4 = 8, p = chi2.sf(8, 2) = exp(-4)
    scores = np.array([[0.1, 0.2, 0.3], [0.0, 0.5, 0.9], [0.2, 0.3, 0.4], [0.1, 0.15, 0.2]])
    got = stats.friedman(scores)
    assert got.statistic == pytest.approx(8.0) and got.p_value == pytest.approx(np.exp(-4))
    assert got.skipped == ""
    assert stats.friedman(scores[:2]).skipped == "n too small: 2 task(s), needs >= 3"
    assert stats.friedman(scores[:, :2]).skipped == "needs >= 3 schedulers, got 2"
    assert stats.friedman(np.ones((5, 3))).p_value == 1.0  # all tied


def test_pairwise_wilcoxon_holm_and_attainable() -> None:
    # 10 tasks: column 0 lower than 1 on every task, column 2 equal to column 1
    base = np.linspace(0.5, 0.6, 10)
    scores = np.stack([base - 0.1, base, base], axis=1)
    got = stats.pairwise(scores, [(0, 1), (0, 2), (1, 2)])
    # raw p: 2/2^10 twice (exact, all differences one way) and 1 (no difference)
    np.testing.assert_allclose(got, [3 * 2 / 2**10, 3 * 2 / 2**10, 1.0])
    assert stats.wilcoxon_p(base, base) == (1.0, 0)
    assert stats.min_p_wilcoxon(3) == 0.25 and stats.min_p_wilcoxon(6) == 2 / 64
    assert stats.attainable(2 / 64, 1) and not stats.attainable(2 / 64, 2)
    assert stats.min_p_mannwhitney(3, 3) == pytest.approx(0.1)  # 2 / C(6, 3)


def test_cliques_and_critical_difference() -> None:
    assert stats.cliques([0, 1, 2], set()) == [[0, 1, 2]]
    assert stats.cliques([0, 1, 2], {frozenset((0, 1)), frozenset((1, 2)),
                                     frozenset((0, 2))}) == []
    # 10 tasks; a < b on every task, c == b: a differs from both, b and c form a clique
    base = np.linspace(0.5, 0.6, 10)
    scores = pd.DataFrame({"b": base, "a": base - 0.1, "c": base})
    cd = critical_difference(scores)
    assert cd.names == ["a", "b", "c"]
    np.testing.assert_allclose(cd.ranks, [1.0, 2.5, 2.5])
    assert cd.cliques == [["b", "c"]] and cd.note == ""
    sig = cd.pairs.set_index(["a", "b"])["significant"]
    assert sig[("b", "a")] and sig[("a", "c")] and not sig[("b", "c")]
    with pytest.raises(ValueError, match="needs >= 3 tasks"):
        critical_difference(scores.iloc[:2])
    assert "n too small" in critical_difference(scores.iloc[:4]).note


def test_critical_difference_figure(tmp_path) -> None:
    rng = np.random.default_rng(0)
    scores = pd.DataFrame(rng.random((12, 15)), columns=[f"method_{i}" for i in range(15)])
    written = plot_critical_difference(critical_difference(scores), "title",
                                       tmp_path / "critical_difference")
    assert [p.name for p in written] == ["critical_difference.png", "critical_difference.pdf"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stratified_bootstrap_keeps_each_task_weight() -> None:
    # task A's runs are all 0, task B's all 1: a stratified resample always holds four
    # of each, so every resampled mean is exactly 0.5; unstratified ones are not
    x = np.array([0.0] * 4 + [1.0] * 4)[:, None]
    strata = np.array(["A"] * 4 + ["B"] * 4)
    lo, hi = bootstrap_ci(x, np.mean, np.random.default_rng(0), strata=strata)
    assert (lo[0], hi[0]) == (0.5, 0.5)
    lo, hi = bootstrap_ci(x, np.mean, np.random.default_rng(0))
    assert lo[0] < 0.3 and hi[0] > 0.7
    idx = stratified_indices(strata, 100, np.random.default_rng(1))
    assert idx.shape == (100, 8)
    assert np.isin(idx[:, :4], np.arange(4)).all() and np.isin(idx[:, 4:], np.arange(4, 8)).all()
    with pytest.raises(ValueError, match="one label per run"):
        bootstrap_ci(x, np.mean, np.random.default_rng(0), strata=strata[:3])


def test_stratified_bootstrap_matches_scipy() -> None:
    # scipy.stats.bootstrap resamples each sample of a multi-sample statistic on its
    # own: with one sample per task that is the stratified bootstrap of the pooled IQM
    rng = np.random.default_rng(7)
    tasks = [rng.normal(0.2, 0.05, 10), rng.normal(0.5, 0.1, 10), rng.normal(0.8, 0.02, 7)]
    x = np.concatenate(tasks)[:, None]
    strata = np.repeat([0, 1, 2], [10, 10, 7])
    lo, hi = bootstrap_ci(x, iqm, np.random.default_rng(0), n_boot=20_000, strata=strata)
    ref = sps.bootstrap(tasks, lambda *s: iqm(np.concatenate(s)), vectorized=False,
                        n_resamples=20_000, method="percentile", rng=np.random.default_rng(1))
    assert lo[0] == pytest.approx(ref.confidence_interval.low, abs=0.005)
    assert hi[0] == pytest.approx(ref.confidence_interval.high, abs=0.005)
    # and it is narrower than the unstratified interval over the same runs
    lo_u, hi_u = bootstrap_ci(x, iqm, np.random.default_rng(0), n_boot=20_000)
    assert hi[0] - lo[0] < hi_u[0] - lo_u[0]
    mid, lo_a, hi_a = aggregate(x, "iqm", np.random.default_rng(0), n_boot=20_000,
                                strata=strata)
    assert (lo_a[0], hi_a[0]) == (lo[0], hi[0]) and mid[0] == iqm(x)[0]


def test_per_task_mann_whitney() -> None:
    values = {"random": np.linspace(0.5, 0.6, 10), "a": np.linspace(0.1, 0.2, 10),
              "b": np.linspace(0.5, 0.6, 10)}
    got = stats.per_task(values, "random")
    # a is below every random seed: exact two-sided p = 2 / C(20, 10); Holm over 2
    assert got["a"] == (pytest.approx(2 * 2 / 184756), "<")
    assert got["b"][1] == ""
    few = {k: v[:3] for k, v in values.items()}
    assert stats.per_task(few, "random") == {"a": (pytest.approx(np.nan, nan_ok=True),
                                                   "n too small"),
                                             "b": (pytest.approx(np.nan, nan_ok=True),
                                                   "n too small")}
