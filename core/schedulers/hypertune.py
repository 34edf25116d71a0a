"""Hyper-Tune (Li et al., VLDB 2022): one GP per rung level, ensembled by ranking loss.

The HyperTuneSearcher keeps the values a trial reported at each rung level and fits an
independent GP to each level (its own Matérn-5/2 hyperparameters once it has
`min_points` values, the lowest level's before; each level's values turned into normal
scores on their own). Its proposals maximise expected improvement under the
ensemble predictive distribution: mean sum_r theta_r mu_r(x), variance
sum_r theta_r^2 sigma_r^2(x). The weights theta come from ranking losses on the highest
level with `min_points` values: the fraction of that level's pairs of trials a posterior
sample of level r's GP orders wrongly (r below it: its GP conditioned on all of level r;
the level itself: by cross-validation, up to 5 folds of at least 2 points), for
`n_samples` joint samples; theta_r is the share of samples in which level r's loss is the
least. Until a second level has `min_points` values, theta is all on the lowest level.

`hypertune` is ASHA with this searcher (conf/scheduler/hypertune.yaml);
`hypertune_hyperband` is asynchronous Hyperband whose bracket k (starting at level r_k)
is drawn with probability proportional to theta_k / r_k over the brackets whose starting
level is weighted, the others keeping the default Hyperband probabilities (as Syne Tune).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.linalg import cholesky

from simtune.core.encoding import Coords, decode, encode
from simtune.core.schedulers.acquisition import Acquisition, maximize, maximize_on_table
from simtune.core.schedulers.base import check_count
from simtune.core.schedulers.gp import GP, Hyperparameters, fit_hyperparameters, matern52
from simtune.core.schedulers.gp_data import standardize, subsample
from simtune.core.schedulers.hyperband import Hyperband
from simtune.core.schedulers.searcher import ModelSearcher, nan_as_worst
from simtune.core.space import Space


class HyperTuneSearcher(ModelSearcher):
    """Hyper-Tune's model: independent GPs per rung level, ensembled with rung weights
    learned from ranking losses (module docstring). Plugs into ASHA (`hypertune`) and
    Hyperband (`hypertune_hyperband`), which tell it the rung levels.

    Example:
        >>> s = HyperTuneSearcher(space, mode="max", rng=np.random.default_rng(0))
        >>> s.set_fidelities([1, 3, 9, 27], list(range(1, 28)))
        >>> config = s.suggest(); s.on_start(0, config); s.observe(0, 1, 0.3)
    """

    name = "hypertune"

    def __init__(
        self,
        space: Space,
        *,
        mode: str,
        rng: np.random.Generator,
        candidates: Sequence[dict[str, Any]] | None = None,
        n_init: int = 5,
        n_samples: int = 50,
        min_points: int = 6,
        n_candidates: int = 256,
        n_local: int = 3,
        refit_every: int = 20,
        max_observations: int = 200,
        max_fit_points: int = 150,
        n_restarts: int = 2,
        initial_design: str = "random",
    ) -> None:
        n_init, n_samples, n_candidates, refit_every, max_observations, max_fit_points = (
            check_count(self.name, arg, value)
            for arg, value in [
                ("n_init", n_init), ("n_samples", n_samples), ("n_candidates", n_candidates),
                ("refit_every", refit_every), ("max_observations", max_observations),
                ("max_fit_points", max_fit_points),
            ]
        )
        if isinstance(min_points, bool) or not isinstance(min_points, int) or min_points < 4:
            raise ValueError(f"{self.name}: min_points must be an integer >= 4 (two folds of "
                             f"2 for cross-validation), got {min_points!r}")
        super().__init__(space, mode=mode, rng=rng, candidates=candidates, n_startup=n_init,
                         initial_design=initial_design, max_repeats=0)
        self.n_init, self.n_samples, self.min_points = n_init, n_samples, min_points
        self.n_candidates, self.n_local, self.refit_every = n_candidates, n_local, refit_every
        self.max_observations, self.max_fit_points = max_observations, max_fit_points
        self.n_restarts = n_restarts
        self._coords = Coords(space)
        self.levels: list[int] | None = None  # set_fidelities: rung levels and the maximum
        self._y: dict[int, dict[int, float]] = {}  # level -> trial id -> value to minimize
        self._pending: set[int] = set()  # started, nothing reported yet
        self._hp: dict[int, Hyperparameters] = {}  # level -> its GP hyperparameters
        self._n_at_fit = self._n_at_restart = 0
        self.weights: dict[int, float] = {}  # level -> theta (ensemble weights)
        self._signature: tuple[int, int] | None = None  # (levels used, points at the top)

    # --- the model (ModelSearcher does the rest) --------------------------------------
    def encode(self, config: dict[str, Any]) -> np.ndarray:
        return encode(self.space, config)

    def in_startup(self) -> bool:
        lowest = self._y.get(min(self._y)) if self._y else None
        return self.n_suggested + self.n_inherited <= self.n_init or not lowest or len(lowest) < 2

    def set_fidelities(self, levels: Sequence[int], fidelities: Sequence[int]) -> None:
        """Model the reports at `levels` (the rung levels, then the maximum resource)."""
        self.levels = sorted({int(r) for r in levels})

    def on_start(self, trial_id: int, config: dict[str, Any]) -> None:
        super().on_start(trial_id, config)
        if not any(trial_id in ys for ys in self._y.values()):
            self._pending.add(trial_id)

    def add(self, trial_id: int, fidelity: int, y: float) -> None:
        self._pending.discard(trial_id)
        if self.levels is None or fidelity in self.levels:
            self._y.setdefault(fidelity, {})[trial_id] = y

    def on_end(self, trial_id: int) -> None:
        self._pending.discard(trial_id)

    def derived(self) -> dict[str, Any]:
        return {"rung_levels": self.levels} if self.levels is not None else {}

    # --- internals --------------------------------------------------------------------
    def _data(self, level: int) -> tuple[list[int], np.ndarray, np.ndarray]:
        """Level `level`'s trials (at most max_observations: the best half and a random
        half), their encoded configs and their values as normal scores."""
        trials = sorted(self._y[level])
        raw = nan_as_worst([self._y[level][t] for t in trials])
        rows = subsample(list(range(len(trials))), raw, self.max_observations, self.rng)
        trials = [trials[i] for i in rows]
        x = np.asarray([self.x_of[t] for t in trials])
        return trials, x, standardize(raw[rows], 0.0, 1.0, True, False)

    def _models(self) -> dict[int, tuple[list[int], GP]]:
        """Per level with at least 2 values: its trials and its GP. The hyperparameters of
        each level with `min_points` values are its own (refit every `refit_every` values,
        warm-started; random restarts whenever the data has doubled); a level with fewer
        borrows the lowest level's."""
        levels = sorted(r for r, ys in self._y.items() if len(ys) >= 2)
        data = {r: self._data(r) for r in levels}
        n = sum(len(ys) for ys in self._y.values())
        due = not self._hp or n - self._n_at_fit >= min(self.refit_every,
                                                         max(1, self._n_at_fit // 5))
        if due:
            full = not self._hp or n >= 2 * self._n_at_restart
            if full:
                self._n_at_restart = n
            for r in levels:
                if r == levels[0] or len(self._y[r]) >= self.min_points:
                    _, x, y = data[r]
                    fit = subsample(list(range(len(y))), y, self.max_fit_points, self.rng)
                    self._hp[r] = fit_hyperparameters(
                        x[fit], y[fit], self.rng, init=self._hp.get(r, self._hp.get(levels[0])),
                        n_restarts=self.n_restarts if full else 0, max_iter=100 if full else 30)
            self._n_at_fit = n
        lowest = self._hp[levels[0]]
        return {r: (trials, GP(x, y, self._hp.get(r, lowest)))
                for r, (trials, x, y) in data.items()}

    def _update_weights(self, models: dict[int, tuple[list[int], GP]]) -> None:
        """theta from the ranking losses, recomputed when the levels used or the number of
        values at the highest of them changed (Syne Tune's rule)."""
        levels = sorted(models)
        top = max((i for i, r in enumerate(levels) if len(self._y[r]) >= self.min_points),
                  default=0)
        if top == 0:
            self.weights = {levels[0]: 1.0}
            return
        signature = (top + 1, len(self._y[levels[top]]))
        if signature == self._signature:
            return
        self._signature = signature
        gp_top = models[levels[top]][1]
        x_top, y_top = gp_top.x, gp_top.y
        losses = [discordant_fraction(joint_samples(models[r][1], x_top, self.n_samples,
                                                    self.rng), y_top)
                  for r in levels[:top]]
        losses.append(cross_validated_losses(x_top, y_top, gp_top.hp, self.n_samples, self.rng))
        theta = rung_weights(np.asarray(losses))
        kept = {r: float(w) for r, w in zip(levels[: top + 1], theta, strict=True) if w > 0.01}
        total = sum(kept.values())
        self.weights = {r: w / total for r, w in kept.items()}

    def propose(self) -> dict[str, Any] | None:
        """The maximizer of EI under the ensemble, pending trials fantasized at each
        level's posterior mean."""
        models = self._models()
        self._update_weights(models)
        gps = {r: models[r][1] for r in self.weights}
        observed = sorted({t for r in self.weights for t in models[r][0]})
        if self._pending:
            x_p = np.asarray([self.x_of[t] for t in sorted(self._pending)])
            gps = {r: gp.extend(x_p, gp.predict(x_p)[0]) for r, gp in gps.items()}
            observed += sorted(self._pending)
        ensemble = Ensemble(gps, self.weights)
        best = float(ensemble.predict(np.asarray([self.x_of[t] for t in observed]))[0].min())
        score = Acquisition(ensemble, best, None)
        if self.finite is not None:
            row = maximize_on_table(score, self.finite, self.rng, self.n_candidates,
                                    self.n_local)
            return None if row is None else self.finite.config(row)
        config = decode(self.space, maximize(score, self._coords, self.rng,
                                             self.n_candidates, self.n_local))
        return config if self.pool.is_new(config) else self.pool.random(self.rng)

    def bracket_weights(self, n_brackets: int) -> np.ndarray | None:
        """theta_k / r_k over the first `n_brackets` levels up to the last one weighted,
        normalized (bracket k starts at level k); None before the ranking losses first
        set the weights."""
        if self.levels is None or self._signature is None:
            return None
        return bracket_distribution(self.levels, self.weights, n_brackets)


class Ensemble:
    """The predictive distribution of Hyper-Tune: level r's GP drawn with probability
    theta_r; mean sum theta_r mu_r, variance sum theta_r^2 var_r (as Syne Tune)."""

    def __init__(self, gps: dict[int, GP], weights: dict[int, float]) -> None:
        self.gps, self.weights = gps, weights

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, var = np.zeros(len(x)), np.zeros(len(x))
        for r, w in self.weights.items():
            m, v = self.gps[r].predict(x)
            mean += w * m
            var += w * w * v
        return mean, var


class HyperTuneHyperband(Hyperband):
    """Hyperband whose brackets are drawn from Hyper-Tune's distribution (its searcher's
    `bracket_weights`): the head over the brackets whose starting level has a weight,
    the tail as Hyperband's default, until the model has weights.

    Example:
        >>> HyperTuneHyperband(searcher=HyperTuneSearcher(space, mode="min", rng=rng),
        ...                    metric="loss", mode="min", fidelities=list(range(1, 82)), rng=rng)
    """

    name = "hypertune_hyperband"

    def __init__(self, **hyperband: Any) -> None:
        searcher = hyperband.get("searcher")
        if not isinstance(getattr(searcher, "inner", searcher), HyperTuneSearcher):
            raise ValueError(f"{self.name}: searcher must be hypertune (its rung weights "
                             "set the bracket distribution)")
        super().__init__(**hyperband)

    def _choose_bracket(self) -> int:
        n = len(self.rung_systems)
        if n == 1:
            return 0
        head = getattr(self.searcher, "inner", self.searcher).bracket_weights(n)
        p = self.bracket_probs
        if head is not None:
            p = p.copy()
            p[: len(head)] = head * p[: len(head)].sum()
            p /= p.sum()
        return int(self._bracket_rng.choice(n, p=p))


def joint_samples(gp: GP, x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` joint samples (columns) of the latent function of `gp` at the rows of `x`."""
    k = matern52(gp.x, x, gp.hp)
    mean = k.T @ gp.alpha
    v = gp.linv @ k
    cov = matern52(x, x, gp.hp) - v.T @ v
    jitter = 1e-8 * gp.hp.variance
    for _ in range(6):
        try:
            chol = cholesky(cov + jitter * np.eye(len(x)), lower=True, check_finite=False)
            break
        except np.linalg.LinAlgError:
            jitter *= 100.0
    else:  # no factor: the marginals alone
        chol = np.diag(np.sqrt(np.maximum(np.diag(cov), 0.0)))
    return mean[:, None] + chol @ rng.standard_normal((len(x), n))


def discordant_fraction(samples: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per column of `samples` (m x S, values at m points), the fraction of the m(m-1)/2
    pairs of points it orders otherwise than `y` does (ties in y order no pair)."""
    m = len(y)
    i, j = np.triu_indices(m, k=1)
    truth = y[i] < y[j]
    guess = samples[i] < samples[j]
    return (guess != truth[:, None]).sum(axis=0) * 2.0 / (m * (m - 1))


def cross_validated_losses(x: np.ndarray, y: np.ndarray, hp: Hyperparameters, n: int,
                           rng: np.random.Generator) -> np.ndarray:
    """The ranking loss of the level's own GP on its data by k-fold cross-validation (k =
    min(len/2, 5) contiguous folds, each of at least 2 points), averaged over folds."""
    folds = np.array_split(np.arange(len(y)), min(len(y) // 2, 5))
    losses = np.zeros(n)
    for test in folds:
        train = np.setdiff1d(np.arange(len(y)), test)
        gp = GP(x[train], y[train], hp)
        losses += discordant_fraction(joint_samples(gp, x[test], n, rng), y[test])
    return losses / len(folds)


def rung_weights(losses: np.ndarray) -> np.ndarray:
    """theta: for each row (level) of `losses` (levels x samples), the share of samples
    in which its loss is the least (ties count for each tied level), normalized."""
    wins = (losses == losses.min(axis=0, keepdims=True)).sum(axis=1).astype(float)
    return wins / wins.sum()


def bracket_distribution(levels: Sequence[int], weights: dict[int, float],
                         n_brackets: int) -> np.ndarray:
    """Bracket k (starting at levels[k]) with probability proportional to theta_k / r_k,
    over the first min(n_brackets, levels weighted) brackets; the lowest bracket if all
    of them weigh nothing."""
    head = min(n_brackets, max(levels.index(r) for r in weights) + 1)
    w = np.array([weights.get(r, 0.0) / r for r in levels[:head]])
    if w.sum() <= 0:
        w[0] = 1.0
    return w / w.sum()
