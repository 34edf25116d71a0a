"""PBT: population based training (Jaderberg et al., 2017), asynchronous."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from simtune.core.encoding import encode
from simtune.core.schedulers.base import (
    Scheduler,
    check_count,
    check_mode,
    check_range,
    metric_value,
    mode_sign,
)
from simtune.core.schedulers.pool import CandidatePool
from simtune.core.schedulers.rungs import to_loss
from simtune.core.schedulers.searcher import Searcher
from simtune.core.space import Domain, LogRandInt, LogUniform, Ordinal, RandInt, Space, Uniform
from simtune.core.trial import Decision, Report, Start, Suggestion, Trial

_NUMERIC = (Uniform, LogUniform, RandInt, LogRandInt)
_EXPLORE_TRIES = 100  # forbidden explore steps before PBT keeps the source's config


class PBT(Scheduler):
    """At every `perturbation_interval` of fidelity, a trial is ranked among the last
    `population_size` trials that reached the same fidelity. One in the bottom
    `quantile_fraction` is stopped (exploit) and replaced by a new trial that starts from
    the checkpoint of a random top-quantile trial, on that trial's config perturbed by
    `explore` (explore); the interval defaults to max_resource // 9 (at least 1). When no
    replacement is queued, a free worker starts the config `searcher` suggests
    (core.schedulers.create gives it random search with duplicates allowed). On a table
    (`candidates`) or a small finite space, perturbed configs snap to the nearest
    configuration. A perturbed config is never forbidden.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> PBT(searcher=RandomSearcher(space, rng=rng, allow_duplicates=True), space=space,
        ...     metric="loss", mode="min", fidelities=list(range(1, 82)), rng=rng,
        ...     perturbation_interval=9)
    """

    name = "pbt"
    multi_fidelity = True  # ranks trials every perturbation_interval

    def __init__(
        self,
        *,
        searcher: Searcher,
        space: Space,
        metric: str,
        mode: str,
        fidelities: Sequence[int],
        rng: np.random.Generator,
        population_size: int = 8,
        perturbation_interval: int | None = None,
        quantile_fraction: float = 0.25,
        resample_probability: float = 0.25,
        max_resource: int | None = None,
        candidates: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        fidelities = sorted(int(f) for f in fidelities)
        if not fidelities:
            raise ValueError("pbt: the benchmark has no fidelities")
        top = fidelities[-1] if max_resource is None else int(max_resource)
        interval = max(1, top // 9) if perturbation_interval is None else perturbation_interval
        population = check_count("pbt", "population_size", population_size)
        interval = check_count("pbt", "perturbation_interval", interval)
        check_range("pbt", "quantile_fraction", quantile_fraction, 0, 0.5, closed="high")
        check_range("pbt", "resample_probability", resample_probability, 0, 1)
        if population < math.ceil(1 / quantile_fraction):
            raise ValueError(
                f"pbt: population_size {population_size} is too small to hold quantiles of "
                f"{quantile_fraction}; use at least {math.ceil(1 / quantile_fraction)}"
            )
        self.space = space
        self.metric = metric
        self.mode = check_mode(mode)
        self.rng = rng
        self.population_size = population_size
        self.perturbation_interval = perturbation_interval
        self.quantile_fraction = quantile_fraction
        self.resample_probability = resample_probability
        self.max_resource = max_resource
        self.searcher = searcher
        # derived: the population and interval as ints, the maximum resource
        self._population, self._interval, self._top = population, interval, top
        self._pool = CandidatePool(space, candidates)
        self._sign = mode_sign(mode)
        self._configs: dict[int, dict[str, Any]] = {}
        self._scores: dict[int, dict[int, float]] = {}  # fidelity -> trial id -> loss
        self._queue: list[Start] = []
        self.n_exploits = 0

    def suggest(self, trial_id: int) -> Suggestion | None:
        if self._queue:
            return self._queue.pop(0)
        config = self.searcher.suggest()
        return None if config is None else Start(config)

    def on_start(self, trial: Trial) -> None:
        self._configs[trial.trial_id] = trial.config

    def on_report(self, trial: Trial, report: Report) -> Decision:
        value = metric_value("pbt", self.metric, trial, report)
        if report.last:
            return Decision.CONTINUE
        if report.fidelity >= self._top:
            return Decision.STOP
        if report.fidelity % self._interval:
            return Decision.CONTINUE
        scores = self._scores.setdefault(report.fidelity, {})
        scores[trial.trial_id] = to_loss(value, self._sign)
        population = dict(list(scores.items())[-self._population :])
        bottom, top = quantiles(population, self.quantile_fraction)
        if trial.trial_id not in bottom:
            return Decision.CONTINUE
        source = top[int(self.rng.integers(len(top)))]
        config = self._explore(self._configs[source])
        if self._pool.finite is not None:
            config = self._pool.nearest(encode(self.space, config))
        self._queue.append(Start(config, checkpoint_of=source))
        self.n_exploits += 1
        return Decision.STOP

    def _explore(self, config: dict[str, Any]) -> dict[str, Any]:
        """`explore` of `config`, never a forbidden one (explored again; `config` itself
        after _EXPLORE_TRIES forbidden ones)."""
        for _ in range(_EXPLORE_TRIES):
            out = explore(config, self.space, self.rng, self.resample_probability)
            if not self.space.is_forbidden(out):
                return out
        return dict(config)

    def on_error(self, trial: Trial) -> None:
        for scores in self._scores.values():
            scores.pop(trial.trial_id, None)  # a failed trial has no checkpoint to copy
        self._queue = [s for s in self._queue if s.checkpoint_of != trial.trial_id]


def quantiles(scores: dict[int, float], fraction: float) -> tuple[list[int], list[int]]:
    """(bottom, top): the trials of the worst and of the best floor(fraction * n) losses,
    ties by trial id; both empty while n < 1 / fraction."""
    n = len(scores)
    if n < math.ceil(1 / fraction):
        return [], []
    k = max(1, int(fraction * n))
    ranked = sorted(scores, key=lambda t: (scores[t], t))
    return ranked[-k:], ranked[:k]


def explore(
    config: dict[str, Any], space: Space, rng: np.random.Generator, resample_probability: float
) -> dict[str, Any]:
    """PBT's explore step: each hyperparameter is redrawn from its domain with probability
    `resample_probability`; otherwise a number is multiplied by 0.8 or 1.2 (clipped to its
    bounds, rounded if integer), an ordinal moves one step, a category is kept. On a
    conditional space only `config`'s (active) hyperparameters change; a parent's new
    value activates children drawn from `rng` and deactivates others (`Space.complete`)."""
    out = dict(config)
    for name, domain in space.tunable.items():
        if name not in config and space.conditions:
            continue
        if rng.uniform() < resample_probability:
            out[name] = domain.sample(rng, 1)[0]
        else:
            out[name] = perturb(config[name], domain, rng)
    return space.complete(out, rng) if space.conditions else out


def perturb(value: Any, domain: Domain, rng: np.random.Generator) -> Any:
    """One hyperparameter's perturbation (see `explore`)."""
    if isinstance(domain, _NUMERIC):
        x = min(max(value * (0.8 if rng.uniform() < 0.5 else 1.2), domain.low), domain.high)
        return int(round(x)) if domain.integer else float(x)
    if isinstance(domain, Ordinal):
        n = len(domain.categories)
        i = min(max(domain.index(value) + (1 if rng.uniform() < 0.5 else -1), 0), n - 1)
        return domain.categories[i]
    return value
