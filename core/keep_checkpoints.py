"""Checkpoint cleanup: `keep_checkpoints=best:K` keeps the checkpoints of the K best trials.

A trial that ended (completed, stopped or failed) and is not among the K best has its
checkpoint deleted as soon as that is so: when it ends, or later when K others overtake
it. The K best are ranked as the incumbent is (core.incumbent: highest fidelity reached,
then the best value of the scheduler's metric); running and paused trials count in the
ranking, and a paused trial's checkpoint is never deleted (it may resume). At the end of
the run one line logs the disk use. Default (keep_checkpoints=null or "all"): keep all.
Backends that keep no checkpoint on this machine (simulated; sagemaker's are in S3)
delete nothing. Refused with scheduler=pbt, whose new trials copy the checkpoints of
others. Python: `Tuner(..., callbacks=[KeepCheckpoints(best=3)])`.

Example:
    >>> KeepCheckpoints(best=parse_keep("best:3"))
"""

from __future__ import annotations

import heapq
import logging
from typing import TYPE_CHECKING, Any

from simtune.core.callbacks import Callback
from simtune.core.incumbent import counts, rank
from simtune.core.trial import Decision, Report, Status, Trial

if TYPE_CHECKING:
    from simtune.core.tuner import Tuner, TuningSummary

log = logging.getLogger("simtune.checkpoints")
_ENDED = (Status.COMPLETED, Status.STOPPED, Status.FAILED)


COPYING = ("pbt",)  # schedulers whose new trials start from the checkpoint of another


def parse_keep(value: Any, scheduler: str | None = None) -> int | None:
    """K of keep_checkpoints "best:K" (None for null or "all": keep all); ValueError with
    one line otherwise, or for a `scheduler` whose trials copy others' checkpoints."""
    if value is None or value == "all":
        return None
    if scheduler in COPYING:
        raise ValueError(
            f"keep_checkpoints={value} cannot run with scheduler={scheduler}: its new trials "
            "start from the checkpoints of others, which the cleanup could have deleted; "
            "drop keep_checkpoints (keep all)"
        )
    text = str(value)
    head, _, k = text.partition(":")
    if head == "best" and k.isdigit() and int(k) >= 1:
        return int(k)
    raise ValueError(
        f"keep_checkpoints must be all, null or best:K with K a positive integer (e.g. "
        f"keep_checkpoints=best:3), got {value!r}"
    )


class KeepCheckpoints(Callback):
    """Deletes the checkpoints of the trials that ended outside the `best` best."""

    def __init__(self, best: int) -> None:
        if isinstance(best, bool) or not isinstance(best, int) or best < 1:
            raise ValueError(f"KeepCheckpoints: best must be a positive integer, got {best!r}")
        self.best = best
        self._tuner: Tuner | None = None
        self._rank: dict[int, tuple] = {}  # trial id -> its best report's rank
        self._waiting: set[int] = set()  # ended trials whose checkpoint is still kept
        self.deleted: set[int] = set()
        self.freed = 0

    def on_run_start(self, tuner: Tuner) -> None:
        self._tuner = tuner

    def on_report(self, trial: Trial, report: Report, decision: Decision) -> None:
        tuner = self._tuner
        value = report.metrics.get(tuner.scheduler.metric) if tuner else None
        if counts(value):
            key = rank(report.fidelity, value, tuner.scheduler.mode)
            if key > self._rank.get(trial.trial_id, (-float("inf"),)):
                self._rank[trial.trial_id] = key

    def on_trial_end(self, trial: Trial) -> None:
        if trial.status in _ENDED and trial.trial_id not in self.deleted:
            self._waiting.add(trial.trial_id)
            self._sweep()

    def kept(self) -> set[int]:
        """The ids of the `best` best trials so far."""
        ranked = heapq.nlargest(self.best, self._rank.items(), key=lambda kv: (kv[1], -kv[0]))
        return {tid for tid, _ in ranked}

    def _sweep(self) -> None:
        if self._tuner is None:
            return
        for tid in sorted(self._waiting - self.kept()):
            self.freed += self._tuner.backend.delete_checkpoint(tid)
            self.deleted.add(tid)
            self._waiting.discard(tid)

    def on_run_end(self, summary: TuningSummary) -> None:
        tuner = self._tuner
        if tuner is None:
            return
        left = [t for t in tuner.trials if t not in self.deleted]
        size = sum(tuner.backend.checkpoint_bytes(t) for t in left)
        log.info("checkpoints (keep_checkpoints=best:%d): %d trials keep theirs (%s), %d "
                 "deleted (%s freed)", self.best, len(left), _size(size), len(self.deleted),
                 _size(self.freed))


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"
