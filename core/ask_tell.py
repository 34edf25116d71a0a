"""Ask/tell: you run the trials, a scheduler says which ones and how far.

For training that cannot be handed to a Tuner (a lab experiment, a cluster scheduler of
your own): `ask` for a trial, train it your way, `tell` its results. The scheduler
protocol is the Tuner's (core.protocol), so a multi-fidelity scheduler stops, pauses and
resumes trials here as it does in a run. With `run_dir` the session is recorded as a run
directory (results.csv, metadata.json) that load_run and the analysis read as any run.
docs/python_api.md shows it at work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from simtune.core.incumbent import best_of
from simtune.core.problem import Problem
from simtune.core.protocol import begin, decide, report_problem
from simtune.core.results import ResultsWriter, run_metadata
from simtune.core.run_results import RULES, Best
from simtune.core.rundir import open_run, read_state
from simtune.core.schedulers.base import Scheduler
from simtune.core.stopping import Ended, EndReason
from simtune.core.trial import Decision, Report, Status, Trial

CLOSED = Ended(EndReason.NOTHING_LEFT, "nothing left to run: the ask/tell session was closed")


class AskTellScheduler:
    """Any simtune scheduler, driven by your own loop: `ask()` for a trial (`.trial_id`,
    `.config`; `.fidelity` is how far a resumed trial got), `tell(trial, metrics)` its
    final result, or `tell(trial, metrics, fidelity=k)` a result part-way, which returns
    the scheduler's decision ("continue", "stop" or "pause": a paused trial may come back
    from a later `ask()`, to be continued from where it stopped; PBT's new trials name in
    `.checkpoint_of` the trial whose checkpoint they start from). `fail(trial)` tells a
    failure. `best_trial()` is the incumbent (core.incumbent's one definition).

    `problem` (a core.problem.Problem) gives the metrics' modes, the fidelity name and
    the maximum fidelity (a report there is the trial's last); without it, the maximum is
    the scheduler's maximum resource, if it has one. `run_dir` (needs `problem`) records
    the session in a new run directory, closed by `close()` or the end of a `with` block;
    `clock` is the time the rows record (default: seconds since the session started),
    `seed` and `name` (the scheduler's registered name, default read from the scheduler)
    go into its metadata.json.

    Example:
        >>> at = AskTellScheduler(create_scheduler("bo", space=space, metric="loss", seed=0))
        >>> trial = at.ask()
        >>> at.tell(trial, {"loss": train(trial.config)})
        <Decision.CONTINUE: 'continue'>
    """

    def __init__(
        self,
        scheduler: Scheduler,
        *,
        problem: Problem | None = None,
        run_dir: str | Path | None = None,
        clock: Callable[[], float] | None = None,
        seed: int | None = None,
        name: str | None = None,
    ) -> None:
        if problem is not None and problem.metric != scheduler.metric:
            raise ValueError(f"AskTellScheduler: the problem's metric {problem.metric!r} is not "
                             f"the scheduler's {scheduler.metric!r}")
        self.scheduler, self.problem = scheduler, problem
        self.max_fidelity: int | None = (problem.max_fidelity if problem is not None
                                         else scheduler.derived().get("max_resource"))
        self.trials: dict[int, Trial] = {}
        self._reports: list[tuple[int, int, dict[str, Any]]] = []  # (trial, fidelity, metrics)
        self._n_failed = 0
        start = time.monotonic()
        self._clock = clock or (lambda: time.monotonic() - start)
        self._writer: ResultsWriter | None = None
        if run_dir is not None:
            self._writer = _open(run_dir, scheduler, problem, seed,
                                 name or registered_name(scheduler))

    def ask(self) -> Trial | None:
        """The trial to run next: a new configuration, or a paused trial to continue
        (its `.fidelity` says how far it got); None once the scheduler has nothing left."""
        trial_id = len(self.trials)
        suggestion = self.scheduler.suggest(trial_id)
        if suggestion is None:
            return None
        trial = begin(self.scheduler, self.trials, trial_id, suggestion, self._clock())
        self.scheduler.on_start(trial)
        return trial

    def tell(self, trial: Trial | int, metrics: Mapping[str, Any],
             fidelity: int | None = None) -> Decision:
        """Record `metrics` of the running `trial` (or its id) and return the scheduler's
        decision; the trial's status follows it. Without `fidelity` this is the trial's
        final result (at the maximum fidelity, if known); a report at the maximum
        fidelity is the last too. A report the scheduler cannot use (the metric missing
        or not finite, a fidelity not above the last one): ValueError, nothing recorded."""
        trial = self._running(trial)
        if fidelity is not None and (isinstance(fidelity, bool) or not isinstance(fidelity, int)):
            raise ValueError(f"trial {trial.trial_id}: fidelity must be an integer, got "
                             f"{fidelity!r}")
        top = self.max_fidelity
        last = fidelity is None or (top is not None and fidelity >= top)
        if fidelity is None:
            fidelity = top or trial.fidelity or 1
        report = Report(trial.trial_id, self._clock(), fidelity, dict(metrics), last)
        why = report_problem(self.scheduler.metric, trial, report)
        if why is not None:
            raise ValueError(f"trial {trial.trial_id}: {why}")
        decision = decide(self.scheduler, trial, report)
        self._reports.append((trial.trial_id, fidelity, report.metrics))
        self._write(trial, report.time, fidelity, report.metrics, decision.value)
        return decision

    def fail(self, trial: Trial | int) -> None:
        """The running `trial` failed: the scheduler is told (it will not report again)."""
        trial = self._running(trial)
        trial.status = Status.FAILED
        self._n_failed += 1
        self.scheduler.on_error(trial)
        self._write(trial, self._clock(), trial.fidelity, {}, "")

    def best_trial(self, metric: str | None = None, mode: str | None = None) -> Best | None:
        """The incumbent by `metric` (default the scheduler's): among the reports at the
        highest fidelity any trial reached, the best value (`mode`: the problem's for an
        objective of it); None before a report has it."""
        metric = metric or self.scheduler.metric
        mode = mode or self._mode(metric)
        key = best_of(((i, f, m.get(metric)) for i, (_, f, m) in enumerate(self._reports)), mode)
        if key is None:
            return None
        trial_id, fidelity, metrics = self._reports[key]
        return Best(trial_id=trial_id, value=float(metrics[metric]), fidelity=fidelity,
                    config=dict(self.trials[trial_id].config), rule=RULES["incumbent"])

    def close(self, ended: Ended = CLOSED) -> None:
        """End the session: trials still running are recorded as stopped, and with a
        `run_dir` metadata.json says how it `ended` (complete once a report was told)."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        now = self._clock()
        for trial in self.trials.values():
            if trial.status == Status.RUNNING and not ended.reason.cut_short:
                trial.status = Status.STOPPED
                writer.write(trial.trial_id, now, None, {}, "", trial.status.value, trial.config)
        best = self.best_trial()
        writer.close(
            ended=ended, complete=ended.reason.finished and bool(self._reports),
            n_trials=len(self.trials), n_failed=self._n_failed, n_reports=len(self._reports),
            end_time=now, best=None if best is None else {
                "trial_id": best.trial_id, "config": best.config, "value": best.value,
                "fidelity": best.fidelity})

    def __enter__(self) -> AskTellScheduler:
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, tb: Any) -> None:
        if kind is None:
            self.close()
        elif issubclass(kind, (KeyboardInterrupt, SystemExit)):
            self.close(Ended(EndReason.INTERRUPTED, f"interrupted ({kind.__name__})"))
        else:
            self.close(Ended(EndReason.CRASHED, " ".join(f"crashed: {kind.__name__}: {error}"
                                                         .split())[:500]))

    def _running(self, trial: Trial | int) -> Trial:
        trial_id = trial if isinstance(trial, int) else trial.trial_id
        known = self.trials.get(trial_id)
        if known is None or known.status != Status.RUNNING:
            what = "was never asked for" if known is None else f"is {known.status.value}"
            raise ValueError(f"trial {trial_id} {what}: tell only a trial that ask() returned "
                             "and that is still running")
        return known

    def _mode(self, metric: str) -> str:
        if metric == self.scheduler.metric:
            return self.scheduler.mode
        if self.problem is not None and metric in self.problem.objectives:
            return self.problem.objectives[metric]
        raise ValueError(f"best_trial: give mode='min' or 'max' for metric {metric!r}")

    def _write(self, trial: Trial, at: float, fidelity: int | None, metrics: dict[str, Any],
               decision: str) -> None:
        if self._writer is not None:
            self._writer.write(trial.trial_id, at, fidelity, metrics, decision,
                               trial.status.value, trial.config)


def registered_name(scheduler: Scheduler) -> str:
    """The name a scheduler is registered by: FIFO scheduling is named after its searcher
    (scheduler=bo is FIFO around the bo searcher), the others by their own name."""
    details = scheduler.metadata()
    if details.get("name") == "fifo" and isinstance(details.get("searcher"), dict):
        return str(details["searcher"]["name"])
    return str(details.get("name"))


class _Yourself:
    """The backend and the budget of an ask/tell session, as metadata.json records them:
    yours, so none."""

    def metadata(self) -> dict[str, Any]:
        return {"name": "ask_tell"}

    def to_dict(self) -> dict[str, Any]:
        return {}


def _open(run_dir: str | Path, scheduler: Scheduler, problem: Problem | None,
          seed: int | None, name: str) -> ResultsWriter:
    """The writer of a new run directory for an ask/tell session (one line if `run_dir`
    holds a run already: nothing is written)."""
    if problem is None:
        raise ValueError("AskTellScheduler: run_dir needs problem=Problem(...): its space, "
                         "objectives and fidelity name are the columns of results.csv")
    if read_state(run_dir).kind != "new":
        raise ValueError(f"{run_dir} holds a run already; an ask/tell session records a new "
                         "run: name another directory")
    metadata = run_metadata(
        scheduler=scheduler, scheduler_name=name, scheduler_args={}, benchmark=problem,
        metric=scheduler.metric, mode=scheduler.mode, seed=seed, n_workers=None,
        backend=_Yourself(), stop=_Yourself(),
    )
    return open_run(run_dir, fidelity=problem.fidelity_name, metrics=list(problem.objectives),
                    hyperparameters=list(problem.space), metadata=metadata).writer
