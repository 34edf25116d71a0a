"""Discrete-event simulation of trials on a tabulated blackbox, behind a virtual clock."""

from __future__ import annotations

import heapq
import itertools
from typing import Any, Protocol

import numpy as np

from simtune.core.backends.base import Backend
from simtune.core.trial import Event, Report, Trial


class _Curve(Protocol):
    fidelities: list[int]
    elapsed: list[float]
    metrics: dict[str, list[float]]


class CurveSource(Protocol):
    """What the simulator needs of a blackbox (blackboxes.Blackbox satisfies it)."""

    def seeds_of(self, config: dict[str, Any]) -> list[int]: ...

    def curve(self, config: dict[str, Any], seed: int) -> _Curve: ...


class _Run:
    """A trial the simulator knows: its curve, its seed and how far it got."""

    __slots__ = ("curve", "seed", "done", "t0", "generation")

    def __init__(self, curve: _Curve, seed: int) -> None:
        self.curve = curve
        self.seed = seed
        self.done = 0  # number of fidelities already reported
        self.t0 = 0.0  # virtual time at which fidelity 0 would have started
        self.generation = 0  # bumped on stop/pause: older heap entries are stale


class SimulatedBackend(Backend):
    """Runs trials on a blackbox in virtual time.

    A heap of (time, seq, trial_id, generation) events, ties resolved first in first out
    by `seq`; the clock moves only by popping events. A trial's report at fidelity f
    arrives at start + elapsed(f) minus the training already done before a resume.
    Each trial draws its seed among the seeds its configuration has in the table.

    Example:
        >>> backend = SimulatedBackend(blackbox, rng=np.random.default_rng(0))
    """

    name = "simulated"
    deterministic = True

    def __init__(
        self, blackbox: CurveSource, *, rng: np.random.Generator, charge_decision_time: bool = False
    ) -> None:
        if not isinstance(charge_decision_time, bool):
            raise ValueError(
                f"backend.charge_decision_time must be true or false, got {charge_decision_time!r}"
            )
        self.blackbox = blackbox
        self.rng = rng
        self.charge_decision_time = charge_decision_time
        self._now = 0.0
        self._heap: list[tuple[float, int, int, int]] = []
        self._seq = itertools.count()
        self._runs: dict[int, _Run] = {}
        self._running: set[int] = set()
        self._trained: dict[int, int] = {}  # fidelities trained by finished trials (checkpoints)

    def time(self) -> float:
        return self._now

    @property
    def n_running(self) -> int:
        return len(self._running)

    def start(self, trial: Trial) -> None:
        config = trial.config
        seeds = self.blackbox.seeds_of(config)
        if not seeds:
            raise ValueError(f"trial {trial.trial_id}: the blackbox has no seed for {config}")
        seed = seeds[int(self.rng.integers(len(seeds)))] if len(seeds) > 1 else seeds[0]
        run = _Run(self.blackbox.curve(config, seed), seed)
        if trial.checkpoint_of is not None:
            # start from another trial's checkpoint: skip the fidelities it trained already
            source = self._runs.get(trial.checkpoint_of)
            done = source.done if source else self._trained.get(trial.checkpoint_of)
            if done is None:
                raise ValueError(
                    f"trial {trial.trial_id}: no checkpoint of trial {trial.checkpoint_of}"
                )
            run.done = min(done, len(run.curve.fidelities) - 1)
        self._runs[trial.trial_id] = run
        self._launch(trial.trial_id, run)

    def resume(self, trial: Trial) -> None:
        run = self._runs.get(trial.trial_id)
        if run is None or trial.trial_id in self._running:
            raise ValueError(f"trial {trial.trial_id} is not paused, cannot resume it")
        if run.done >= len(run.curve.fidelities):
            raise ValueError(f"trial {trial.trial_id} has no fidelity left to resume")
        self._launch(trial.trial_id, run)

    def _launch(self, trial_id: int, run: _Run) -> None:
        elapsed = run.curve.elapsed
        run.t0 = self._now - (elapsed[run.done - 1] if run.done else 0.0)
        self._running.add(trial_id)
        self._push(trial_id, run)

    def _push(self, trial_id: int, run: _Run) -> None:
        t = run.t0 + run.curve.elapsed[run.done]
        heapq.heappush(self._heap, (t, next(self._seq), trial_id, run.generation))

    def _halt(self, trial_id: int) -> _Run:
        if trial_id not in self._running:
            raise ValueError(f"trial {trial_id} is not running")
        self._running.discard(trial_id)
        run = self._runs[trial_id]
        run.generation += 1  # its pending event becomes stale
        return run

    def pause(self, trial_id: int) -> None:
        self._halt(trial_id)

    def stop(self, trial_id: int) -> None:
        self._retire(trial_id, self._halt(trial_id))

    def _retire(self, trial_id: int, run: _Run) -> None:
        """Keep only how far a finished trial trained; its curve is no longer needed."""
        self._trained[trial_id] = run.done
        del self._runs[trial_id]

    def next_events(self, until: float | None = None) -> list[Event]:
        heap = self._heap
        while heap:
            t, _, trial_id, generation = heap[0]
            run = self._runs.get(trial_id)
            if run is None or generation != run.generation:
                heapq.heappop(heap)  # stale: the trial was stopped or paused
                continue
            if until is not None and t > until:
                self._now = max(self._now, until)
                return []
            heapq.heappop(heap)
            self._now = max(self._now, t)
            curve, i = run.curve, run.done
            run.done = i + 1
            last = run.done == len(curve.fidelities)
            metrics = {k: v[i] for k, v in curve.metrics.items()}
            if last:
                self._running.discard(trial_id)
                self._retire(trial_id, run)
            else:
                self._push(trial_id, run)
            return [Report(trial_id, self._now, curve.fidelities[i], metrics, last)]
        return []  # nothing is running

    def charge(self, seconds: float) -> None:
        if self.charge_decision_time:
            self._now += seconds

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "charge_decision_time": self.charge_decision_time}
