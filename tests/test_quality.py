"""Quality: on closed-form benchmarks with a known optimum, every method beats random search.

Each method runs with its conf/scheduler/<name>.yaml defaults, 4 workers, a fixed
budget of 600 s of virtual time and 10 seeds, on Branin and Hartmann-6 with 9-epoch
learning curves (blackboxes/synthetic.py). An epoch takes 1-4 s, so the budget buys
random search about 100 full trials, a usual small HPO budget; 9 epochs (rungs 1, 3)
keep the number of trials of the multi-fidelity methods, and so their model costs, low.
Regret at time t = best value reported by t (at any fidelity) minus the known optimum;
the curves lie above their final value, so an early report never looks better than the
function itself.

(a) Model-based methods: the median final regret is below random search's, and a
    one-sided Mann-Whitney U test over the 10 + 10 seeds rejects "not better" at
    p < 0.05. With 10 seeds per side, p < 0.05 needs the two samples to be clearly
    separated (U <= 27 of 100 pairs), so noise between seeds cannot pass it.
(b) Multi-fidelity methods: random search reaches its own median final regret only at
    the end of the budget (by definition, half of its seeds never do). A method passes
    if the median over seeds of the virtual time at which it first reaches that regret
    is at most 75% of the budget, i.e. it saves at least a quarter of the time. Seeds
    that never reach it count as infinitely slow.

Only registered names get a test; none is skipped.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from scipy.stats import mannwhitneyu

from simtune.blackboxes.synthetic import BraninCurves, hartmann6_curves
from simtune.core.backends.simulated import SimulatedBackend
from simtune.core.schedulers import SCHEDULERS, make_scheduler
from simtune.core.seeds import run_rngs
from simtune.core.stopping import StoppingCriterion
from simtune.core.tuner import Tuner
from tests.helpers import context

CONF = Path(__file__).resolve().parents[1] / "conf" / "scheduler"
SEEDS = range(10)
N_WORKERS = 4
PROCESSES = 2  # the machine's cores: CI runs the suite on 2
BENCHMARKS = {  # name -> (blackbox factory, budget in virtual seconds)
    "branin": (lambda: BraninCurves(max_fidelity=9), 600.0),
    "hartmann6": (lambda: hartmann6_curves(max_fidelity=9), 600.0),
}
MODEL_BASED = ["bo", "tpe", "rea", "bohb", "mobster", "dehb"]
MULTI_FIDELITY = [
    "asha",
    "hyperband",
    "sync_hyperband",
    "sync_sh",
    "bohb",
    "mobster",
    "dehb",
    "pasha",
    "pbt",
    "median_stopping",
    "moasha",
]
REACH_FRACTION = 0.75  # (b): reach random's median final regret within 75% of the budget


class _Trace:
    """Stands in for the ResultsWriter: keeps (time, value) of every report, no files."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.times: list[float] = []
        self.values: list[float] = []

    def write(self, trial_id, time, fidelity, metrics, decision, status, config) -> None:
        value = metrics.get(self.metric)
        if value is not None and value == value:
            self.times.append(time)
            self.values.append(value)

    def close(self, **_) -> None:
        pass


def defaults(name: str) -> dict:
    """The parameters of conf/scheduler/<name>.yaml, as experiments/run.py passes them."""
    params = OmegaConf.to_container(OmegaConf.load(CONF / f"{name}.yaml"), resolve=True)
    params.pop("name")
    return params


def seed_curve(name: str, benchmark: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One seed: (times of the reports, best-so-far regret after each), up to the budget."""
    factory, budget = BENCHMARKS[benchmark]
    bb = factory()
    rng_s, rng_b = run_rngs(seed)
    ctx = context(bb, rng_s)
    trace = _Trace(ctx["metric"])
    Tuner(
        scheduler=make_scheduler(name, ctx, **defaults(name)),
        backend=SimulatedBackend(bb, rng=rng_b),
        stop=StoppingCriterion(max_wallclock=budget),
        n_workers=N_WORKERS,
        results=trace,  # type: ignore[arg-type]
        progress=False,
    ).run()
    assert trace.values, f"{name} reported nothing on {benchmark} (seed {seed})"
    regret = np.minimum.accumulate(np.asarray(trace.values)) - bb.optimum[ctx["metric"]]
    assert regret.min() >= -1e-9, "regret below 0: the optimum is wrong"
    return np.asarray(trace.times), regret


_POOL: list[ProcessPoolExecutor] = []  # the module's worker processes, while its tests run


@pytest.fixture(scope="module", autouse=True)
def _seed_processes():
    """The seeds of a method run in PROCESSES processes of their own (each run depends
    on its seed alone: the same curves as one after the other, in a fraction of the time)."""
    with ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn")) as pool:
        _POOL.append(pool)
        yield
        _POOL.remove(pool)


@cache
def regret_curves(name: str, benchmark: str) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Per seed: (times of the reports, best-so-far regret after each), up to the budget."""
    n = len(SEEDS)
    return tuple(_POOL[0].map(seed_curve, [name] * n, [benchmark] * n, SEEDS))


def final_regrets(name: str, benchmark: str) -> np.ndarray:
    return np.array([r[-1] for _, r in regret_curves(name, benchmark)])


def reach_times(name: str, benchmark: str, target: float) -> np.ndarray:
    """Per seed, the first virtual time the regret is <= target (inf if never)."""
    out = []
    for times, regret in regret_curves(name, benchmark):
        hit = np.flatnonzero(regret <= target)
        out.append(times[hit[0]] if hit.size else np.inf)
    return np.array(out)


def _cases(names: list[str]) -> list[tuple[str, str]]:
    return [(n, b) for n in names if n in SCHEDULERS for b in BENCHMARKS]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "benchmark"), _cases(MODEL_BASED))
def test_model_based_beats_random_regret(name, benchmark):
    ours, random = final_regrets(name, benchmark), final_regrets("random", benchmark)
    p = mannwhitneyu(ours, random, alternative="less").pvalue
    assert np.median(ours) < np.median(random) and p < 0.05, (
        f"{name} on {benchmark}: median regret {np.median(ours):.4g} vs random "
        f"{np.median(random):.4g}, Mann-Whitney p = {p:.3g} (need < 0.05)"
    )


@pytest.mark.slow
@pytest.mark.parametrize(("name", "benchmark"), _cases(MULTI_FIDELITY))
def test_multi_fidelity_reaches_random_regret_sooner(name, benchmark):
    budget = BENCHMARKS[benchmark][1]
    target = float(np.median(final_regrets("random", benchmark)))
    ours = np.median(reach_times(name, benchmark, target))
    assert ours <= REACH_FRACTION * budget, (
        f"{name} on {benchmark}: reaches random's median final regret {target:.4g} after "
        f"{ours:.0f} s (median over seeds); random needs the whole budget of {budget:.0f} s; "
        f"need <= {REACH_FRACTION * budget:.0f} s"
    )


@pytest.mark.slow
def test_random_baseline_is_not_trivial():
    """Random search must leave room to beat it: its median regret is clearly above 0."""
    for benchmark in BENCHMARKS:
        assert np.median(final_regrets("random", benchmark)) > 0.05
